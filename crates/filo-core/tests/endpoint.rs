//! Endpoint-level behaviour: idle, handshake and first-request timeouts;
//! Retry and its tokens; version negotiation; unknown CIDs and stateless
//! resets (with their rate limit and restart-stable tokens); short and
//! undecryptable Initials; the connection caps; and the shared timer heap.
//!
//! Most tests drive [`Endpoint`]s by hand (datagrams captured, altered and
//! delivered one by one) and assert [`filo_core::EndpointStats`] counters,
//! events and close reasons. Everything runs in real time with small
//! timeouts (quiche reads the clock itself).

// The clock rule (clippy.toml) is for the library: tests are its caller and
// must read the real clock, as quiche does underneath.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::ops::Range;
use std::time::{Duration, Instant};

use filo_core::{
    CloseReason, Config, ConnHandle, ConnectOptions, Endpoint, EndpointKeys, Event, EventKind,
    Limits, RecvMeta, RetryMode, code,
};
use filo_sim::raw::{RawPeer, raw_config};
use filo_sim::{
    CLIENT_ADDR, ClientApp, LinkConfig, Pair, PairConfig, RequestSpec, SERVER_ADDR, ServerApp, Sim,
    TestPki, pattern_sha256, test_limits,
};

// ---------------------------------------------------------------- helpers

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn client_addr() -> SocketAddr {
    sa(CLIENT_ADDR)
}

fn server_addr() -> SocketAddr {
    sa(SERVER_ADDR)
}

fn server_ep(pki: &TestPki, limits: Limits) -> Endpoint {
    Endpoint::new(Config::server(pki.server_tls(), limits).expect("server config"))
}

fn keyed_server_ep(pki: &TestPki, limits: Limits, keys: EndpointKeys) -> Endpoint {
    Endpoint::new(
        Config::server(pki.server_tls(), limits)
            .expect("server config")
            .with_keys(keys),
    )
}

fn client_ep(pki: &TestPki, limits: Limits) -> Endpoint {
    Endpoint::new(Config::client(pki.client_tls(), limits).expect("client config"))
}

fn connect(ep: &mut Endpoint, local: SocketAddr, remote: SocketAddr) -> ConnHandle {
    ep.connect(
        Instant::now(),
        local,
        remote,
        "localhost",
        ConnectOptions::default(),
    )
    .expect("connect")
}

/// One datagram on the wire.
#[derive(Clone, Debug)]
struct Dgram {
    from: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
}

/// Every datagram `ep` has to send now (no GSO batching).
fn transmits(ep: &mut Endpoint) -> Vec<Dgram> {
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit(Instant::now(), &mut buf, 1) {
        out.push(Dgram {
            from: t.from,
            to: t.to,
            data: buf[..t.len].to_vec(),
        });
    }
    out
}

/// Delivers a copy of `d` as if it came from `from`.
fn deliver_from(ep: &mut Endpoint, d: &Dgram, from: SocketAddr) {
    let mut data = d.data.clone();
    ep.handle_datagram(Instant::now(), RecvMeta::new(d.to, from), &mut data);
}

fn deliver(ep: &mut Endpoint, d: &Dgram) {
    deliver_from(ep, d, d.from);
}

/// Delivers raw bytes from `from` to `to`.
fn deliver_bytes(ep: &mut Endpoint, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
    let mut data = bytes.to_vec();
    ep.handle_datagram(Instant::now(), RecvMeta::new(to, from), &mut data);
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    filo_core::boring::rand::rand_bytes(&mut v).expect("rand");
    v
}

/// A QUIC varint's length and value at `d[p..]`.
fn read_varint(d: &[u8], p: usize) -> (usize, u64) {
    let len = 1usize << (d[p] >> 6);
    let mut v = u64::from(d[p] & 0x3f);
    for &b in &d[p + 1..p + len] {
        v = (v << 8) | u64::from(b);
    }
    (len, v)
}

/// DCID and token ranges of a version 1 long-header Initial (the token is
/// in the clear: flags, version, DCID len + DCID, SCID len + SCID, varint
/// token length, token).
fn initial_layout(d: &[u8]) -> (Range<usize>, Range<usize>) {
    assert_eq!(d[0] & 0xb0, 0x80, "not a long-header Initial");
    let mut p = 5;
    let dcid = p + 1..p + 1 + usize::from(d[p]);
    p = dcid.end;
    p += 1 + usize::from(d[p]);
    let (n, len) = read_varint(d, p);
    p += n;
    (dcid, p..p + len as usize)
}

/// A short-header datagram of `len` random bytes for `dcid`.
fn short_packet(dcid: &[u8], len: usize) -> Vec<u8> {
    let mut d = random_bytes(len);
    d[0] = 0x40 | (d[0] & 0x3f);
    d[1..1 + dcid.len()].copy_from_slice(dcid);
    d
}

/// Datagrams in a client's first flight. The ClientHello (with its key
/// shares) may not fit in one 1200-byte Initial: every server-side counter
/// driven by Initials counts per datagram.
fn first_flight_len() -> usize {
    let pki = TestPki::new(&["localhost"]);
    let mut c = client_ep(&pki, test_limits());
    connect(&mut c, client_addr(), server_addr());
    let n = transmits(&mut c).len();
    assert!(n >= 1);
    n
}

fn is_closed_with(ev: &Event, reason: &CloseReason) -> bool {
    matches!(&ev.kind, EventKind::Closed { reason: r } if r == reason)
}

fn peer_app_code(r: &CloseReason) -> Option<u64> {
    match r {
        CloseReason::PeerApplication { code, .. } => Some(*code),
        _ => None,
    }
}

// ---------------------------------------------------------------- 1. timeouts

