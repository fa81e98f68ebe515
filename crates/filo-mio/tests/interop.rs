//! Interop over real UDP sockets on 127.0.0.1 between filo-mio and a plain
//! quiche HTTP/3 peer on mio (`support/raw_quiche.rs`, no filo-core):
//!
//! - filo-mio's client (a `Driver` with `filo_sim::ClientApp`) fetches 50
//!   bodies up to 1 MiB and a 404 from the raw quiche server, in one mio
//!   loop;
//! - a raw quiche client fetches the same from filo-mio's server
//!   (`filo_sim::ServerApp` on a `Driver`, on its own thread);
//! - one 8 MiB body each way;
//! - the raw server's routing: version negotiation, retransmitted Initials
//!   mapping to one connection, closed connections collected;
//! - the `raw_quiche_server` example binary (generated identity with
//!   `--ca-out`, `--cert`/`--key` files, usage and argument errors).
//!
//! Bodies are checked by length and SHA-256 of the seeded pattern, and both
//! sides' request counters are checked. Every test is bounded (~20 s).

// Tests are callers of filo-core: they read the clock and pass it in.
#![allow(clippy::disallowed_methods)]

#[path = "support/raw_quiche.rs"]
mod raw_quiche;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use filo_core::{ClientTls, Config, ConnectOptions, Endpoint, Limits};
use filo_mio::Driver;
use filo_sim::{ClientApp, NodeApp, RequestSpec, ServerApp, TestPki, pattern_sha256};
use mio::{Events, Poll, Token, Waker};

use raw_quiche::{RawServer, RawStats};

/// Wall-clock bound of each exchange.
const LIMIT: Duration = Duration::from_secs(20);
const MIB: u64 = 1 << 20;

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

/// 50 body sizes up to 1 MiB: packet, frame and chunk boundaries, then a
/// deterministic spread.
fn sizes() -> Vec<u64> {
    let mut v = vec![
        0,
        1,
        2,
        100,
        1_199,
        1_200,
        1_350,
        4_096,
        16_383,
        16_384,
        16_385,
        65_535,
        65_536,
        65_537,
        100_000,
        262_144,
        500_000,
        MIB - 1,
        MIB,
    ];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while v.len() < 50 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(x % (MIB + 1));
    }
    v
}

/// Seed of request `i`: 0 (no `x-seed` header, the default) for even `i`.
fn seed(i: usize) -> u64 {
    if i.is_multiple_of(2) {
        0
    } else {
        1000 + i as u64
    }
}

/// The outcome of one request: status, body length, body SHA-256.
type Outcome = (u16, u64, [u8; 32]);

/// Asserts `got` is 200 with `len` bytes of pattern `seed`.
fn assert_body(what: &str, got: Outcome, len: u64, seed: u64) {
    assert_eq!(got.0, 200, "{what}: status");
    assert_eq!(got.1, len, "{what}: body length");
    assert!(
        got.2 == pattern_sha256(seed, len),
        "{what}: body SHA-256 differs from pattern {seed}"
    );
}

/// What the filo-mio client saw, and the raw server's counters.
struct ClientRun {
    /// Outcome per request, in queue order.
    outcomes: Vec<Option<Outcome>>,
    app_errors: Vec<String>,
    /// The in-loop raw server's counters (default when it ran elsewhere).
    raw: RawStats,
    raw_live_after_close: usize,
    elapsed: Duration,
}

/// filo-mio's client fetches `specs` from a [`RawServer`], both on one mio
/// loop; then closes and waits for the raw server to collect the
/// connection.
fn filo_client_vs_raw_server(specs: Vec<RequestSpec>) -> ClientRun {
    let pki = TestPki::new(&["localhost"]);
    let poll = Poll::new().expect("poll");
    let server = RawServer::new(poll.registry(), loopback(), Token(0), pki.server_context())
        .expect("raw server");
    let addr = server.local_addr();
    filo_fetch(poll, Some(server), addr, pki.client_tls(), specs)
}

