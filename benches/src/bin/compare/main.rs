//! `compare`: filo-mio, tokio-quiche and raw quiche as real servers on
//! loopback, loaded by the same clients in interleaved rounds; prints a
//! ratio table and writes it as markdown and JSON. `make compare` builds
//! the pieces and runs it; `docs/performance.md` explains the figures.

// A harness reads the clock and prints.
#![allow(clippy::disallowed_methods)]

mod clients;
mod report;
mod servers;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clients::{FiloClient, TquicLoad};
use report::{Figure, Table};
use servers::{Kind, Server, Setup};

const USAGE: &str = "\
Usage: compare --tquic BIN --tokio-quiche BIN --filo BIN --raw BIN [options]

Runs each server in its own process (pinned to --server-core), loads it
with tquic_client and filo-mio clients (pinned to --client-core), and
prints per-server figures and filo-mio's ratio to each other server.

Options:
  --rounds N         interleaved rounds (default 3)
  --secs S           seconds per tquic_client run (default 5)
  --bulk-mib N       bulk response size in MiB (default 256)
  --idle-conns N     idle connections for the memory figure (default 1000)
  --server-core C    core for servers (default 1)
  --client-core C    core for clients and this harness (default 0)
  --out DIR          where compare.md and compare.json go (default .)
  --only LIST        comma-separated workloads: small,small100,handshake,bulk,idle
";

/// Command-line options.
struct Options {
    setup: Setup,
    tquic: PathBuf,
    rounds: usize,
    secs: u32,
    bulk: u64,
    idle: usize,
    client_core: usize,
    out: PathBuf,
    only: Vec<String>,
}