/// After a completed request and no traffic, both sides close with
/// `IdleTimeout` shortly after the 200 ms idle timeout (quiche applies
/// max(idle, 3 PTO); the PTO is tiny on this zero-delay link).
#[test]
fn idle_timeout_closes_both_sides() {
    let mut cfg = PairConfig::default();
    cfg.client.idle_timeout = Duration::from_millis(200);
    cfg.server.idle_timeout = Duration::from_millis(200);
    let mut p = Pair::with_apps(cfg, [RequestSpec::get("/bytes/1000")]);
    assert!(
        p.run_requests(Duration::from_secs(5)),
        "request did not finish"
    );
    let done_at = Instant::now();
    let conn = p.conn;
    {
        let app = p.client_app();
        let ex = &app.exchanges[&app.order[0]];
        assert_eq!(ex.status(), Some(200));
        assert_eq!(ex.body.sha256, Some(pattern_sha256(0, 1000)));
        assert!(app.closed.is_empty(), "{:?}", app.closed);
    }
    let (c, s) = (p.client, p.server);
    let mut client_closed_at = None;
    let mut server_closed_at = None;
    let ok = p.sim.run_until(Duration::from_secs(3), |sim| {
        if client_closed_at.is_none() && !sim.app::<ClientApp>(c).unwrap().closed.is_empty() {
            client_closed_at = Some(Instant::now());
        }
        if server_closed_at.is_none() && !sim.app::<ServerApp>(s).unwrap().closed.is_empty() {
            server_closed_at = Some(Instant::now());
        }
        client_closed_at.is_some() && server_closed_at.is_some()
    });
    assert!(ok, "idle timeout did not close both sides");
    for at in [client_closed_at.unwrap(), server_closed_at.unwrap()] {
        let after = at - done_at;
        // The server's idle timer may have restarted slightly before the
        // client finished reading the response.
        assert!(
            after >= Duration::from_millis(150),
            "closed too early: {after:?}"
        );
        assert!(
            after <= Duration::from_secs(2),
            "closed too late: {after:?}"
        );
    }
    assert_eq!(
        p.client_app().closed,
        vec![(conn, CloseReason::IdleTimeout)]
    );
    let server_app = p.server_app();
    assert_eq!(server_app.closed.len(), 1);
    assert_eq!(server_app.closed[0].1, CloseReason::IdleTimeout);
    assert_eq!(server_app.closed[0].0, server_app.connected[0]);
    assert_eq!(p.client_ep().connection_count(), 0);
    assert_eq!(p.server_ep().connection_count(), 0);
    assert_eq!(p.server_ep().stats().connections_closed, 1);
}

/// The client's first flight reaches the server, everything after it is
/// lost: the server's handshake never completes and it closes with
/// `HandshakeTimeout` at its 300 ms handshake timeout.
#[test]
fn server_handshake_timeout() {
    let mut cfg = PairConfig::default();
    cfg.server.handshake_timeout = Duration::from_millis(300);
    let mut p = Pair::with_apps(cfg, []);
    // One step: the client's first flight goes out and is delivered.
    let t0 = Instant::now();
    p.sim.step(t0);
    assert_eq!(
        p.server_ep().connection_count(),
        1,
        "first Initial not accepted"
    );
    let lost = LinkConfig {
        loss: 1.0,
        ..LinkConfig::default()
    };
    p.sim.set_link(p.client, p.server, lost);
    let s = p.server;
    let ok = p.sim.run_until(Duration::from_secs(3), |sim| {
        !sim.app::<ServerApp>(s).unwrap().closed.is_empty()
    });
    assert!(ok, "server connection never closed");
    let elapsed = t0.elapsed();
    assert!(
        elapsed >= Duration::from_millis(300),
        "closed after {elapsed:?}"
    );
    let app = p.server_app();
    assert_eq!(app.accepted.len(), 1);
    assert!(
        app.connected.is_empty(),
        "server must not have completed the handshake"
    );
    assert_eq!(
        app.closed,
        vec![(app.accepted[0], CloseReason::HandshakeTimeout)]
    );
    assert_eq!(p.server_ep().connection_count(), 0);
    assert!(
        p.sim.stats.lost > 0,
        "the client's later datagrams were not dropped"
    );
    // The client had the server's whole flight: its TLS handshake finished
    // (Connected), only its Finished never arrived. The server's
    // CONNECTION_CLOSE (transport, NO_ERROR) then ends it.
    let c = p.client;
    let ok = p.sim.run_until(Duration::from_secs(2), |sim| {
        !sim.app::<ClientApp>(c).unwrap().closed.is_empty()
    });
    assert!(ok, "client connection did not end");
    let conn = p.conn;
    let app = p.client_app();
    assert_eq!(app.connected, vec![conn]);
    assert_eq!(
        app.closed,
        vec![(
            conn,
            CloseReason::PeerTransport {
                code: 0,
                reason: b"handshake timeout".to_vec()
            }
        )]
    );
}

/// Drives a lone client (nobody answers) until its connection closes.
fn lone_client_close(limits: Limits) -> (Vec<Event>, Duration) {
    let pki = TestPki::new(&["localhost"]);
    let mut c = client_ep(&pki, limits);
    let t0 = Instant::now();
    let h = connect(&mut c, client_addr(), server_addr());
    let mut evs = Vec::new();
    while t0.elapsed() < Duration::from_secs(3) {
        let sent = transmits(&mut c);
        assert!(sent.iter().all(|d| d.to == server_addr()));
        if c.poll_timeout().is_some_and(|t| t <= Instant::now()) {
            c.handle_timeout(Instant::now());
        }
        evs.extend(events(&mut c));
        if evs
            .iter()
            .any(|e| matches!(e.kind, EventKind::Closed { .. }))
        {
            break;
        }
        let wait = c.poll_timeout().map_or(Duration::from_millis(5), |t| {
            t.saturating_duration_since(Instant::now())
        });
        std::thread::sleep(wait.min(Duration::from_millis(5)));
    }
    assert!(evs.iter().all(|e| e.conn == h));
    assert_eq!(c.connection_count(), 0, "connection still held");
    (evs, t0.elapsed())
}

/// A client whose server never answers. With the default 30 s idle
/// timeout, filo's 300 ms handshake timeout fires first: `HandshakeTimeout`.
/// With a 100 ms idle timeout, quiche's idle timer (max(idle, 3 PTO): the
/// PTO of a 10 ms initial RTT is small, so 100 ms) expires before the
/// handshake timeout and the connection ends with `IdleTimeout`: whichever
/// timer fires first names the reason.
#[test]
fn client_handshake_timeout_without_server() {
    let mut l = test_limits();
    l.handshake_timeout = Duration::from_millis(300);
    let (evs, elapsed) = lone_client_close(l.clone());
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(
        is_closed_with(&evs[0], &CloseReason::HandshakeTimeout),
        "{evs:?}"
    );
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");

    l.idle_timeout = Duration::from_millis(100);
    let (evs, elapsed) = lone_client_close(l);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(
        is_closed_with(&evs[0], &CloseReason::IdleTimeout),
        "{evs:?}"
    );
    // Not before the idle timeout; the reason above says it was the idle
    // timer, not the 300 ms handshake timer (no tight upper bound: shared
    // machines are noisy).
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
}

