//! Many seeded runs over lossy links (0-20% loss with reordering,
//! duplication and corruption): every body must arrive intact.
//!
//! Replay one seed with `FILO_SEED=<n> cargo test -p filo-core --test lossy`;
//! `FILO_LOSSY_RUNS` changes the number of runs (default 200).

// Tests are callers of filo-core: they read the clock and pass it in.
#![allow(clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use filo_sim::{Body, LinkConfig, Pair, PairConfig, RequestSpec, pattern_sha256};

/// The link of run `seed`: loss 0-20% by seed, with reordering,
/// duplication and a little corruption.
fn link_for(seed: u64) -> LinkConfig {
    let loss = (seed % 21) as f64 / 100.0;
    LinkConfig {
        loss,
        duplicate: loss / 2.0,
        reorder: loss / 2.0 + 0.02,
        reorder_depth: 6,
        corrupt: loss / 10.0,
        ..LinkConfig::default()
    }
}

/// One run: a handshake, then GETs, an echo POST and a response with
/// trailers; returns an error naming what went wrong.
fn run(seed: u64) -> Result<Duration, String> {
    let start = Instant::now();
    let mut cfg = PairConfig {
        seed,
        link: link_for(seed),
        ..PairConfig::default()
    };
    cfg.client.handshake_timeout = Duration::from_secs(20);
    cfg.server.handshake_timeout = Duration::from_secs(20);
    let upload = Body::Pattern { seed, len: 12_000 };
    let requests = [
        RequestSpec::get("/bytes/30000").header("x-seed", &seed.to_string()),
        RequestSpec::post("/echo", upload.clone()),
        RequestSpec::get("/bytes/2000").header("x-trailers", "1"),
        RequestSpec::get("/status/204"),
    ];
    let mut p = Pair::with_apps(cfg, requests);
    if !p.run_requests(Duration::from_secs(
        std::env::var("FILO_RUN_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(40),
    )) {
        let now = Instant::now();
        let conn = p.conn;
        let cdl = p
            .client_ep()
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now));
        let cst = p.client_ep().conn(conn).map(|c| c.stats());
        let sh = p.server_app().connected.first().copied();
        let sdl = p
            .server_ep()
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now));
        let sst = sh.and_then(|h| p.server_ep().conn(h).map(|c| c.stats()));
        let sa = p.server_app();
        let srv: Vec<_> = sa
            .order
            .iter()
            .map(|k| {
                let r = &sa.requests[k];
                let d = format!("{r:?}");
                let tail = d
                    .rsplit("responded")
                    .next()
                    .unwrap_or("")
                    .chars()
                    .rev()
                    .take(160)
                    .collect::<String>()
                    .chars()
                    .rev()
                    .collect::<String>();
                format!(
                    "{} responded={} ..{}",
                    r.headers.path().unwrap_or(""),
                    r.responded,
                    tail
                )
            })
            .collect();
        eprintln!(
            "STALL seed {seed}: client timeout in {cdl:?} stats {cst:?}\n server timeout in {sdl:?} stats {sst:?}\n server reqs {srv:?}\n sim {:?}",
            p.sim.stats
        );
        let app = p.client_app();
        return Err(format!(
            "timed out: {} of 4 done, connected={}, closed={:?}, errors={:?}, exchanges={:?}",
            app.done_count(),
            app.connected.len(),
            app.closed,
            app.errors,
            app.order
                .iter()
                .map(|k| (k.1, &app.exchanges[k]))
                .collect::<Vec<_>>()
        ));
    }
    let app = p.client_app();
    if !app.errors.is_empty() {
        return Err(format!("client errors: {:?}", app.errors));
    }
    let ex: Vec<_> = app.order.iter().map(|k| &app.exchanges[k]).collect();
    let check = |i: usize, status: u16, sha: [u8; 32], len: u64| -> Result<(), String> {
        let e = ex.get(i).ok_or(format!("request {i} missing"))?;
        if !e.finished
            || e.status() != Some(status)
            || e.body.len != len
            || e.body.sha256 != Some(sha)
        {
            return Err(format!("request {i}: {e:?}"));
        }
        Ok(())
    };
    check(0, 200, pattern_sha256(seed, 30_000), 30_000)?;
    check(1, 200, upload.sha256(), 12_000)?;
    check(2, 200, pattern_sha256(0, 2000), 2000)?;
    check(3, 204, pattern_sha256(0, 0), 0)?;
    let trailer = ex[2]
        .trailers
        .as_ref()
        .and_then(|t| t.get_str("x-body-sha256"));
    if trailer != Some(filo_sim::hex(&pattern_sha256(0, 2000)).as_str()) {
        return Err(format!("trailers: {:?}", ex[2].trailers));
    }
    let server = p.server_app();
    if !server.errors.is_empty() {
        return Err(format!("server errors: {:?}", server.errors));
    }
    Ok(start.elapsed())
}

#[test]
fn seeded_lossy_runs_deliver_every_body() {
    if let Ok(seed) = std::env::var("FILO_SEED") {
        let seed: u64 = seed.parse().expect("FILO_SEED is a number");
        match run(seed) {
            Ok(d) => println!("seed {seed} ({:?}) ok in {d:?}", link_for(seed)),
            Err(e) => panic!("seed {seed} failed: {e}"),
        }
        return;
    }
    let runs: u64 = std::env::var("FILO_LOSSY_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let next = AtomicU64::new(0);
    let slowest = AtomicU64::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8)
        * 2;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= runs {
                        break;
                    }
                    match run(seed) {
                        Ok(d) => {
                            slowest.fetch_max(d.as_millis() as u64, Ordering::Relaxed);
                        }
                        Err(e) => {
                            eprintln!("seed {seed} failed (replay: FILO_SEED={seed}): {e}");
                            failures.lock().expect("lock").push(seed);
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("lock");
    println!(
        "{runs} seeded runs, {} failed, slowest {} ms",
        failures.len(),
        slowest.load(Ordering::Relaxed)
    );
    assert!(
        failures.is_empty(),
        "failing seeds (replay with FILO_SEED): {failures:?}"
    );
}
