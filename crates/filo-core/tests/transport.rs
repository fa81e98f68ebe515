//! Transport-level behaviour of [`Endpoint`]: certificate verification
//! (CA file, wrong CA, wrong name, no verification, system roots), GSO
//! batches and their invariants, GRO input, pacing release times under
//! BBRv2, HTTP/3 DATAGRAMs, connection-ID routing (no unknown-CID drops in a
//! long transfer, CIDs unrouted once a connection is gone), connection
//! counts by state, and handle generations.
//!
//! The GSO, GRO and pacing tests drive two endpoints with a hand-written
//! loop (not the simulator) so every `Transmit` can be checked against the
//! `now` given to `poll_transmit` and every segment can be delivered and
//! checked on its own. Everything runs in real time (quiche reads the clock
//! itself).

// The clock rule (clippy.toml) is for the library: tests are its caller and
// must read the real clock, as quiche does underneath.
#![allow(clippy::disallowed_methods)]

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use filo_core::{
    ClientTls, CloseReason, Config, CongestionControl, ConnHandle, ConnectOptions, DatagramError,
    DropCounters, Endpoint, Event, EventKind, Limits, RecvMeta, StreamId, Transmit, code,
};
use filo_sim::{
    CLIENT_ADDR, ClientApp, Exchange, LinkConfig, NodeApp, NodeId, Pair, PairConfig, RequestSpec,
    SERVER_ADDR, ServerApp, Sim, TestPki, pattern_sha256, test_limits,
};

const MIB: u64 = 1 << 20;
/// Length of the CIDs filo issues by default.
const CID_LEN: usize = 16;
/// Default `Limits::max_udp_payload` (also the GSO segment size).
const MAX_UDP_PAYLOAD: usize = 1350;
/// quiche reports a TLS alert as the crypto error 0x100 + alert
/// (RFC 9001 §4.8). BoringSSL sends `unknown_ca` (48) when the chain leads
/// to no trusted root...
const CRYPTO_UNKNOWN_CA: u64 = 0x100 + 48;
/// ... `decrypt_error` (51) when a trusted CA of the issuer's name did not
/// sign it (every `TestPki` CA is called "filo test CA", so a client
/// trusting another `TestPki` finds a same-named CA whose signature check
/// fails)...
const CRYPTO_DECRYPT_ERROR: u64 = 0x100 + 51;
/// ... and `bad_certificate` (42) for a host name mismatch.
const CRYPTO_BAD_CERTIFICATE: u64 = 0x100 + 42;

fn wall_now() -> Instant {
    Instant::now()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

fn client_addr() -> SocketAddr {
    sa(CLIENT_ADDR)
}

fn server_addr() -> SocketAddr {
    sa(SERVER_ADDR)
}

fn get_head(path: &str) -> [(&str, &str); 4] {
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", path),
    ]
}

/// The first (and usually only) exchange of a client app.
fn first_exchange(app: &ClientApp) -> &Exchange {
    &app.exchanges[&app.order[0]]
}

/// Asserts the exchange is a complete 200 carrying `len` pattern bytes.
fn assert_pattern_body(ex: &Exchange, len: u64) {
    assert!(ex.finished, "exchange not finished: {ex:?}");
    assert_eq!(ex.status(), Some(200));
    assert_eq!(ex.body.len, len);
    assert_eq!(ex.body.sha256, Some(pattern_sha256(0, len)));
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    filo_core::boring::rand::rand_bytes(&mut v).expect("rand");
    v
}

/// A short-header datagram of `len` random bytes for `dcid`.
fn short_packet(dcid: &[u8], len: usize) -> Vec<u8> {
    let mut d = random_bytes(len);
    d[0] = 0x40 | (d[0] & 0x3f);
    d[1..1 + dcid.len()].copy_from_slice(dcid);
    d
}

/// A QUIC packet's header as far as routing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Parsed {
    /// Long header: packet type bits and DCID.
    Long { ty: u8, dcid: Vec<u8> },
    /// Short header: DCID (our fixed CID length).
    Short { dcid: Vec<u8> },
}

/// Parses the first packet header of a version 1 datagram, panicking if it
/// is not one.
fn parse_packet(seg: &[u8]) -> Parsed {
    assert!(
        seg.len() >= 1 + CID_LEN + 1 + 16,
        "segment too short: {}",
        seg.len()
    );
    assert_eq!(seg[0] & 0x40, 0x40, "QUIC fixed bit not set: {:#x}", seg[0]);
    if seg[0] & 0x80 == 0 {
        return Parsed::Short {
            dcid: seg[1..1 + CID_LEN].to_vec(),
        };
    }
    let version = u32::from_be_bytes([seg[1], seg[2], seg[3], seg[4]]);
    assert_eq!(version, 1, "long header of version {version:#x}");
    let dcid_len = usize::from(seg[5]);
    assert!(dcid_len <= 20, "DCID length {dcid_len}");
    Parsed::Long {
        ty: (seg[0] >> 4) & 0x3,
        dcid: seg[6..6 + dcid_len].to_vec(),
    }
}

/// A CA PEM file in the temp directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "filo-transport-{tag}-{}-{nanos}.pem",
            std::process::id()
        ));
        std::fs::write(&path, contents).expect("write temp file");
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------------------
// A hand-driven client/server loop
// ---------------------------------------------------------------------------

/// How the client receives the server's datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Delivery {
    /// One `handle_datagram` per segment, each checked to be accepted.
    OneByOne,
    /// Consecutive datagrams coalesced the way a GRO read delivers them:
    /// equal-size segments, the last possibly shorter.
    Gro,
}

/// What the server's transmits looked like.
#[derive(Debug, Default)]
struct TxLog {
    transmits: u64,
    segments: u64,
    /// Transmits with more than one segment.
    batches: u64,
    max_segments_seen: usize,
    /// Transmits carrying a release time.
    with_release: u64,
    /// Short-header DCIDs of server->client segments.
    short_dcids: BTreeSet<Vec<u8>>,
    /// Long-header DCIDs of server->client segments.
    long_dcids: BTreeSet<Vec<u8>>,
}