/// A client that connects but never sends a request is closed by the
/// server with H3_NO_ERROR after `first_request_timeout`.
#[test]
fn first_request_timeout_closes_idle_client() {
    let mut cfg = PairConfig::default();
    cfg.server.first_request_timeout = Some(Duration::from_millis(300));
    let mut p = Pair::with_apps(cfg, []);
    let t0 = Instant::now();
    let (c, s) = (p.client, p.server);
    let ok = p.sim.run_until(Duration::from_secs(3), |sim| {
        !sim.app::<ClientApp>(c).unwrap().closed.is_empty()
            && !sim.app::<ServerApp>(s).unwrap().closed.is_empty()
    });
    assert!(ok, "connection was not closed");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let conn = p.conn;
    let app = p.server_app();
    assert_eq!(app.connected.len(), 1);
    assert!(app.requests.is_empty());
    assert_eq!(
        app.closed,
        vec![(app.connected[0], CloseReason::FirstRequestTimeout)]
    );
    let app = p.client_app();
    assert_eq!(app.connected, vec![conn]);
    assert_eq!(app.closed.len(), 1);
    assert_eq!(app.closed[0].0, conn);
    assert_eq!(
        peer_app_code(&app.closed[0].1),
        Some(code::H3_NO_ERROR),
        "{:?}",
        app.closed
    );
}

/// A request inside the first-request window disarms the timer: the
/// connection outlives the window and serves another request.
#[test]
fn first_request_in_time_keeps_connection() {
    let mut cfg = PairConfig::default();
    cfg.server.first_request_timeout = Some(Duration::from_millis(300));
    let mut p = Pair::with_apps(cfg, [RequestSpec::get("/bytes/10")]);
    assert!(p.run_requests(Duration::from_secs(3)));
    p.sim.run_for(Duration::from_millis(600));
    assert!(
        p.client_app().closed.is_empty(),
        "{:?}",
        p.client_app().closed
    );
    assert!(
        p.server_app().closed.is_empty(),
        "{:?}",
        p.server_app().closed
    );
    assert_eq!(p.server_ep().stats().established, 1);
    let conn = p.conn;
    let (app, ep) = p.sim.app_and_endpoint::<ClientApp>(p.client).unwrap();
    app.queue(RequestSpec::get("/bytes/20"));
    app.send_pending(ep, conn);
    assert!(p.run_requests(Duration::from_secs(3)));
    let app = p.client_app();
    assert_eq!(app.order.len(), 2);
    let ex = &app.exchanges[&app.order[1]];
    assert_eq!(ex.status(), Some(200));
    assert_eq!(ex.body.sha256, Some(pattern_sha256(0, 20)));
    assert!(app.closed.is_empty());
}

// ---------------------------------------------------------------- 2. Retry

/// With Retry on (Always, or above 0 handshakes) the handshake goes through
/// Retry and a request succeeds; with Retry off there is none. Retry is
/// stateless, so each datagram of the client's first flight is answered
/// with its own Retry (the client uses the first and ignores the rest).
#[test]
fn retry_modes_complete_handshake() {
    let flight = first_flight_len() as u64;
    for (mode, retries) in [
        (RetryMode::Always, flight),
        (RetryMode::AboveHandshakes(0), flight),
        (RetryMode::Never, 0),
    ] {
        let mut cfg = PairConfig::default();
        cfg.server.retry = mode;
        let mut p = Pair::with_apps(cfg, [RequestSpec::get("/bytes/3000")]);
        assert!(
            p.run_requests(Duration::from_secs(5)),
            "{mode:?}: request did not finish"
        );
        let conn = p.conn;
        let app = p.client_app();
        assert_eq!(app.connected, vec![conn], "{mode:?}");
        let ex = &app.exchanges[&app.order[0]];
        assert_eq!(ex.status(), Some(200), "{mode:?}");
        assert_eq!(ex.body.sha256, Some(pattern_sha256(0, 3000)), "{mode:?}");
        let st = p.server_ep().stats();
        assert_eq!(st.retries, retries, "{mode:?}");
        assert_eq!(st.connections_opened, 1, "{mode:?}");
        assert_eq!(st.dropped.invalid_token, 0, "{mode:?}");
        assert_eq!(st.dropped.expired_token, 0, "{mode:?}");
        assert_eq!(p.server_app().accepted.len(), 1, "{mode:?}");
    }
}

/// A client endpoint, a Retry-always server, and the client's second
/// Initial (the one carrying the Retry token), captured off the wire.
struct RetryCapture {
    server: Endpoint,
    _client: Endpoint,
    initial: Dgram,
    /// Retries sent for the first flight.
    retries: u64,
}

fn capture_retried_initial(lifetime: Duration) -> RetryCapture {
    let pki = TestPki::new(&["localhost"]);
    let mut l = test_limits();
    l.retry = RetryMode::Always;
    l.retry_token_lifetime = lifetime;
    let mut server = server_ep(&pki, l);
    let mut client = client_ep(&pki, test_limits());
    connect(&mut client, client_addr(), server_addr());
    let first = transmits(&mut client);
    assert!(!first.is_empty());
    for d in &first {
        let (_, token) = initial_layout(&d.data);
        assert!(token.is_empty(), "first Initial carries no token");
        deliver(&mut server, d);
    }
    // Stateless: no connection, no event, one Retry.
    assert_eq!(server.connection_count(), 0);
    assert!(events(&mut server).is_empty());
    assert_eq!(server.stats().retries, first.len() as u64);
    let retry = transmits(&mut server);
    assert_eq!(retry.len(), first.len());
    assert_eq!(retry[0].data[0] & 0xf0, 0xf0, "not a Retry packet");
    deliver(&mut client, &retry[0]);
    let second = transmits(&mut client);
    let initial = second
        .into_iter()
        .find(|d| d.data[0] & 0xb0 == 0x80 && !initial_layout(&d.data).1.is_empty())
        .expect("client Initial with the Retry token");
    assert!(initial.data.len() >= 1200);
    RetryCapture {
        server,
        _client: client,
        initial,
        retries: first.len() as u64,
    }
}