/// filo-mio's client (a `Driver` with `ClientApp`) fetches `specs` from
/// `addr` over one connection, on `poll`, which also drives `server` when
/// given (token 0); then closes the connection (H3_NO_ERROR) and, with a
/// server in the loop, waits until it collected the connection.
fn filo_fetch(
    mut poll: Poll,
    mut server: Option<RawServer>,
    addr: SocketAddr,
    tls: ClientTls,
    specs: Vec<RequestSpec>,
) -> ClientRun {
    let start = Instant::now();
    let deadline = start + LIMIT;
    let config = Config::client(tls, Limits::default()).expect("client config");
    let mut client = Driver::new(Endpoint::new(config));
    client
        .bind(poll.registry(), loopback(), Token(1))
        .expect("client bind");
    let conn = client
        .connect(Instant::now(), addr, "localhost", ConnectOptions::default())
        .expect("connect");
    let n = specs.len();
    let mut app = ClientApp::new(specs);
    let mut events = Events::with_capacity(256);
    let mut closing = false;
    while Instant::now() < deadline {
        if app.all_done() && !closing {
            if let Some(mut c) = client.endpoint().conn(conn) {
                c.close(0x100, b"done");
            }
            closing = true;
        }
        let now = Instant::now();
        client.flush(now);
        if let Some(s) = server.as_mut() {
            s.send_all();
        }
        if closing && server.as_ref().is_none_or(|s| s.connections() == 0) {
            break;
        }
        let timeout = [
            client.timeout(now),
            server.as_ref().and_then(RawServer::timeout),
            Some(deadline.saturating_duration_since(now)),
        ]
        .into_iter()
        .flatten()
        .min();
        poll.poll(&mut events, timeout).expect("poll");
        let now = Instant::now();
        for ev in events.iter() {
            if ev.token() == Token(0) {
                if let Some(s) = server.as_mut()
                    && ev.is_readable()
                {
                    s.handle_readable(now);
                }
            } else if client.owns(ev.token()) {
                client.handle_event(ev, now);
            }
        }
        if let Some(s) = server.as_mut() {
            s.on_timeout();
        }
        client.handle_timeout(now);
        while let Some(ev) = client.endpoint().poll_event() {
            app.on_event(client.endpoint(), ev);
        }
    }
    let mut outcomes = vec![None; n];
    for ex in app.exchanges.values() {
        if ex.finished {
            outcomes[ex.index] = Some((
                ex.status().unwrap_or(0),
                ex.body.len,
                ex.body.sha256.unwrap_or_default(),
            ));
        }
    }
    ClientRun {
        outcomes,
        app_errors: app.errors.clone(),
        raw: server.as_ref().map(RawServer::stats).unwrap_or_default(),
        raw_live_after_close: server.as_ref().map_or(0, RawServer::connections),
        elapsed: start.elapsed(),
    }
}

/// What filo-mio's server thread reports when stopped.
#[derive(Debug)]
struct ServerSummary {
    requests: usize,
    responded: usize,
    accepted: usize,
    errors: Vec<String>,
    failures: usize,
}

/// filo-mio's server (`ServerApp` on a `Driver` and `Driver::run`) on its
/// own thread; stopped through a mio `Waker`.
struct FiloServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    summary: mpsc::Receiver<ServerSummary>,
    thread: Option<JoinHandle<()>>,
}

impl FiloServer {
    fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let (summary_tx, summary) = mpsc::channel();
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let pki = TestPki::new(&["localhost"]);
            let mut poll = Poll::new().expect("poll");
            let waker = Arc::new(Waker::new(poll.registry(), Token(99)).expect("waker"));
            let config =
                Config::server(pki.server_tls(), Limits::default()).expect("server config");
            let mut driver = Driver::new(Endpoint::new(config));
            let addr = driver
                .bind(poll.registry(), loopback(), Token(0))
                .expect("server bind");
            ready_tx.send((addr, waker)).expect("ready");
            let mut app = ServerApp::new();
            driver
                .run(
                    &mut poll,
                    &mut app,
                    |app, ep, ev| app.on_event(ep, ev),
                    |_, _| stop2.load(Ordering::SeqCst),
                )
                .expect("server loop");
            let _ = summary_tx.send(ServerSummary {
                requests: app.requests.len(),
                responded: app.requests.values().filter(|r| r.responded).count(),
                accepted: app.accepted.len(),
                errors: app.errors.clone(),
                failures: app.failures.len(),
            });
        });
        let (addr, waker) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("server thread ready");
        Self {
            addr,
            stop,
            waker,
            summary,
            thread: Some(thread),
        }
    }

    /// Stops the loop and returns its summary.
    fn stop(mut self) -> ServerSummary {
        self.stop.store(true, Ordering::SeqCst);
        self.waker.wake().expect("wake");
        let s = self
            .summary
            .recv_timeout(Duration::from_secs(5))
            .expect("server thread summary");
        if let Some(t) = self.thread.take() {
            t.join().expect("server thread");
        }
        s
    }
}