/// A GRO receive buffer being filled.
#[derive(Debug, Default)]
struct Gro {
    data: Vec<u8>,
    stride: usize,
    count: u64,
    last: usize,
    addrs: Option<(SocketAddr, SocketAddr)>,
    /// `handle_datagram` calls made.
    calls: u64,
    /// Calls that carried more than one datagram.
    multi: u64,
}

impl Gro {
    /// Adds one datagram, delivering the batch first if the datagram cannot
    /// join it (the batch's last segment is short, it is longer than the
    /// stride, 64 segments, or another flow).
    fn push(&mut self, client: &mut Endpoint, seg: &[u8], local: SocketAddr, peer: SocketAddr) {
        let joins = self.count > 0
            && self.last == self.stride
            && seg.len() <= self.stride
            && self.count < 64
            && self.addrs == Some((local, peer));
        if !joins {
            self.flush(client);
            self.stride = seg.len();
            self.addrs = Some((local, peer));
        }
        self.data.extend_from_slice(seg);
        self.count += 1;
        self.last = seg.len();
    }

    fn flush(&mut self, client: &mut Endpoint) {
        let Some((local, peer)) = self.addrs else {
            return;
        };
        if self.count == 0 {
            return;
        }
        let before = client.stats();
        let meta = RecvMeta {
            local,
            peer,
            segment_size: Some(self.stride),
        };
        client.handle_datagram(wall_now(), meta, &mut self.data);
        let after = client.stats();
        assert_eq!(
            after.datagrams_in,
            before.datagrams_in + self.count,
            "every GRO segment counts as a datagram"
        );
        assert_eq!(after.dropped, before.dropped, "a GRO segment was dropped");
        self.calls += 1;
        if self.count > 1 {
            self.multi += 1;
        }
        self.data.clear();
        self.count = 0;
    }
}

/// Checks one server transmit against every invariant and logs it.
fn check_transmit(
    log: &mut TxLog,
    now: Instant,
    t: &Transmit,
    bytes: &[u8],
    buf_len: usize,
    max_segments: usize,
    horizon: Duration,
) {
    assert!(
        t.len > 0 && t.len <= buf_len,
        "len {} of buf {buf_len}",
        t.len
    );
    assert_eq!(bytes.len(), t.len);
    assert!(t.segment_size > 0, "segment_size 0: {t:?}");
    assert!(
        t.segment_size <= MAX_UDP_PAYLOAD,
        "segment larger than max_udp_payload: {t:?}"
    );
    let n = t.segments();
    assert_eq!(n, t.len.div_ceil(t.segment_size), "{t:?}");
    assert!(
        n >= 1 && n <= max_segments,
        "{n} segments, max {max_segments}"
    );
    if n == 1 {
        assert_eq!(t.segment_size, t.len, "single datagram: {t:?}");
    }
    assert_eq!(t.to, client_addr(), "{t:?}");
    assert_eq!(t.from, server_addr(), "{t:?}");
    for i in 0..n {
        let start = i * t.segment_size;
        let end = (start + t.segment_size).min(t.len);
        let seg = &bytes[start..end];
        if i + 1 < n {
            assert_eq!(seg.len(), t.segment_size, "segment {i} of {t:?}");
        } else {
            assert!(seg.len() <= t.segment_size && !seg.is_empty());
        }
        match parse_packet(seg) {
            Parsed::Short { dcid } => {
                log.short_dcids.insert(dcid);
            }
            Parsed::Long { dcid, .. } => {
                assert_eq!(dcid.len(), CID_LEN, "server->client long-header DCID");
                log.long_dcids.insert(dcid);
            }
        }
    }
    if let Some(r) = t.release {
        assert!(
            r <= now + horizon,
            "release {:?} after now + horizon {:?}",
            r.saturating_duration_since(now),
            horizon
        );
        log.with_release += 1;
    }
    log.transmits += 1;
    log.segments += n as u64;
    log.max_segments_seen = log.max_segments_seen.max(n);
    if n > 1 {
        log.batches += 1;
    }
}

/// Delivers one datagram to the client and checks that the client routed
/// it to the connection and that the connection processed it.
fn deliver_checked(client: &mut Endpoint, conn: ConnHandle, meta: RecvMeta, seg: &mut [u8]) {
    let before = client.stats();
    let conn_before = client
        .conn(conn)
        .filter(|c| !c.is_closing())
        .map(|c| c.stats());
    client.handle_datagram(wall_now(), meta, seg);
    let after = client.stats();
    assert_eq!(after.datagrams_in, before.datagrams_in + 1);
    assert_eq!(
        after.dropped, before.dropped,
        "the client dropped a segment"
    );
    if let (Some(b), Some(a)) = (conn_before, client.conn(conn).map(|c| c.stats())) {
        assert_eq!(a.recv_errors, b.recv_errors, "quiche refused a segment");
        assert!(
            a.packets_recv > b.packets_recv,
            "a segment carried no packet the client processed"
        );
    }
}

/// Two endpoints joined by a perfect zero-delay "wire" moved by hand, with
/// the sim's HTTP apps answering and issuing requests.
struct Harness {
    client: Endpoint,
    server: Endpoint,
    capp: ClientApp,
    sapp: ServerApp,
    conn: ConnHandle,
    /// Server transmit buffer (its length bounds every transmit).
    buf: Vec<u8>,
    cbuf: Vec<u8>,
    max_segments: usize,
    horizon: Duration,
    delivery: Delivery,
    log: TxLog,
    gro: Gro,
    /// Server datagrams handed to the client (segments).
    delivered: u64,
}

impl Harness {
    fn new(
        client: Limits,
        server: Limits,
        requests: impl IntoIterator<Item = RequestSpec>,
        max_segments: usize,
        buf_len: usize,
        delivery: Delivery,
    ) -> Self {
        let pki = TestPki::new(&["localhost"]);
        let horizon = server.pacing_horizon;
        let server = Endpoint::new(Config::server(pki.server_tls(), server).expect("server"));
        let mut client = Endpoint::new(Config::client(pki.client_tls(), client).expect("client"));
        let conn = client
            .connect(
                wall_now(),
                client_addr(),
                server_addr(),
                "localhost",
                ConnectOptions::default(),
            )
            .expect("connect");
        Self {
            client,
            server,
            capp: ClientApp::new(requests),
            sapp: ServerApp::new(),
            conn,
            buf: vec![0; buf_len],
            cbuf: vec![0; 65536],
            max_segments,
            horizon,
            delivery,
            log: TxLog::default(),
            gro: Gro::default(),
            delivered: 0,
        }
    }