/// A forged token (one byte flipped) and a genuine token replayed from
/// another port or IP are refused statelessly as `invalid_token`; the
/// genuine datagram from the right address is then accepted.
#[test]
fn retry_token_forged_or_moved_is_invalid() {
    let RetryCapture {
        mut server,
        initial,
        retries,
        ..
    } = capture_retried_initial(Duration::from_secs(10));
    let (_, token) = initial_layout(&initial.data);
    assert!(token.len() > 16);
    let before = server.stats();

    // (a) Forged: flip one byte in the middle of the token.
    let mut forged = initial.clone();
    forged.data[token.start + token.len() / 2] ^= 0x01;
    deliver(&mut server, &forged);
    let st = server.stats();
    assert_eq!(st.dropped.invalid_token, before.dropped.invalid_token + 1);
    assert_eq!(server.connection_count(), 0);
    assert!(events(&mut server).is_empty());
    assert!(
        transmits(&mut server).is_empty(),
        "a refused token gets no answer"
    );

    // (b) The genuine datagram from another port, then another IP.
    let mut other_port = initial.from;
    other_port.set_port(other_port.port() + 1);
    deliver_from(&mut server, &initial, other_port);
    assert_eq!(
        server.stats().dropped.invalid_token,
        before.dropped.invalid_token + 2
    );
    deliver_from(&mut server, &initial, sa("10.0.0.9:40000"));
    assert_eq!(
        server.stats().dropped.invalid_token,
        before.dropped.invalid_token + 3
    );
    assert_eq!(server.connection_count(), 0);
    assert!(events(&mut server).is_empty());
    assert!(transmits(&mut server).is_empty());

    // The genuine datagram from the right address is accepted.
    deliver(&mut server, &initial);
    let st = server.stats();
    assert_eq!(st.dropped.invalid_token, before.dropped.invalid_token + 3);
    assert_eq!(st.dropped.expired_token, 0);
    assert_eq!(server.connection_count(), 1);
    let evs = events(&mut server);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(matches!(evs[0].kind, EventKind::Accepted));
    assert_eq!(st.retries, retries, "no further Retry");
}

/// A genuine token delivered after its 200 ms lifetime is `expired_token`.
#[test]
fn retry_token_expires() {
    let RetryCapture {
        mut server,
        initial,
        ..
    } = capture_retried_initial(Duration::from_millis(200));
    std::thread::sleep(Duration::from_millis(300));
    deliver(&mut server, &initial);
    let st = server.stats();
    assert_eq!(st.dropped.expired_token, 1);
    assert_eq!(st.dropped.invalid_token, 0);
    assert_eq!(server.connection_count(), 0);
    assert!(events(&mut server).is_empty());
    assert!(transmits(&mut server).is_empty());
}

// ---------------------------------------------------------------- 3. VN

/// An Initial of an unknown version (>= 1200 bytes) gets exactly one
/// Version Negotiation packet listing version 1; the raw quiche client
/// switches to version 1 and completes its handshake with the server.
#[test]
fn version_negotiation_answers_unknown_version() {
    let pki = TestPki::new(&["localhost"]);
    let mut server = server_ep(&pki, test_limits());
    let mut qcfg = raw_config(0xbaba_baba);
    let mut raw = RawPeer::client(&mut qcfg, client_addr(), server_addr());
    let mut buf = vec![0u8; 65536];
    let (n, info) = raw.q.send(&mut buf).expect("raw Initial");
    assert!(n >= 1200, "raw Initial is {n} bytes");
    assert_eq!(&buf[1..5], &[0xba; 4]);
    assert_eq!(info.to, server_addr());
    server.handle_datagram(
        Instant::now(),
        RecvMeta::new(info.to, info.from),
        &mut buf[..n],
    );
    assert_eq!(server.stats().version_negotiations, 1);
    assert_eq!(server.connection_count(), 0);
    assert!(events(&mut server).is_empty());
    let vn = transmits(&mut server);
    assert_eq!(vn.len(), 1, "exactly one VN packet");
    let vn = &vn[0];
    assert_eq!(vn.to, client_addr());
    assert_eq!(vn.data[0] & 0x80, 0x80);
    assert_eq!(&vn.data[1..5], &[0, 0, 0, 0], "version 0 marks a VN packet");
    // DCID echoes the client's SCID, SCID its DCID.
    let dcid_len = usize::from(vn.data[5]);
    assert_eq!(&vn.data[6..6 + dcid_len], raw.q.source_id().as_ref());
    let p = 6 + dcid_len;
    let scid_len = usize::from(vn.data[p]);
    assert_eq!(
        &vn.data[p + 1..p + 1 + scid_len],
        raw.q.destination_id().as_ref()
    );
    let versions: Vec<u32> = vn.data[p + 1 + scid_len..]
        .chunks(4)
        .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")))
        .collect();
    assert!(versions.contains(&1), "{versions:x?}");

    let mut data = vn.data.clone();
    let info = quiche::RecvInfo {
        from: vn.from,
        to: vn.to,
    };
    raw.q.recv(&mut data, info).expect("client processes VN");
    assert!(!raw.q.is_closed());
    // The client retries in version 1.
    let (n, _) = raw.q.send(&mut buf).expect("Initial after VN");
    assert_eq!(&buf[1..5], &[0, 0, 0, 1]);
    server.handle_datagram(
        Instant::now(),
        RecvMeta::new(server_addr(), client_addr()),
        &mut buf[..n],
    );
    let mut evs = events(&mut server);
    let ok = filo_sim::raw::exchange(
        &mut server,
        server_addr(),
        &mut raw,
        &mut evs,
        Duration::from_secs(3),
        |raw, evs| {
            raw.q.is_established() && evs.iter().any(|e| matches!(e.kind, EventKind::Connected))
        },
    );
    assert!(ok, "handshake after VN did not complete: {evs:?}");
    assert!(matches!(evs[0].kind, EventKind::Accepted), "{evs:?}");
    let st = server.stats();
    assert_eq!(st.version_negotiations, 1);
    assert_eq!(st.connections_opened, 1);
    assert_eq!(st.dropped.unsupported_version, 0);
}