impl Drop for FiloServer {
    fn drop(&mut self) {
        // A failed test leaves no loop spinning behind.
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

#[test]
fn filo_client_fetches_from_raw_quiche_server() {
    let sizes = sizes();
    let mut specs: Vec<RequestSpec> = sizes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let spec = RequestSpec::get(&format!("/bytes/{n}"));
            match seed(i) {
                0 => spec,
                s => spec.header("x-seed", &s.to_string()),
            }
        })
        .collect();
    specs.push(RequestSpec::get("/nope"));
    let run = filo_client_vs_raw_server(specs);
    assert!(run.elapsed < LIMIT, "took {:?}", run.elapsed);
    assert!(
        run.app_errors.is_empty(),
        "client errors: {:?}",
        run.app_errors
    );
    for (i, n) in sizes.iter().enumerate() {
        let got = run.outcomes[i].unwrap_or_else(|| panic!("request {i} (/bytes/{n}) unfinished"));
        assert_body(&format!("request {i} /bytes/{n}"), got, *n, seed(i));
    }
    let not_found = run.outcomes[50].expect("/nope unfinished");
    assert_eq!((not_found.0, not_found.1), (404, 0), "/nope");
    assert_eq!(run.raw.served, 51, "raw server responses: {:?}", run.raw);
    assert_eq!(run.raw.not_found, 1, "raw server 404s");
    assert_eq!(run.raw.accepted, 1, "one connection: {:?}", run.raw);
    assert_eq!(
        run.raw_live_after_close, 0,
        "raw server collected the closed connection"
    );
    assert_eq!(run.raw.closed, 1);
    eprintln!(
        "filo-mio client <- raw quiche server: 51 requests in {:?} {:?}",
        run.elapsed, run.raw
    );
}

#[test]
fn raw_quiche_client_fetches_from_filo_server() {
    let start = Instant::now();
    let server = FiloServer::start();
    let sizes = sizes();
    let paths: Vec<String> = sizes.iter().map(|n| format!("/bytes/{n}")).collect();
    let mut reqs: Vec<(&str, u64)> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), seed(i)))
        .collect();
    reqs.push(("/status/404", 0));
    let got = raw_quiche::raw_fetch_seeded(loopback(), server.addr, &reqs, LIMIT);
    let summary = server.stop();
    let elapsed = start.elapsed();
    assert!(elapsed < LIMIT + Duration::from_secs(2), "took {elapsed:?}");
    assert_eq!(got.len(), 51);
    for (i, n) in sizes.iter().enumerate() {
        assert_body(&format!("request {i} /bytes/{n}"), got[i], *n, seed(i));
    }
    assert_eq!((got[50].0, got[50].1), (404, 0), "/status/404");
    assert!(
        summary.errors.is_empty(),
        "server errors: {:?}",
        summary.errors
    );
    assert_eq!(summary.failures, 0, "{summary:?}");
    assert_eq!(summary.accepted, 1, "{summary:?}");
    assert_eq!(summary.requests, 51, "{summary:?}");
    assert_eq!(summary.responded, 51, "{summary:?}");
    eprintln!("raw quiche client <- filo-mio server: 51 requests in {elapsed:?}");
}

#[test]
fn raw_fetch_without_seed_uses_pattern_zero() {
    // `raw_fetch` (no x-seed) against filo-mio's server: seed 0 bodies.
    let server = FiloServer::start();
    let got = raw_quiche::raw_fetch(loopback(), server.addr, &["/bytes/3000", "/bytes/0"], LIMIT);
    let summary = server.stop();
    assert_body("/bytes/3000", got[0], 3000, 0);
    assert_body("/bytes/0", got[1], 0, 0);
    assert_eq!(summary.responded, 2, "{summary:?}");
}

#[test]
fn eight_mib_from_raw_quiche_server() {
    let len = 8 * MIB;
    let spec = RequestSpec::get(&format!("/bytes/{len}")).header("x-seed", "88");
    let run = filo_client_vs_raw_server(vec![spec]);
    assert!(run.elapsed < LIMIT, "took {:?}", run.elapsed);
    assert!(
        run.app_errors.is_empty(),
        "client errors: {:?}",
        run.app_errors
    );
    let got = run.outcomes[0].expect("8 MiB download unfinished");
    assert_body("8 MiB from raw quiche", got, len, 88);
    assert_eq!(run.raw.served, 1);
    eprintln!(
        "filo-mio client <- raw quiche server: 8 MiB in {:?} {:?}",
        run.elapsed, run.raw
    );
}