    /// Moves every server transmit to the client; returns how many.
    fn server_out(&mut self) -> usize {
        let now = wall_now();
        let mut n = 0;
        while let Some(t) = self
            .server
            .poll_transmit(now, &mut self.buf, self.max_segments)
        {
            n += 1;
            check_transmit(
                &mut self.log,
                now,
                &t,
                &self.buf[..t.len],
                self.buf.len(),
                self.max_segments,
                self.horizon,
            );
            for i in 0..t.segments() {
                let start = i * t.segment_size;
                let end = (start + t.segment_size).min(t.len);
                let seg = &mut self.buf[start..end];
                self.delivered += 1;
                match self.delivery {
                    Delivery::OneByOne => deliver_checked(
                        &mut self.client,
                        self.conn,
                        RecvMeta::new(t.to, t.from),
                        seg,
                    ),
                    Delivery::Gro => self.gro.push(&mut self.client, seg, t.to, t.from),
                }
            }
        }
        self.gro.flush(&mut self.client);
        n
    }

    /// Moves every client transmit to the server; returns how many.
    fn client_out(&mut self) -> usize {
        let now = wall_now();
        let mut n = 0;
        while let Some(t) = self.client.poll_transmit(now, &mut self.cbuf, 1) {
            n += 1;
            let meta = RecvMeta::new(t.to, t.from);
            self.server
                .handle_datagram(wall_now(), meta, &mut self.cbuf[..t.len]);
        }
        n
    }

    /// Fires due timers; returns whether any fired.
    fn timers(&mut self) -> bool {
        let now = wall_now();
        let mut fired = false;
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
                fired = true;
            }
        }
        fired
    }

    /// Hands events to the apps; returns whether there were any.
    fn events(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = self.server.poll_event() {
            any = true;
            self.sapp.on_event(&mut self.server, ev);
        }
        while let Some(ev) = self.client.poll_event() {
            any = true;
            self.capp.on_event(&mut self.client, ev);
        }
        any
    }

    fn step(&mut self) -> bool {
        let mut progress = self.server_out() > 0;
        progress |= self.client_out() > 0;
        progress |= self.timers();
        progress |= self.events();
        progress
    }

    /// Steps until `done` or `limit` of wall time; sleeps until the next
    /// timer when nothing moves.
    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let deadline = wall_now() + limit;
        loop {
            let progress = self.step();
            if done(self) {
                return true;
            }
            let now = wall_now();
            if now >= deadline {
                return false;
            }
            if !progress {
                let wake = [self.client.poll_timeout(), self.server.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .map_or(deadline, |w| w.min(deadline));
                if wake > now {
                    std::thread::sleep((wake - now).min(Duration::from_millis(20)));
                }
            }
        }
    }

    fn run_requests(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |h| h.capp.all_done())
    }

    fn assert_no_app_errors(&self) {
        assert!(
            self.capp.errors.is_empty(),
            "client: {:?}",
            self.capp.errors
        );
        assert!(
            self.sapp.errors.is_empty(),
            "server: {:?}",
            self.sapp.errors
        );
    }
}

/// A download of `len` bytes through the harness.
fn download(
    len: u64,
    server: Limits,
    max_segments: usize,
    buf_len: usize,
    delivery: Delivery,
) -> Harness {
    let path = format!("/bytes/{len}");
    let mut h = Harness::new(
        test_limits(),
        server,
        [RequestSpec::get(&path)],
        max_segments,
        buf_len,
        delivery,
    );
    assert!(
        h.run_requests(Duration::from_secs(30)),
        "download of {len} did not finish: {:?}",
        h.capp.exchanges
    );
    h.assert_no_app_errors();
    assert_pattern_body(first_exchange(&h.capp), len);
    h
}

// ---------------------------------------------------------------------------
// 1. TLS verification
// ---------------------------------------------------------------------------

/// A simulation of a server and a client endpoint, the client connecting
/// with `server_name`.
fn tls_sim(client: Config, server: Config, server_name: &str) -> (Sim, NodeId, NodeId, ConnHandle) {
    let mut sim = Sim::new(1, LinkConfig::default());
    let s = sim.add_node(Endpoint::new(server), server_addr());
    let c = sim.add_node(Endpoint::new(client), client_addr());
    let conn = sim.nodes[c]
        .endpoint
        .connect(
            wall_now(),
            client_addr(),
            server_addr(),
            server_name,
            ConnectOptions::default(),
        )
        .expect("connect");
    (sim, c, s, conn)
}

/// Runs one GET through a client config against a server of `server_pki`.
fn assert_request_succeeds(client: Config, server_pki: &TestPki) {
    let server = Config::server(server_pki.server_tls(), test_limits()).expect("server config");
    let (mut sim, c, s, conn) = tls_sim(client, server, "localhost");
    sim.set_app(s, ServerApp::new());
    sim.set_app(c, ClientApp::new([RequestSpec::get("/bytes/3000")]));
    let done = sim.run_until(Duration::from_secs(5), |sim| {
        sim.app::<ClientApp>(c).is_some_and(|a| a.all_done())
    });
    assert!(done, "request did not finish");
    let app = sim.app::<ClientApp>(c).expect("client app");
    assert!(app.errors.is_empty(), "{:?}", app.errors);
    assert_eq!(app.connected, vec![conn]);
    assert!(app.closed.is_empty(), "{:?}", app.closed);
    assert_pattern_body(first_exchange(app), 3000);
}

fn kinds(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| format!("{:?}", e.kind)).collect()
}