/// Unknown-version datagrams under 1200 bytes are dropped unanswered, and
/// Version Negotiation packets sent to a server are never answered.
#[test]
fn version_negotiation_not_sent_for_small_or_vn() {
    let pki = TestPki::new(&["localhost"]);
    let mut server = server_ep(&pki, test_limits());
    let mut d = vec![0xc0, 0xba, 0xba, 0xba, 0xba, 8];
    d.extend_from_slice(&random_bytes(8));
    d.push(8);
    d.extend_from_slice(&random_bytes(8));
    d.resize(1199, 0);
    deliver_bytes(&mut server, client_addr(), server_addr(), &d);
    let st = server.stats();
    assert_eq!(st.dropped.unsupported_version, 1);
    assert_eq!(st.version_negotiations, 0);
    assert!(transmits(&mut server).is_empty());

    // The same at 1200 bytes is answered (the boundary).
    d.resize(1200, 0);
    deliver_bytes(&mut server, client_addr(), server_addr(), &d);
    assert_eq!(server.stats().version_negotiations, 1);
    assert_eq!(transmits(&mut server).len(), 1);

    // A VN packet (version 0), even a large one, gets nothing.
    let mut vn = vec![0x80, 0, 0, 0, 0, 8];
    vn.extend_from_slice(&random_bytes(8));
    vn.push(8);
    vn.extend_from_slice(&random_bytes(8));
    vn.extend_from_slice(&1u32.to_be_bytes());
    deliver_bytes(&mut server, client_addr(), server_addr(), &vn);
    vn.resize(1200, 0);
    deliver_bytes(&mut server, client_addr(), server_addr(), &vn);
    let st = server.stats();
    assert_eq!(st.dropped.version_negotiation, 2);
    assert_eq!(st.version_negotiations, 1);
    assert_eq!(st.dropped.unsupported_version, 1);
    assert_eq!(server.connection_count(), 0);
    assert!(transmits(&mut server).is_empty());
    assert!(events(&mut server).is_empty());
}

// ---------------------------------------------------------------- 4. resets

const RESET_KEY: [u8; 32] = [0x11; 32];
const RETRY_KEY: [u8; 32] = [0x22; 32];

fn keys() -> EndpointKeys {
    EndpointKeys::new(RESET_KEY, RETRY_KEY)
}

/// Checks the shape of a stateless reset answering a `trigger`-byte packet
/// and returns its token (last 16 bytes).
fn reset_token_of(reset: &Dgram, trigger: usize) -> [u8; 16] {
    let n = reset.data.len();
    assert!(
        n < trigger,
        "reset of {n} bytes for a {trigger}-byte trigger"
    );
    assert!(n >= 21, "reset of {n} bytes");
    assert_eq!(
        reset.data[0] & 0xc0,
        0x40,
        "first byte {:#x}",
        reset.data[0]
    );
    reset.data[n - 16..].try_into().expect("16 bytes")
}

/// Short-header datagrams for unknown CIDs are dropped and answered by
/// stateless resets whose token depends only on the reset key and the CID:
/// the same across endpoints (restarts) sharing the key, different with
/// another key.
#[test]
fn unknown_cid_gets_stateless_reset() {
    let pki = TestPki::new(&["localhost"]);
    let mut a = keyed_server_ep(&pki, test_limits(), keys());
    let mut b = keyed_server_ep(&pki, test_limits(), keys());
    let mut other = keyed_server_ep(
        &pki,
        test_limits(),
        EndpointKeys::new([0x33; 32], RETRY_KEY),
    );
    let cids: Vec<Vec<u8>> = (0..3).map(|_| random_bytes(16)).collect();
    let mut tokens = Vec::new();
    for ep in [&mut a, &mut b, &mut other] {
        let mut toks = Vec::new();
        for cid in &cids {
            let trigger = short_packet(cid, 1200);
            deliver_bytes(ep, client_addr(), server_addr(), &trigger);
            let out = transmits(ep);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].to, client_addr());
            assert_eq!(out[0].from, server_addr());
            toks.push(reset_token_of(&out[0], trigger.len()));
        }
        let st = ep.stats();
        assert_eq!(st.dropped.unknown_cid, 3);
        assert_eq!(st.resets_sent, 3);
        assert_eq!(st.resets_rate_limited, 0);
        assert_eq!(ep.connection_count(), 0);
        assert!(events(ep).is_empty());
        tokens.push(toks);
    }
    assert_eq!(tokens[0], tokens[1], "same key, same CID: same token");
    assert_ne!(
        tokens[0][0], tokens[0][1],
        "different CIDs: different tokens"
    );
    for (same_key, other_key) in tokens[0].iter().zip(&tokens[2]) {
        assert_ne!(same_key, other_key, "another key: another token");
    }
}

/// The reset token matches what the server announced in its transport
/// parameters for the CID, also when sent by a restarted endpoint with the
/// same keys.
#[test]
fn reset_token_matches_issued_token_across_restart() {
    let pki = TestPki::new(&["localhost"]);
    let mut server = keyed_server_ep(&pki, test_limits(), keys());
    let mut qcfg = raw_config(quiche::PROTOCOL_VERSION);
    let mut raw = RawPeer::client(&mut qcfg, client_addr(), server_addr());
    let mut evs = Vec::new();
    let ok = filo_sim::raw::exchange(
        &mut server,
        server_addr(),
        &mut raw,
        &mut evs,
        Duration::from_secs(3),
        |raw, _| raw.q.is_established(),
    );
    assert!(ok, "raw handshake failed");
    let cid = raw.q.destination_id().as_ref().to_vec();
    assert_eq!(cid.len(), 16);
    let issued = raw
        .q
        .peer_transport_params()
        .and_then(|tp| tp.stateless_reset_token)
        .expect("server announced a reset token")
        .to_be_bytes();
    drop(server);
    let mut restarted = keyed_server_ep(&pki, test_limits(), keys());
    let trigger = short_packet(&cid, 100);
    deliver_bytes(&mut restarted, client_addr(), server_addr(), &trigger);
    let out = transmits(&mut restarted);
    assert_eq!(out.len(), 1);
    assert_eq!(reset_token_of(&out[0], trigger.len()), issued);
    assert_eq!(restarted.stats().resets_sent, 1);
    // Handed to the quiche client, the reset ends its connection: quiche
    // checks the handshake's token, and this reset carries it.
    assert!(!raw.q.is_closed());
    let mut data = out[0].data.clone();
    let info = quiche::RecvInfo {
        from: out[0].from,
        to: out[0].to,
    };
    let _ = raw.q.recv(&mut data, info);
    assert!(
        raw.q.is_closed(),
        "quiche did not take it for a stateless reset"
    );
    assert!(raw.q.peer_error().is_none() && raw.q.local_error().is_none());
    assert!(!raw.q.is_timed_out());
}