#[test]
fn eight_mib_from_filo_server() {
    let start = Instant::now();
    let len = 8 * MIB;
    let server = FiloServer::start();
    let path = format!("/bytes/{len}");
    let got = raw_quiche::raw_fetch_seeded(loopback(), server.addr, &[(&path, 99)], LIMIT);
    let summary = server.stop();
    let elapsed = start.elapsed();
    assert!(elapsed < LIMIT + Duration::from_secs(2), "took {elapsed:?}");
    assert_body("8 MiB from filo-mio", got[0], len, 99);
    assert!(
        summary.errors.is_empty(),
        "server errors: {:?}",
        summary.errors
    );
    assert_eq!(summary.responded, 1, "{summary:?}");
    eprintln!("raw quiche client <- filo-mio server: 8 MiB in {elapsed:?}");
}

/// `target/<profile>/examples/raw_quiche_server` (`cargo test` builds the
/// examples; the test binary lives in `target/<profile>/deps/`).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .join("examples")
        .join("raw_quiche_server");
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p filo-mio --examples` \
         (plain `cargo test -p filo-mio` builds it too)",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "filo-mio-interop-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example binary, serving; killed on drop.
struct ExampleServer {
    child: Child,
    addr: SocketAddr,
}

impl ExampleServer {
    fn start(args: &[&OsStr]) -> Self {
        let mut child = Command::new(example_binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn raw_quiche_server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let line = rx.recv_timeout(Duration::from_secs(10));
        let mut server = Self {
            child,
            addr: loopback(),
        };
        let line = line.expect("raw_quiche_server printed no line within 10 s");
        server.addr = line
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        server
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn example_binary_serves_filo_client_with_generated_ca() {
    let dir = TempDir::new("ca");
    let ca = dir.0.join("ca.pem");
    let server = ExampleServer::start(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--ca-out".as_ref(),
        ca.as_os_str(),
    ]);
    assert_eq!(server.addr.ip(), loopback().ip());
    assert_ne!(server.addr.port(), 0, "the bound port is printed");
    let specs = vec![
        RequestSpec::get("/bytes/300000").header("x-seed", "5"),
        RequestSpec::get("/bytes/0"),
        RequestSpec::get("/missing"),
    ];
    // Verification on: the client trusts only the CA the server wrote.
    let poll = Poll::new().expect("poll");
    let run = filo_fetch(
        poll,
        None,
        server.addr,
        ClientTls::CaFile(ca.clone()),
        specs,
    );
    assert!(
        run.app_errors.is_empty(),
        "client errors: {:?}",
        run.app_errors
    );
    assert_body(
        "/bytes/300000",
        run.outcomes[0].expect("unfinished"),
        300_000,
        5,
    );
    assert_body("/bytes/0", run.outcomes[1].expect("unfinished"), 0, 0);
    let missing = run.outcomes[2].expect("/missing unfinished");
    assert_eq!((missing.0, missing.1), (404, 0));
}

#[test]
fn example_binary_loads_cert_and_key_files() {
    let dir = TempDir::new("pem");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    let server = ExampleServer::start(&[
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--cert".as_ref(),
        cert.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
    ]);
    let got = raw_quiche::raw_fetch_seeded(
        loopback(),
        server.addr,
        &[("/bytes/70000", 7), ("/other", 0)],
        LIMIT,
    );
    assert_body("/bytes/70000", got[0], 70_000, 7);
    assert_eq!((got[1].0, got[1].1), (404, 0), "/other");
}

#[test]
fn example_binary_usage_and_bad_arguments() {
    let run = |args: &[&str]| {
        let out = Command::new(example_binary())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run raw_quiche_server");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = run(&["--help"]);
    assert_eq!(code, Some(0));
    assert!(stdout.contains("usage: raw_quiche_server"), "{stdout}");
    assert!(stdout.contains("--listen ADDR"), "{stdout}");
    for bad in [
        &["--bogus"][..],
        &["--listen"],
        &["--listen", "not-an-address"],
        &["--cert", "/nonexistent.pem"],
    ] {
        let (code, _, stderr) = run(bad);
        assert_eq!(code, Some(2), "{bad:?}: {stderr}");
        assert!(stderr.contains("usage:"), "{bad:?}: {stderr}");
    }
    let (code, _, stderr) = run(&[
        "--listen",
        "127.0.0.1:0",
        "--cert",
        "/nonexistent/cert.pem",
        "--key",
        "/nonexistent/key.pem",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--cert /nonexistent/cert.pem"), "{stderr}");
}

/// Runs `server`'s loop for `d` (reads, timers, sends).
fn turn_raw(poll: &mut Poll, server: &mut RawServer, d: Duration) {
    let mut events = Events::with_capacity(16);
    let end = Instant::now() + d;
    while Instant::now() < end {
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .expect("poll");
        server.handle_readable(Instant::now());
        server.on_timeout();
        server.send_all();
    }
}

#[test]
fn raw_server_routing_version_negotiation_and_initial_retransmits() {
    let pki = TestPki::new(&["localhost"]);
    let mut poll = Poll::new().expect("poll");
    let mut server = RawServer::new(poll.registry(), loopback(), Token(0), pki.server_context())
        .expect("raw server");
    let peer = std::net::UdpSocket::bind(loopback()).expect("peer socket");
    peer.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let mut buf = [0u8; 1500];

    // An unknown version in a datagram that could be an Initial: VN.
    let mut pkt = vec![0u8; 1200];
    pkt[0] = 0xc0;
    pkt[1..5].copy_from_slice(&0x1a2a_3a4au32.to_be_bytes());
    pkt[5] = 8;
    pkt[6..14].copy_from_slice(&[0xd1; 8]);
    pkt[14] = 8;
    pkt[15..23].copy_from_slice(&[0x5c; 8]);
    peer.send_to(&pkt, server.local_addr()).expect("send");
    turn_raw(&mut poll, &mut server, Duration::from_millis(50));
    let (n, _) = peer.recv_from(&mut buf).expect("version negotiation");
    let hdr = quiche::Header::from_slice(&mut buf[..n], 8).expect("VN header");
    assert_eq!(hdr.ty, quiche::Type::VersionNegotiation);
    assert_eq!(&hdr.dcid[..], &[0x5c; 8], "VN echoes the client's SCID");
    assert_eq!(&hdr.scid[..], &[0xd1; 8], "VN echoes the client's DCID");
    assert!(
        hdr.versions
            .as_ref()
            .is_some_and(|v| v.contains(&quiche::PROTOCOL_VERSION)),
        "VN lists version 1: {:?}",
        hdr.versions
    );
    // Too short to be an Initial: no VN.
    peer.send_to(&pkt[..1199], server.local_addr())
        .expect("send");
    turn_raw(&mut poll, &mut server, Duration::from_millis(50));
    let s = server.stats();
    assert_eq!(s.version_negotiations, 1, "{s:?}");
    assert_eq!(s.dropped, 1, "{s:?}");
    assert_eq!(s.accepted, 0, "{s:?}");

    // A client Initial sent three times maps to one connection (the server's
    // SCID is derived from the original DCID); another client (another
    // random original DCID) gets another one.
    let local = peer.local_addr().expect("peer addr");
    let initial = |client_scid: u8| {
        let mut config = quiche::Config::new(quiche::PROTOCOL_VERSION).expect("config");
        raw_quiche::configure(&mut config);
        let scid = [client_scid; 16];
        let mut c = quiche::connect(
            Some("localhost"),
            &quiche::ConnectionId::from_ref(&scid),
            local,
            server.local_addr(),
            &mut config,
        )
        .expect("connect");
        let mut out = vec![0u8; 1500];
        let (n, _) = c.send(&mut out).expect("first Initial");
        out.truncate(n);
        out
    };
    let first = initial(0x11);
    let other = initial(0x22);
    for _ in 0..3 {
        peer.send_to(&first, server.local_addr()).expect("send");
    }
    turn_raw(&mut poll, &mut server, Duration::from_millis(50));
    assert_eq!(server.stats().accepted, 1, "{:?}", server.stats());
    assert_eq!(server.connections(), 1);
    peer.send_to(&other, server.local_addr()).expect("send");
    turn_raw(&mut poll, &mut server, Duration::from_millis(50));
    assert_eq!(server.stats().accepted, 2, "{:?}", server.stats());
    assert_eq!(server.connections(), 2);
    // The server answered (Initial + Handshake flights) on both.
    assert!(server.stats().datagrams_out > 2, "{:?}", server.stats());
}