/// The handshake fails: the client closes with the crypto error `code`
/// (a TLS alert, not an application code), the server sees the same code
/// from its peer, and neither side ever reports `Connected`.
fn assert_handshake_fails(client: Config, server: Config, server_name: &str, code: u64) {
    let (mut sim, c, s, conn) = tls_sim(client, server, server_name);
    let closed = |evs: &std::collections::VecDeque<Event>| {
        evs.iter()
            .any(|e| matches!(e.kind, EventKind::Closed { .. }))
    };
    let done = sim.run_until(Duration::from_secs(5), |sim| {
        closed(&sim.nodes[c].events) && closed(&sim.nodes[s].events)
    });
    let cev: Vec<Event> = sim.nodes[c].events.drain(..).collect();
    let sev: Vec<Event> = sim.nodes[s].events.drain(..).collect();
    assert!(
        done,
        "both sides must close: client {:?} server {:?}",
        kinds(&cev),
        kinds(&sev)
    );
    assert!((0x100..=0x1ff).contains(&code));

    // Client: nothing but its close, with the alert it sent.
    assert_eq!(cev.len(), 1, "client events: {:?}", kinds(&cev));
    assert_eq!(cev[0].conn, conn);
    match &cev[0].kind {
        EventKind::Closed { reason } => {
            assert_eq!(*reason, CloseReason::Local { code, app: false })
        }
        other => panic!("client: {other:?}"),
    }
    // Server: accepted, then closed by the peer with the same code.
    assert_eq!(sev.len(), 2, "server events: {:?}", kinds(&sev));
    assert!(matches!(sev[0].kind, EventKind::Accepted));
    match &sev[1].kind {
        EventKind::Closed {
            reason: CloseReason::PeerTransport { code: got, .. },
        } => assert_eq!(*got, code),
        other => panic!("server: {other:?}"),
    }
    assert_eq!(sev[1].conn, sev[0].conn);
    for ep in [&sim.nodes[c].endpoint, &sim.nodes[s].endpoint] {
        let st = ep.stats();
        assert_eq!(ep.connection_count(), 0);
        assert_eq!((st.connections_opened, st.connections_closed), (1, 1));
        assert_eq!(st.established, 0);
    }
}

/// `ClientTls::CaFile` with the server's CA in a PEM file verifies and
/// serves a request.
#[test]
fn ca_file_client_connects() {
    let pki = TestPki::new(&["localhost"]);
    let file = TempFile::new("ca", &pki.ca_pem);
    let client = Config::client(ClientTls::CaFile(file.0.clone()), test_limits())
        .expect("client config from CA file");
    assert_request_succeeds(client, &pki);
}

/// A CA file that does not exist is a config error, not a client that
/// trusts nothing.
#[test]
fn missing_ca_file_is_a_config_error() {
    let path =
        std::env::temp_dir().join(format!("filo-transport-missing-{}.pem", std::process::id()));
    assert!(!path.exists());
    let r = Config::client(ClientTls::CaFile(path), test_limits());
    assert!(r.is_err(), "{r:?}");
}

/// A self-signed CA named unlike the `TestPki` ones, as PEM.
fn foreign_ca_pem() -> String {
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "some other CA");
    params.self_signed(&key).expect("self-signed CA").pem()
}

/// A client trusting a second `TestPki`'s CA (from a file) rejects the
/// server's chain. Both CAs carry the same name, so BoringSSL finds the
/// trusted one as the issuer and its signature check fails: the client
/// closes with `decrypt_error` (0x133) and the server sees the same code.
#[test]
fn untrusted_ca_fails_the_handshake() {
    let server_pki = TestPki::new(&["localhost"]);
    let other = TestPki::new(&["localhost"]);
    let file = TempFile::new("other-ca", &other.ca_pem);
    let client = Config::client(ClientTls::CaFile(file.0.clone()), test_limits()).expect("client");
    let server = Config::server(server_pki.server_tls(), test_limits()).expect("server");
    assert_handshake_fails(client, server, "localhost", CRYPTO_DECRYPT_ERROR);
}

/// The same with the second `TestPki`'s CA given in memory.
#[test]
fn untrusted_ca_in_memory_fails_the_handshake() {
    let server_pki = TestPki::new(&["localhost"]);
    let other = TestPki::new(&["localhost"]);
    let client = Config::client(other.client_tls(), test_limits()).expect("client");
    let server = Config::server(server_pki.server_tls(), test_limits()).expect("server");
    assert_handshake_fails(client, server, "localhost", CRYPTO_DECRYPT_ERROR);
}

/// A client trusting only an unrelated, differently named CA finds no
/// trusted root for the chain: `unknown_ca` (0x130) on both sides.
#[test]
fn unrelated_ca_fails_the_handshake_with_unknown_ca() {
    let server_pki = TestPki::new(&["localhost"]);
    let file = TempFile::new("foreign-ca", &foreign_ca_pem());
    let client = Config::client(ClientTls::CaFile(file.0.clone()), test_limits()).expect("client");
    let server = Config::server(server_pki.server_tls(), test_limits()).expect("server");
    assert_handshake_fails(client, server, "localhost", CRYPTO_UNKNOWN_CA);
}

/// A certificate for "localhost" does not pass for "example.com":
/// `bad_certificate` (0x12a) on both sides.
#[test]
fn wrong_server_name_fails_the_handshake() {
    let pki = TestPki::new(&["localhost"]);
    let file = TempFile::new("ca-name", &pki.ca_pem);
    let client = Config::client(ClientTls::CaFile(file.0.clone()), test_limits()).expect("client");
    let server = Config::server(pki.server_tls(), test_limits()).expect("server");
    assert_handshake_fails(client, server, "example.com", CRYPTO_BAD_CERTIFICATE);
}

/// Without verification the client talks to a server whose CA it does not
/// know.
#[test]
fn insecure_no_verify_connects_to_an_unknown_ca() {
    let pki = TestPki::new(&["localhost"]);
    let client = Config::client(ClientTls::InsecureNoVerify, test_limits()).expect("client");
    assert_request_succeeds(client, &pki);
}

/// The system roots load (no network involved).
#[test]
fn system_roots_config_builds() {
    let cfg = Config::client(ClientTls::SystemRoots, test_limits());
    let cfg = cfg.expect("system roots config");
    assert_eq!(cfg.role(), filo_core::Role::Client);
    let mut ep = Endpoint::new(cfg);
    ep.connect(
        wall_now(),
        client_addr(),
        server_addr(),
        "example.com",
        ConnectOptions::default(),
    )
    .expect("connect with system roots");
    assert_eq!(ep.stats().handshaking, 1);
}