/// 50 triggers at once against rate 10/s, burst 3: exactly 3 resets.
#[test]
fn stateless_reset_rate_limit() {
    let pki = TestPki::new(&["localhost"]);
    let mut l = test_limits();
    l.stateless_reset_rate = 10;
    l.stateless_reset_burst = 3;
    let mut ep = keyed_server_ep(&pki, l, keys());
    let now = Instant::now();
    for _ in 0..50 {
        let mut d = short_packet(&random_bytes(16), 1200);
        ep.handle_datagram(now, RecvMeta::new(server_addr(), client_addr()), &mut d);
    }
    let st = ep.stats();
    assert_eq!(st.dropped.unknown_cid, 50);
    assert_eq!(st.resets_sent, 3);
    assert_eq!(st.resets_rate_limited, 47);
    assert_eq!(st.dropped.stateless_queue_full, 0);
    let out = transmits(&mut ep);
    assert_eq!(out.len(), 3);
    for d in &out {
        reset_token_of(d, 1200);
    }
}

/// A trigger shorter than 1 + CID length + 21 bytes could not have come
/// from a peer holding our CID: no reset. At the bound one is sent,
/// shorter than the trigger.
#[test]
fn short_trigger_gets_no_reset() {
    let pki = TestPki::new(&["localhost"]);
    let mut ep = keyed_server_ep(&pki, test_limits(), keys());
    let cid = random_bytes(16);
    let bound = 1 + 16 + 21;
    for len in [17, 30, bound - 1] {
        deliver_bytes(
            &mut ep,
            client_addr(),
            server_addr(),
            &short_packet(&cid, len),
        );
    }
    let st = ep.stats();
    assert_eq!(st.dropped.unknown_cid, 3);
    assert_eq!(st.resets_sent, 0);
    assert_eq!(st.resets_rate_limited, 0);
    assert!(transmits(&mut ep).is_empty());
    deliver_bytes(
        &mut ep,
        client_addr(),
        server_addr(),
        &short_packet(&cid, bound),
    );
    assert_eq!(ep.stats().resets_sent, 1);
    let out = transmits(&mut ep);
    assert_eq!(out.len(), 1);
    reset_token_of(&out[0], bound);
}

/// A server restarts (new endpoint, same keys, same address) under an
/// established client. The client's next request draws a stateless reset,
/// and since the client still uses the server's handshake CID, whose token
/// quiche checks (the only one it checks), the connection ends at once with
/// `CloseReason::StatelessReset`.
///
/// What happens instead: the client endpoint routes the reset by its
/// "DCID" (bytes 1..17, random in a reset), finds no connection, counts it
/// as `unknown_cid` and answers it with a stateless reset of its own; the
/// two endpoints bounce ever-shorter resets until the length floor, and the
/// client connection lives on until its idle timeout. quiche detects the
/// same reset when it reaches the connection (see
/// `reset_token_matches_issued_token_across_restart`).
#[test]
fn client_sees_stateless_reset_after_server_restart() {
    let pki = TestPki::new(&["localhost"]);
    let server = Config::server(pki.server_tls(), test_limits())
        .expect("server config")
        .with_keys(keys());
    let client = Config::client(pki.client_tls(), test_limits()).expect("client config");
    let mut p = Pair::from_configs(1, LinkConfig::default(), client, server, pki);
    p.sim.set_app(p.server, ServerApp::new());
    p.sim
        .set_app(p.client, ClientApp::new([RequestSpec::get("/bytes/100")]));
    assert!(p.run_requests(Duration::from_secs(3)));
    p.sim.run_for(Duration::from_millis(100));
    assert!(p.client_app().closed.is_empty());

    // Restart: the old endpoint (and its state) is gone.
    let restarted = keyed_server_ep(&p.pki, test_limits(), keys());
    p.sim.nodes[p.server].endpoint = restarted;
    p.sim.set_app(p.server, ServerApp::new());

    let conn = p.conn;
    let t0 = Instant::now();
    let (app, ep) = p.sim.app_and_endpoint::<ClientApp>(p.client).unwrap();
    app.queue(RequestSpec::get("/bytes/200"));
    app.send_pending(ep, conn);
    let c = p.client;
    let ok = p.sim.run_until(Duration::from_secs(3), |sim| {
        !sim.app::<ClientApp>(c).unwrap().closed.is_empty()
    });
    let client_stats = p.client_ep().stats();
    assert!(ok, "client connection did not end; client {client_stats:?}");
    // Far sooner than the 30 s idle timeout: the reset ended it.
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "took {:?}",
        t0.elapsed()
    );
    let st = p.server_ep().stats();
    assert!(st.resets_sent >= 1, "{st:?}");
    assert!(st.dropped.unknown_cid >= 1);
    assert_eq!(p.server_ep().connection_count(), 0);
    let app = p.client_app();
    assert_eq!(app.closed, vec![(conn, CloseReason::StatelessReset)]);
    assert!(!app.exchanges[&app.order[1]].is_done());
    assert_eq!(p.client_ep().connection_count(), 0);
}

// ---------------------------------------------------------------- 5, 7

/// A client Initial in a datagram under 1200 bytes is dropped, no state.
#[test]
fn short_initial_dropped() {
    let pki = TestPki::new(&["localhost"]);
    let mut server = server_ep(&pki, test_limits());
    let mut client = client_ep(&pki, test_limits());
    connect(&mut client, client_addr(), server_addr());
    let first = transmits(&mut client);
    let d = &first[0];
    assert!(d.data.len() >= 1200);
    let mut short = d.clone();
    short.data.truncate(1199);
    deliver(&mut server, &short);
    let st = server.stats();
    assert_eq!(st.dropped.short_initial, 1);
    assert_eq!(st.connections_opened, 0);
    assert_eq!(server.connection_count(), 0);
    assert!(events(&mut server).is_empty());
    assert!(transmits(&mut server).is_empty());
    // The untruncated datagram is accepted.
    deliver(&mut server, d);
    assert_eq!(server.connection_count(), 1);
    assert_eq!(server.stats().dropped.short_initial, 1);
    let evs = events(&mut server);
    assert!(matches!(evs[0].kind, EventKind::Accepted), "{evs:?}");
}