fn parse() -> Result<Option<Options>, String> {
    let mut o = Options {
        setup: Setup {
            filo: PathBuf::new(),
            tokio_quiche: PathBuf::new(),
            raw: PathBuf::new(),
            pki_dir: PathBuf::new(),
            core: 1,
        },
        tquic: PathBuf::new(),
        rounds: 3,
        secs: 5,
        bulk: 256 << 20,
        idle: 1000,
        client_core: 0,
        out: PathBuf::from("."),
        only: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut v = || it.next().ok_or(format!("{a} needs a value"));
        let num = |s: String| s.parse::<u64>().map_err(|e| format!("{a} {s}: {e}"));
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--tquic" => o.tquic = v()?.into(),
            "--tokio-quiche" => o.setup.tokio_quiche = v()?.into(),
            "--filo" => o.setup.filo = v()?.into(),
            "--raw" => o.setup.raw = v()?.into(),
            "--rounds" => o.rounds = num(v()?)?.max(1) as usize,
            "--secs" => o.secs = num(v()?)?.max(1) as u32,
            "--bulk-mib" => o.bulk = num(v()?)? << 20,
            "--idle-conns" => o.idle = num(v()?)? as usize,
            "--server-core" => o.setup.core = num(v()?)? as usize,
            "--client-core" => o.client_core = num(v()?)? as usize,
            "--out" => o.out = v()?.into(),
            "--only" => o.only = v()?.split(',').map(str::to_owned).collect(),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    for (name, p) in [
        ("--tquic", &o.tquic),
        ("--tokio-quiche", &o.setup.tokio_quiche),
        ("--filo", &o.setup.filo),
        ("--raw", &o.setup.raw),
    ] {
        if !p.is_file() {
            return Err(format!("{name}: {} is not a file", p.display()));
        }
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("compare: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some(code) = pin_self(o.client_core) {
        return code;
    }
    match run(o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Re-runs this harness under `taskset -c core` unless it already is;
/// `Some(exit code)` when the pinned child ran.
fn pin_self(core: usize) -> Option<ExitCode> {
    const PINNED: &str = "FILO_COMPARE_PINNED";
    if std::env::var_os(PINNED).is_some() {
        return None;
    }
    let me = std::env::current_exe().ok()?;
    let status = std::process::Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(me)
        .args(std::env::args_os().skip(1))
        .env(PINNED, "1")
        .status();
    Some(match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("compare: taskset: {e} (util-linux's taskset is needed)");
            ExitCode::FAILURE
        }
    })
}

fn run(mut o: Options) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("filo-compare-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // ECDSA P-256 (rcgen's default key), the same identity for every server.
    filo_sim::TestPki::new(&["localhost"])
        .write_files(&dir)
        .map_err(|e| format!("writing the identity: {e}"))?;
    o.setup.pki_dir = dir.clone();
    let want = |w: &str| o.only.is_empty() || o.only.iter().any(|x| x == w);

    let mut table = Table::new(Kind::ALL.map(Kind::name));
    let mut servers = Vec::new();
    for k in Kind::ALL {
        let s = Server::start(k, &o.setup)?;
        wait_ready(&s)?;
        servers.push(s);
    }
    let small = TquicLoad {
        conns: 4,
        streams: 16,
        per_conn: 0,
        body: 64,
    };
    let small100 = TquicLoad {
        conns: 1,
        streams: 100,
        per_conn: 0,
        body: 64,
    };
    let handshake = TquicLoad {
        conns: 16,
        streams: 1,
        per_conn: 1,
        body: 64,
    };
    println!(
        "servers on core {}, clients on core {}; {} rounds; tquic_client runs of {} s (CUBIC)",
        o.setup.core, o.client_core, o.rounds, o.secs
    );
    for round in 0..o.rounds {
        // Rotate who goes first, so no server always follows the same one.
        let order: Vec<usize> = (0..servers.len())
            .map(|i| (i + round) % servers.len())
            .collect();
        eprintln!("round {}/{}", round + 1, o.rounds);
        for &i in &order {
            let s = &mut servers[i];
            let col = i;
            if want("small") {
                tquic_figures(&mut table, s, col, &o, "small 4x16", small)?;
            }
            if want("small100") {
                tquic_figures(&mut table, s, col, &o, "small 1x100", small100)?;
            }
            if want("handshake") {
                tquic_figures(&mut table, s, col, &o, "handshakes", handshake)?;
            }
            if want("bulk") {
                bulk_figures(&mut table, s, col, o.bulk)?;
            }
            s.check_alive()?;
        }
        if want("idle") {
            for &i in &order {
                idle_figure(&mut table, Kind::ALL[i], i, &o)?;
            }
        }
    }
    for (i, s) in servers.iter().enumerate() {
        let peak = s.sample()?.peak_rss_kib as f64 / 1024.0;
        table.push(Figure::lower("peak RSS (all workloads)", "MiB"), i, peak);
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&dir);

    let md = table.markdown();
    println!("\n{md}");
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    for (name, text) in [("compare.md", md), ("compare.json", table.json())] {
        let p = o.out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    println!("written to {}/compare.{{md,json}}", o.out.display());
    Ok(())
}

/// Waits until `s` answers a request.
fn wait_ready(s: &Server) -> Result<(), String> {
    let ok = servers::wait_ready(Duration::from_secs(20), || {
        FiloClient::new()
            .and_then(|mut c| {
                let r = c.fetch_on_new_conns(s.addr, 1, 1, 1, Duration::from_millis(500));
                let _ = c.close_all();
                r
            })
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{} did not answer on {} within 20 s",
            s.kind.name(),
            s.addr
        ))
    }
}

fn tquic_figures(
    table: &mut Table,
    s: &Server,
    col: usize,
    o: &Options,
    name: &str,
    load: TquicLoad,
) -> Result<(), String> {
    let before = s.sample()?;
    let r = clients::tquic(&o.tquic, o.client_core, s.addr, load, o.secs)?;
    let after = s.sample()?;
    if r.success == 0 {
        return Err(format!("{name} on {}: no request succeeded", s.kind.name()));
    }
    let cpu = after.cpu_secs - before.cpu_secs;
    let (rate, unit) = if load.per_conn == 1 {
        ("conns/s", "µs/conn")
    } else {
        ("req/s", "µs/req")
    };
    table.push(Figure::higher(name, rate), col, r.req_per_sec);
    table.push(
        Figure::lower(&format!("{name}: server CPU"), unit),
        col,
        cpu * 1e6 / r.success as f64,
    );
    if r.conn_failures > 0 {
        eprintln!(
            "  {name} on {}: {} connection failures",
            s.kind.name(),
            r.conn_failures
        );
    }
    Ok(())
}

fn bulk_figures(table: &mut Table, s: &Server, col: usize, bytes: u64) -> Result<(), String> {
    let mut c = FiloClient::new()?;
    let before = s.sample()?;
    let t = std::time::Instant::now();
    c.fetch_on_new_conns(s.addr, 1, 1, bytes, Duration::from_secs(120))
        .map_err(|e| format!("bulk from {}: {e}", s.kind.name()))?;
    let secs = t.elapsed().as_secs_f64();
    let after = s.sample()?;
    c.close_all()?;
    let name = format!("bulk {} MiB", bytes >> 20);
    table.push(
        Figure::higher(&name, "Gbit/s"),
        col,
        bytes as f64 * 8.0 / secs / 1e9,
    );
    table.push(
        Figure::lower(&format!("{name}: server CPU"), "s/GB"),
        col,
        (after.cpu_secs - before.cpu_secs) / (bytes as f64 / 1e9),
    );
    Ok(())
}

/// A fresh server: RSS after one warm-up request, then with `o.idle`
/// established connections that each made one request and went idle.
fn idle_figure(table: &mut Table, kind: Kind, col: usize, o: &Options) -> Result<(), String> {
    let s = Server::start(kind, &o.setup)?;
    wait_ready(&s)?;
    std::thread::sleep(Duration::from_millis(200));
    let base = s.sample()?.rss_kib;
    let mut c = FiloClient::new()?;
    c.fetch_on_new_conns(s.addr, o.idle, 32, 64, Duration::from_secs(60))
        .map_err(|e| format!("idle conns to {}: {e}", kind.name()))?;
    std::thread::sleep(Duration::from_millis(300));
    let held = s.sample()?.rss_kib;
    c.close_all()?;
    table.push(
        Figure::lower(&format!("{} idle conns: RSS per conn", o.idle), "KiB"),
        col,
        held.saturating_sub(base) as f64 / o.idle.max(1) as f64,
    );
    Ok(())
}