// ---------------------------------------------------------------------------
// 2. GSO
// ---------------------------------------------------------------------------

const GSO_BUF: usize = 65536;

/// 2 MiB with up to 16 segments per transmit: every transmit keeps the
/// batch invariants, every segment is accepted by the client on its own,
/// real batches occur, and the body matches the one sent without GSO.
#[test]
fn gso_batches_are_well_formed_and_carry_the_same_body() {
    let len = 2 * MIB;
    let gso = download(len, test_limits(), 16, GSO_BUF, Delivery::OneByOne);
    let log = &gso.log;
    eprintln!(
        "GSO on: {} transmits, {} segments, {} batches, max {} segments",
        log.transmits, log.segments, log.batches, log.max_segments_seen
    );
    assert!(log.batches > 0, "no transmit carried more than one segment");
    assert!(log.max_segments_seen > 1 && log.max_segments_seen <= 16);
    assert!(log.segments > log.transmits);
    assert!(!log.short_dcids.is_empty());
    let s = gso.server.stats();
    assert_eq!(
        s.datagrams_out, log.segments,
        "datagrams_out counts segments"
    );
    assert_eq!(gso.delivered, log.segments);
    assert_eq!(gso.client.stats().datagrams_in, log.segments);

    let plain = download(len, test_limits(), 1, GSO_BUF, Delivery::OneByOne);
    let plog = &plain.log;
    assert_eq!(plog.batches, 0);
    assert_eq!(plog.max_segments_seen, 1);
    assert_eq!(plog.transmits, plog.segments);
    assert_eq!(
        first_exchange(&gso.capp).body.sha256,
        first_exchange(&plain.capp).body.sha256
    );
}

/// A buffer too small for 16 full segments bounds the batch: never more
/// bytes than the buffer, never more segments than fit.
#[test]
fn gso_batches_fit_a_short_buffer() {
    let buf_len = 5 * MAX_UDP_PAYLOAD + 700;
    let h = download(MIB, test_limits(), 16, buf_len, Delivery::OneByOne);
    assert!(h.log.batches > 0);
    assert!(
        h.log.max_segments_seen <= 5,
        "{} segments in a {buf_len}-byte buffer",
        h.log.max_segments_seen
    );
}

// ---------------------------------------------------------------------------
// 3. GRO
// ---------------------------------------------------------------------------

/// The client receives the server's datagrams coalesced into GRO batches:
/// the body is intact and each segment is counted as a datagram.
#[test]
fn gro_batches_are_split_and_counted() {
    let len = 2 * MIB;
    let gro = download(len, test_limits(), 1, GSO_BUF, Delivery::Gro);
    eprintln!(
        "GRO: {} datagrams in {} calls ({} with several)",
        gro.delivered, gro.gro.calls, gro.gro.multi
    );
    assert!(gro.gro.multi > 0, "no GRO batch held several datagrams");
    assert!(gro.gro.calls < gro.delivered);
    let cs = gro.client.stats();
    assert_eq!(cs.datagrams_in, gro.delivered);
    assert_eq!(gro.server.stats().datagrams_out, gro.delivered);
    assert_eq!(cs.dropped, DropCounters::default());

    let single = download(len, test_limits(), 1, GSO_BUF, Delivery::OneByOne);
    assert_eq!(
        first_exchange(&gro.capp).body.sha256,
        first_exchange(&single.capp).body.sha256
    );
    assert_eq!(single.client.stats().datagrams_in, single.delivered);
}

// ---------------------------------------------------------------------------
// 4. Pacing
// ---------------------------------------------------------------------------

/// Under BBRv2 (which paces), 4 MiB arrive intact and no transmit's
/// release time lies beyond `now + pacing_horizon`.
#[test]
fn bbr2_pacing_release_times_stay_within_the_horizon() {
    let mut server = test_limits();
    server.congestion_control = CongestionControl::Bbr2;
    let horizon = server.pacing_horizon;
    assert_eq!(horizon, Duration::from_millis(2));
    let h = download(4 * MIB, server, 16, GSO_BUF, Delivery::OneByOne);
    eprintln!(
        "BBRv2: {} transmits, {} with a release time, {} batches",
        h.log.transmits, h.log.with_release, h.log.batches
    );
}

// ---------------------------------------------------------------------------
// 5. HTTP/3 DATAGRAMs
// ---------------------------------------------------------------------------

fn drain_events(sim: &mut Sim, node: NodeId, log: &mut Vec<Event>) {
    log.extend(sim.nodes[node].events.drain(..));
}

fn count_datagram_events(log: &[Event]) -> usize {
    log.iter()
        .filter(|e| matches!(e.kind, EventKind::Datagrams))
        .count()
}

/// Connects a bare pair (no apps) and opens one request whose response the
/// server holds back; returns the server's connection and the stream.
fn open_request(
    p: &mut Pair,
    clog: &mut Vec<Event>,
    slog: &mut Vec<Event>,
) -> (ConnHandle, StreamId) {
    let (c, s) = (p.client, p.server);
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        let cc = sim.nodes[c]
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Connected));
        let sc = sim.nodes[s]
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Connected));
        cc && sc
    });
    assert!(ok, "handshake did not finish");
    drain_events(&mut p.sim, c, clog);
    drain_events(&mut p.sim, s, slog);
    let conn = p.conn;
    let stream = p
        .client_ep()
        .conn(conn)
        .expect("client conn")
        .send_request(&get_head("/held"), true)
        .expect("send_request");
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        sim.nodes[s]
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Request { .. }))
    });
    assert!(ok, "request did not arrive");
    let before = slog.len();
    drain_events(&mut p.sim, s, slog);
    let (sconn, sstream) = slog[before..]
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Request { stream, .. } => Some((e.conn, stream)),
            _ => None,
        })
        .expect("request event");
    assert_eq!(sstream, stream);
    (sconn, stream)
}

fn recv_all_datagrams(ep: &mut Endpoint, conn: ConnHandle) -> Vec<(StreamId, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    let mut c = ep.conn(conn).expect("conn");
    while let Some((stream, n)) = c.recv_datagram(&mut buf).expect("recv_datagram") {
        out.push((stream, buf[..n].to_vec()));
    }
    out
}