/// An Initial with a valid header and 1200 bytes of garbage keeps no
/// state and surfaces nothing.
#[test]
fn undecryptable_initial_keeps_no_state() {
    let pki = TestPki::new(&["localhost"]);
    let mut server = server_ep(&pki, test_limits());
    let mut d = vec![0xc3, 0, 0, 0, 1, 16];
    d.extend_from_slice(&random_bytes(16));
    d.push(16);
    d.extend_from_slice(&random_bytes(16));
    d.push(0); // no token
    let rest = 1200 - d.len() - 2;
    d.extend_from_slice(&(0x4000u16 | rest as u16).to_be_bytes());
    d.extend_from_slice(&random_bytes(rest));
    assert_eq!(d.len(), 1200);
    for _ in 0..2 {
        deliver_bytes(&mut server, client_addr(), server_addr(), &d);
    }
    let st = server.stats();
    assert_eq!(st.dropped.undecryptable_initial, 2);
    assert_eq!(st.connections_opened, 0);
    assert_eq!(st.handshaking, 0);
    assert_eq!(server.connection_count(), 0);
    assert_eq!(server.handles().count(), 0);
    assert!(events(&mut server).is_empty());
    assert!(transmits(&mut server).is_empty());
    assert!(server.poll_timeout().is_none());
}

// ---------------------------------------------------------------- 6. caps

/// A simulation of one server and client nodes at the given addresses,
/// each client with a `ClientApp` (no requests).
fn caps_sim(server: Limits, clients: &[&str]) -> (Sim, Vec<usize>) {
    let pki = TestPki::new(&["localhost"]);
    let mut sim = Sim::new(1, LinkConfig::default());
    let s = sim.add_node(server_ep(&pki, server), server_addr());
    assert_eq!(s, 0);
    sim.set_app(s, ServerApp::new());
    let mut client_limits = test_limits();
    client_limits.handshake_timeout = Duration::from_millis(500);
    let ids = clients
        .iter()
        .map(|a| {
            let c = sim.add_node(client_ep(&pki, client_limits.clone()), sa(a));
            sim.set_app(c, ClientApp::new([]));
            c
        })
        .collect();
    (sim, ids)
}

fn open(sim: &mut Sim, node: usize, n: usize) -> Vec<ConnHandle> {
    let local = sim.nodes[node].addrs[0];
    (0..n)
        .map(|_| connect(&mut sim.nodes[node].endpoint, local, server_addr()))
        .collect()
}

fn client_app(sim: &mut Sim, node: usize) -> &mut ClientApp {
    sim.app::<ClientApp>(node).expect("client app")
}

/// Runs until the `n` connections of `node` have all connected or closed.
fn settle_clients(sim: &mut Sim, node: usize, n: usize) {
    let ok = sim.run_until(Duration::from_secs(5), |sim| {
        let app = client_app(sim, node);
        app.connected.len() + app.closed.len() >= n
    });
    assert!(ok, "client connections did not settle");
}

/// Runs until the server has completed `n` handshakes in all.
fn server_connected(sim: &mut Sim, n: usize) {
    let ok = sim.run_until(Duration::from_secs(2), |sim| {
        sim.app::<ServerApp>(0)
            .is_some_and(|s| s.connected.len() >= n)
    });
    assert!(ok, "server did not complete {n} handshakes");
}

/// max_connections_per_ip = 2: of four connections from one IP two are
/// established, the others' Initials are dropped (`per_ip_limit`) and they
/// time out; another IP still connects.
#[test]
fn per_ip_cap() {
    let mut l = test_limits();
    l.max_connections_per_ip = 2;
    let (mut sim, ids) = caps_sim(l, &[CLIENT_ADDR, "10.0.0.3:40000"]);
    let (a, b) = (ids[0], ids[1]);
    let flight = first_flight_len() as u64;
    let conns = open(&mut sim, a, 4);
    sim.step(Instant::now());
    let st = sim.nodes[0].endpoint.stats();
    assert_eq!(sim.nodes[0].endpoint.connection_count(), 2);
    assert_eq!(st.dropped.per_ip_limit, 2 * flight, "{st:?}");
    settle_clients(&mut sim, a, 4);
    let app = client_app(&mut sim, a);
    assert_eq!(app.connected, conns[..2].to_vec());
    assert_eq!(
        app.closed,
        vec![
            (conns[2], CloseReason::HandshakeTimeout),
            (conns[3], CloseReason::HandshakeTimeout)
        ]
    );
    server_connected(&mut sim, 2);
    let st = sim.nodes[0].endpoint.stats();
    assert!(st.dropped.per_ip_limit >= 2 * flight);
    assert_eq!(st.established, 2);
    assert_eq!(st.connections_opened, 2);
    // Another IP is not limited by the first one's count.
    let other = open(&mut sim, b, 1);
    settle_clients(&mut sim, b, 1);
    assert_eq!(client_app(&mut sim, b).connected, other);
    server_connected(&mut sim, 3);
    let st = sim.nodes[0].endpoint.stats();
    assert_eq!(st.established, 3);
    let server = sim.app::<ServerApp>(0).expect("server app");
    assert_eq!(server.connected.len(), 3);
}

/// max_connections = 3: the fourth connection's Initials are dropped
/// (`connection_limit`).
#[test]
fn connection_cap() {
    let mut l = test_limits();
    l.max_connections = 3;
    let (mut sim, ids) = caps_sim(l, &[CLIENT_ADDR]);
    let a = ids[0];
    let flight = first_flight_len() as u64;
    let conns = open(&mut sim, a, 4);
    sim.step(Instant::now());
    assert_eq!(sim.nodes[0].endpoint.connection_count(), 3);
    assert_eq!(
        sim.nodes[0].endpoint.stats().dropped.connection_limit,
        flight
    );
    settle_clients(&mut sim, a, 4);
    let app = client_app(&mut sim, a);
    assert_eq!(app.connected, conns[..3].to_vec());
    assert_eq!(app.closed, vec![(conns[3], CloseReason::HandshakeTimeout)]);
    server_connected(&mut sim, 3);
    let st = sim.nodes[0].endpoint.stats();
    assert!(st.dropped.connection_limit >= flight);
    assert_eq!(st.dropped.per_ip_limit, 0);
    assert_eq!(st.established, 3);
}