/// DATAGRAMs both ways on a request stream, one `Datagrams` event per
/// undrained queue, and the request itself completes afterwards.
#[test]
fn datagrams_both_ways_with_one_event_per_drain() {
    let mut cfg = PairConfig::default();
    cfg.client.datagram_queues = Some((64, 64));
    cfg.server.datagram_queues = Some((64, 64));
    let mut p = Pair::new(cfg);
    let (c, s) = (p.client, p.server);
    let (mut clog, mut slog) = (Vec::new(), Vec::new());
    let (sconn, stream) = open_request(&mut p, &mut clog, &mut slog);
    let conn = p.conn;

    // Client -> server.
    p.client_ep()
        .conn(conn)
        .expect("conn")
        .send_datagram(stream, b"ping")
        .expect("send_datagram");
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        sim.nodes[s]
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Datagrams))
    });
    assert!(ok, "no Datagrams event on the server");
    let before = slog.len();
    drain_events(&mut p.sim, s, &mut slog);
    assert_eq!(count_datagram_events(&slog[before..]), 1);
    {
        let mut buf = [0u8; 64];
        let mut sc = p.server_ep().conn(sconn).expect("server conn");
        assert_eq!(sc.recv_datagram(&mut buf), Ok(Some((stream, 4))));
        assert_eq!(&buf[..4], b"ping");
        assert_eq!(sc.recv_datagram(&mut buf), Ok(None));
        sc.send_datagram(stream, b"pong")
            .expect("server send_datagram");
    }

    // Server -> client.
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        sim.nodes[c]
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Datagrams))
    });
    assert!(ok, "no Datagrams event on the client");
    let before = clog.len();
    drain_events(&mut p.sim, c, &mut clog);
    assert_eq!(count_datagram_events(&clog[before..]), 1);
    assert_eq!(
        recv_all_datagrams(p.client_ep(), conn),
        vec![(stream, b"pong".to_vec())]
    );

    // Three datagrams in three separate flights, the server not draining:
    // still a single event.
    let before = slog.len();
    for payload in [b"a1".as_slice(), b"b22", b"c333"] {
        let in_before = p.server_ep().stats().datagrams_in;
        p.client_ep()
            .conn(conn)
            .expect("conn")
            .send_datagram(stream, payload)
            .expect("send_datagram");
        let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
            sim.nodes[s].endpoint.stats().datagrams_in > in_before
        });
        assert!(ok);
        p.sim.run_for(Duration::from_millis(20));
        drain_events(&mut p.sim, s, &mut slog);
    }
    assert_eq!(
        count_datagram_events(&slog[before..]),
        1,
        "server events: {:?}",
        kinds(&slog[before..])
    );
    assert_eq!(
        recv_all_datagrams(p.server_ep(), sconn),
        vec![
            (stream, b"a1".to_vec()),
            (stream, b"b22".to_vec()),
            (stream, b"c333".to_vec()),
        ]
    );
    // Drained: the next datagram raises a new event.
    let before = slog.len();
    p.client_ep()
        .conn(conn)
        .expect("conn")
        .send_datagram(stream, b"d")
        .expect("send_datagram");
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        sim.nodes[s]
            .events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Datagrams))
    });
    assert!(ok, "no second Datagrams event");
    drain_events(&mut p.sim, s, &mut slog);
    assert_eq!(count_datagram_events(&slog[before..]), 1);
    assert_eq!(
        recv_all_datagrams(p.server_ep(), sconn),
        vec![(stream, b"d".to_vec())]
    );

    // The request stream itself still works.
    {
        let mut sc = p.server_ep().conn(sconn).expect("server conn");
        sc.send_response(stream, &[(":status", "200")], false)
            .expect("send_response");
        assert_eq!(sc.send_body(stream, b"done", true), Ok(4));
    }
    let has = |sim: &Sim, want: fn(&EventKind, StreamId) -> bool| {
        sim.nodes[c].events.iter().any(|e| want(&e.kind, stream))
    };
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        has(
            sim,
            |k, s| matches!(k, EventKind::Data { stream } if *stream == s),
        )
    });
    assert!(ok, "response body did not arrive");
    let mut body = Vec::new();
    {
        let mut cc = p.client_ep().conn(conn).expect("conn");
        let mut buf = [0u8; 64];
        loop {
            let n = cc.recv_body(stream, &mut buf).expect("recv_body");
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buf[..n]);
        }
    }
    assert_eq!(body, b"done");
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        has(
            sim,
            |k, s| matches!(k, EventKind::Finished { stream } if *stream == s),
        )
    });
    assert!(ok, "response did not finish");
    let before = clog.len();
    drain_events(&mut p.sim, c, &mut clog);
    let response: Vec<_> = clog[before..]
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Response {
                stream: s,
                headers,
                fin,
            } if *s == stream => Some((headers.status(), *fin)),
            _ => None,
        })
        .collect();
    assert_eq!(response, vec![(Some(200), false)]);
    drain_events(&mut p.sim, c, &mut clog);
    drain_events(&mut p.sim, s, &mut slog);
    for ev in clog.iter().chain(&slog) {
        assert!(
            !matches!(ev.kind, EventKind::Closed { .. }),
            "closed: {ev:?}"
        );
    }
}

/// Asserts `send_datagram` reports `Disabled` on both sides of a pair
/// whose DATAGRAM support is on only where the flags say.
fn assert_datagrams_disabled(client_on: bool, server_on: bool) {
    let mut cfg = PairConfig::default();
    if client_on {
        cfg.client.datagram_queues = Some((64, 64));
    }
    if server_on {
        cfg.server.datagram_queues = Some((64, 64));
    }
    let mut p = Pair::new(cfg);
    let (mut clog, mut slog) = (Vec::new(), Vec::new());
    let (sconn, stream) = open_request(&mut p, &mut clog, &mut slog);
    let conn = p.conn;
    assert_eq!(
        p.client_ep()
            .conn(conn)
            .expect("conn")
            .send_datagram(stream, b"ping"),
        Err(DatagramError::Disabled),
        "client (client {client_on}, server {server_on})"
    );
    assert_eq!(
        p.server_ep()
            .conn(sconn)
            .expect("conn")
            .send_datagram(stream, b"pong"),
        Err(DatagramError::Disabled),
        "server (client {client_on}, server {server_on})"
    );
    // The connection is unaffected.
    assert!(p.client_ep().conn(conn).is_some_and(|c| !c.is_closing()));
    assert!(p.server_ep().conn(sconn).is_some_and(|c| !c.is_closing()));
}

/// With DATAGRAM support off (the default) `send_datagram` says so, on
/// both sides.
#[test]
fn datagrams_disabled_by_default() {
    assert_datagrams_disabled(false, false);
}

/// Enabled on one side only: the side without it has it off in its
/// config, the other side's peer did not offer it: `Disabled` both ways
/// (`DatagramError::Disabled` documents both cases).
#[test]
fn datagrams_disabled_when_only_one_side_enables_them() {
    assert_datagrams_disabled(false, true);
    assert_datagrams_disabled(true, false);
}

// ---------------------------------------------------------------------------
// 6. Connection IDs
// ---------------------------------------------------------------------------

/// DCIDs the client used towards the server.
#[derive(Debug, Default)]
struct ClientDcids {
    short: BTreeSet<Vec<u8>>,
    /// DCID of the client's first Initial (chosen by the client).
    original: Option<Vec<u8>>,
}

/// 10 MiB with no datagram dropped for an unknown CID (or any reason) on
/// either side; the client's original DCID stops routing once the
/// handshake is done; every DCID the client used routes while the
/// connection lives and stops routing once it has closed.
#[test]
fn cids_route_during_a_transfer_and_unroute_after_close() {
    let len = 10 * MIB;
    let mut p = Pair::with_apps(
        PairConfig::default(),
        [RequestSpec::get(&format!("/bytes/{len}"))],
    );
    let seen = Rc::new(RefCell::new(ClientDcids::default()));
    let hook_seen = Rc::clone(&seen);
    let server = server_addr();
    p.sim.transmit_hook = Some(Box::new(move |t: &Transmit, bytes: &[u8]| {
        if t.to != server {
            return;
        }
        let mut seen = hook_seen.borrow_mut();
        for seg in bytes.chunks(t.segment_size.max(1)) {
            match parse_packet(seg) {
                Parsed::Short { dcid } => {
                    seen.short.insert(dcid);
                }
                Parsed::Long { ty: 0, dcid } => {
                    seen.original.get_or_insert(dcid);
                }
                Parsed::Long { .. } => {}
            }
        }
    }));
    assert!(
        p.run_requests(Duration::from_secs(60)),
        "transfer did not finish"
    );
    let conn = p.conn;
    {
        let app = p.client_app();
        assert!(app.errors.is_empty(), "{:?}", app.errors);
        assert_pattern_body(first_exchange(app), len);
    }
    let sconn = p.server_app().accepted[0];
    assert_eq!(p.client_ep().stats().dropped, DropCounters::default());
    assert_eq!(p.server_ep().stats().dropped, DropCounters::default());
    assert_eq!(
        p.client_ep().conn(conn).expect("conn").stats().recv_errors,
        0
    );
    assert_eq!(
        p.server_ep().conn(sconn).expect("conn").stats().recv_errors,
        0
    );

    let (short, original) = {
        let s = seen.borrow();
        (
            s.short.clone(),
            s.original.clone().expect("client Initial seen"),
        )
    };
    eprintln!("client used {} short-header DCID(s)", short.len());
    assert!(!short.is_empty());
    for d in &short {
        assert_eq!(d.len(), CID_LEN);
    }
    assert!(
        !short.contains(&original),
        "original DCID used after the handshake"
    );

    let stray = sa("10.0.0.9:5555");
    let inject = |p: &mut Pair, dcid: &[u8], from: SocketAddr| {
        let mut d = short_packet(dcid, 100);
        p.server_ep()
            .handle_datagram(wall_now(), RecvMeta::new(server, from), &mut d);
    };

    // The client's original DCID was unrouted when the handshake completed.
    let before = p.server_ep().stats().dropped.unknown_cid;
    inject(&mut p, &original, stray);
    assert_eq!(p.server_ep().stats().dropped.unknown_cid, before + 1);

    // Live: every DCID the client used still routes (the garbage packet is
    // the connection's to discard).
    let before = p.server_ep().stats();
    for d in &short {
        inject(&mut p, d, client_addr());
    }
    let after = p.server_ep().stats();
    assert_eq!(after.dropped, before.dropped);
    assert_eq!(after.resets_sent, before.resets_sent);
    // ... and the connection carries on.
    {
        let (app, ep) = p
            .sim
            .app_and_endpoint::<ClientApp>(p.client)
            .expect("client app");
        app.queue(RequestSpec::get("/bytes/1000"));
        app.send_pending(ep, conn);
    }
    assert!(p.run_requests(Duration::from_secs(5)));
    {
        let app = p.client_app();
        let ex = &app.exchanges[&app.order[1]];
        assert_pattern_body(ex, 1000);
    }

    // Close, wait for both sides to be gone.
    p.client_ep()
        .conn(conn)
        .expect("conn")
        .close(code::H3_NO_ERROR, b"bye");
    let (c, s) = (p.client, p.server);
    let ok = p.sim.run_until(Duration::from_secs(5), |sim| {
        sim.app::<ClientApp>(c)
            .is_some_and(|a| !a.closed.is_empty())
            && sim
                .app::<ServerApp>(s)
                .is_some_and(|a| !a.closed.is_empty())
    });
    assert!(ok, "connection did not close");
    assert_eq!(
        p.server_app().closed,
        vec![(
            sconn,
            CloseReason::PeerApplication {
                code: code::H3_NO_ERROR,
                reason: b"bye".to_vec()
            }
        )]
    );
    assert!(p.server_ep().conn(sconn).is_none());
    assert_eq!(p.server_ep().connection_count(), 0);

    // Closed: the same DCIDs are unknown now.
    let before = p.server_ep().stats();
    for d in &short {
        inject(&mut p, d, stray);
    }
    let after = p.server_ep().stats();
    assert_eq!(
        after.dropped.unknown_cid,
        before.dropped.unknown_cid + short.len() as u64
    );
    assert_eq!(after.resets_sent, before.resets_sent + short.len() as u64);
}