/// max_pending_handshakes = 1 without Retry: of two simultaneous Initials
/// one is dropped (`handshake_limit`); once the first handshake completes
/// the slot frees and the second client's retransmitted Initial gets in.
#[test]
fn pending_handshake_cap() {
    let mut l = test_limits();
    l.max_pending_handshakes = 1;
    l.retry = RetryMode::Never;
    let (mut sim, ids) = caps_sim(l, &[CLIENT_ADDR]);
    let a = ids[0];
    let flight = first_flight_len() as u64;
    let conns = open(&mut sim, a, 2);
    sim.step(Instant::now());
    let st = sim.nodes[0].endpoint.stats();
    assert_eq!(sim.nodes[0].endpoint.connection_count(), 1);
    assert_eq!(st.dropped.handshake_limit, flight);
    assert_eq!(st.retries, 0);
    assert_eq!(st.handshaking, 1);
    settle_clients(&mut sim, a, 2);
    let app = client_app(&mut sim, a);
    assert_eq!(app.connected, conns);
    assert!(app.closed.is_empty());
    server_connected(&mut sim, 2);
    let st = sim.nodes[0].endpoint.stats();
    assert!(st.dropped.handshake_limit >= flight);
    assert_eq!(st.retries, 0);
    assert_eq!(st.established, 2);
}

// ---------------------------------------------------------------- 8. timers

/// 200 idle established connections; the first was established ~400 ms
/// before the others. `poll_timeout` is its first-request deadline, and a
/// `handle_timeout` at that instant closes that connection only.
///
/// `handle_timeout` is given the deadline itself (ahead of the wall clock):
/// the first-request timer is filo's own and compares against the given
/// time, while quiche's timers (seconds away) are untouched either way.
#[test]
fn handle_timeout_touches_only_due_connections() {
    const N: usize = 200;
    let first_request = Duration::from_secs(10);
    let mut sl = test_limits();
    sl.first_request_timeout = Some(first_request);
    sl.max_connections_per_ip = 1000;
    sl.retry = RetryMode::Never;
    let (mut sim, ids) = caps_sim(sl, &[CLIENT_ADDR]);
    let a = ids[0];
    let early = open(&mut sim, a, 1)[0];
    let ok = sim.run_until(Duration::from_secs(3), |sim| {
        sim.app::<ServerApp>(0)
            .is_some_and(|s| s.connected.len() == 1)
    });
    assert!(ok);
    let early_established = Instant::now();
    sim.run_for(Duration::from_millis(400));
    let rest = open(&mut sim, a, N - 1);
    let ok = sim.run_until(Duration::from_secs(20), |sim| {
        sim.app::<ServerApp>(0)
            .is_some_and(|s| s.connected.len() == N)
    });
    assert!(ok, "not all connections established");
    // Let handshake-time timers (ACK delay, PTO) run out: quiet once the
    // server's next deadline is seconds away.
    let quiet = sim.run_until(Duration::from_secs(3), |sim| {
        sim.nodes[0]
            .endpoint
            .poll_timeout()
            .is_some_and(|t| t > Instant::now() + Duration::from_secs(3))
    });
    let left = sim.nodes[0]
        .endpoint
        .poll_timeout()
        .map(|t| t.saturating_duration_since(Instant::now()));
    assert!(quiet, "server timers did not settle: next in {left:?}");
    let server_early = sim.app::<ServerApp>(0).expect("server app").connected[0];
    assert_eq!(client_app(&mut sim, a).connected.len(), N);
    let server = &mut sim.nodes[0].endpoint;
    assert_eq!(server.stats().established, N as u64);

    let next = server.poll_timeout().expect("a deadline");
    assert!(
        next <= early_established + first_request,
        "{:?} late",
        next - early_established
    );
    assert!(
        next > early_established + first_request - Duration::from_millis(300),
        "earliest deadline is not the first-request one"
    );
    server.handle_timeout(next);
    let st = server.stats();
    assert_eq!(st.closing, 1, "{st:?}");
    assert_eq!(st.established, N as u64 - 1);
    let handles: Vec<ConnHandle> = server.handles().collect();
    assert_eq!(handles.len(), N);
    let closing: Vec<ConnHandle> = handles
        .into_iter()
        .filter(|h| server.conn(*h).is_some_and(|c| c.is_closing()))
        .collect();
    assert_eq!(closing, vec![server_early]);
    // Only that connection has something to send (its CONNECTION_CLOSE).
    let out = transmits(server);
    assert_eq!(out.len(), 1);
    let out_to = out[0].to;
    for d in &out {
        let mut data = d.data.clone();
        sim.nodes[a].endpoint.handle_datagram(
            Instant::now(),
            RecvMeta::new(d.to, d.from),
            &mut data,
        );
    }
    assert_eq!(out_to, sim.nodes[a].addrs[0]);
    let ok = sim.run_until(Duration::from_secs(2), |sim| {
        !client_app(sim, a).closed.is_empty()
            && !sim.app::<ServerApp>(0).is_some_and(|s| s.closed.is_empty())
    });
    assert!(ok, "the early connection did not close on both sides");
    let app = client_app(&mut sim, a);
    assert_eq!(app.closed.len(), 1, "{:?}", app.closed);
    assert_eq!(app.closed[0].0, early);
    assert_eq!(peer_app_code(&app.closed[0].1), Some(code::H3_NO_ERROR));
    assert!(!rest.contains(&app.closed[0].0));
    let server_app = sim.app::<ServerApp>(0).expect("server app");
    assert_eq!(
        server_app.closed,
        vec![(server_early, CloseReason::FirstRequestTimeout)]
    );
    assert_eq!(sim.nodes[0].endpoint.connection_count(), N - 1);
    assert_eq!(sim.nodes[a].endpoint.connection_count(), N - 1);
}