// ---------------------------------------------------------------------------
// 7. Connections by state
// ---------------------------------------------------------------------------

/// (handshaking, established, closing)
fn states(ep: &Endpoint) -> (u64, u64, u64) {
    let s = ep.stats();
    (s.handshaking, s.established, s.closing)
}

fn counts(ep: &Endpoint) -> (u64, u64) {
    let s = ep.stats();
    (s.connections_opened, s.connections_closed)
}

fn idle_harness() -> Harness {
    Harness::new(
        test_limits(),
        test_limits(),
        Vec::<RequestSpec>::new(),
        16,
        GSO_BUF,
        Delivery::OneByOne,
    )
}

/// Drives the handshake so that the client is established and the server
/// not yet (the client's Finished not delivered).
fn handshake_until_client_connected(h: &mut Harness) {
    let deadline = wall_now() + Duration::from_secs(5);
    loop {
        assert!(wall_now() < deadline, "client never connected");
        h.server_out();
        h.events();
        if h.capp.connected.contains(&h.conn) {
            return;
        }
        h.client_out();
        h.timers();
        h.events();
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Connection counts by state through one connection's life, on both
/// sides, with the opened/closed counters.
#[test]
fn stats_count_connections_by_state() {
    let mut h = idle_harness();
    assert_eq!(states(&h.client), (1, 0, 0));
    assert_eq!(counts(&h.client), (1, 0));
    assert_eq!(states(&h.server), (0, 0, 0));
    assert_eq!(counts(&h.server), (0, 0));

    // The client's first flight creates the server's connection.
    assert!(h.client_out() > 0);
    h.events();
    assert_eq!(h.sapp.accepted.len(), 1);
    assert_eq!(states(&h.server), (1, 0, 0));
    assert_eq!(counts(&h.server), (1, 0));
    assert_eq!(states(&h.client), (1, 0, 0));

    handshake_until_client_connected(&mut h);
    assert_eq!(states(&h.client), (0, 1, 0));
    assert_eq!(states(&h.server), (1, 0, 0), "server saw no Finished yet");
    assert!(h.sapp.connected.is_empty());

    h.client_out();
    h.events();
    assert_eq!(h.sapp.connected, h.sapp.accepted);
    assert_eq!(states(&h.server), (0, 1, 0));
    // Let everything settle (HANDSHAKE_DONE, SETTINGS, ACKs).
    h.run_until(Duration::from_millis(100), |_| false);
    assert_eq!(states(&h.client), (0, 1, 0));
    assert_eq!(states(&h.server), (0, 1, 0));

    h.client
        .conn(h.conn)
        .expect("conn")
        .close(code::H3_NO_ERROR, b"");
    assert_eq!(states(&h.client), (0, 0, 1));
    assert_eq!(states(&h.server), (0, 1, 0));
    assert!(h.client_out() > 0, "no CONNECTION_CLOSE sent");
    assert_eq!(states(&h.server), (0, 0, 1), "server draining");
    assert_eq!(counts(&h.client), (1, 0));
    assert_eq!(counts(&h.server), (1, 0));

    let ok = h.run_until(Duration::from_secs(5), |h| {
        !h.capp.closed.is_empty() && !h.sapp.closed.is_empty()
    });
    assert!(ok, "did not close");
    assert_eq!(
        h.capp.closed,
        vec![(
            h.conn,
            CloseReason::Local {
                code: code::H3_NO_ERROR,
                app: true
            }
        )]
    );
    for ep in [&h.client, &h.server] {
        assert_eq!(states(ep), (0, 0, 0));
        assert_eq!(counts(ep), (1, 1));
        assert_eq!(ep.connection_count(), 0);
    }
}

// ---------------------------------------------------------------------------
// 8. Handles and generations
// ---------------------------------------------------------------------------

/// A closed connection's handle stays dead after a new connection reuses
/// its slot; the new handle differs and works, on both sides.
#[test]
fn closed_handles_stay_dead_when_slots_are_reused() {
    let mut h = idle_harness();
    let first = h.conn;
    assert!(
        h.run_until(Duration::from_secs(5), |h| !h.sapp.connected.is_empty()
            && h.capp.connected.contains(&first))
    );
    h.client
        .conn(first)
        .expect("conn")
        .close(code::H3_NO_ERROR, b"");
    let ok = h.run_until(Duration::from_secs(5), |h| {
        !h.capp.closed.is_empty() && !h.sapp.closed.is_empty()
    });
    assert!(ok, "first connection did not close");
    let sfirst = h.sapp.accepted[0];
    assert!(h.client.conn(first).is_none());
    assert!(h.server.conn(sfirst).is_none());
    assert_eq!(h.client.handles().count(), 0);

    let second = h
        .client
        .connect(
            wall_now(),
            client_addr(),
            server_addr(),
            "localhost",
            ConnectOptions::default(),
        )
        .expect("second connect");
    assert_eq!(second.index(), first.index(), "slot reused");
    assert_ne!(second, first, "new generation");
    assert!(h.client.conn(first).is_none());
    assert!(h.client.conn(second).is_some());
    assert_eq!(h.client.handles().collect::<Vec<_>>(), vec![second]);

    h.conn = second;
    h.capp.queue(RequestSpec::get("/bytes/2000"));
    assert!(h.run_requests(Duration::from_secs(5)), "second request");
    h.assert_no_app_errors();
    assert_eq!(h.capp.connected, vec![first, second]);
    assert_eq!(h.capp.order.len(), 1);
    assert_eq!(h.capp.order[0].0, second);
    assert_pattern_body(first_exchange(&h.capp), 2000);

    assert_eq!(h.sapp.accepted.len(), 2);
    let ssecond = h.sapp.accepted[1];
    assert_eq!(ssecond.index(), sfirst.index(), "server slot reused");
    assert_ne!(ssecond, sfirst);
    assert!(h.server.conn(sfirst).is_none());
    assert!(h.server.conn(ssecond).is_some());
    assert!(h.client.conn(first).is_none());
    assert_eq!(counts(&h.client), (2, 1));
    assert_eq!(counts(&h.server), (2, 1));
}
