//! Fuzz target bodies (`fuzz` feature). `fuzz/fuzz_targets/*.rs` are thin
//! wrappers around these; ordinary `cargo test`/clippy compile them with
//! the feature on, so they never rot.
//!
//! Inputs use a simple framing (below) rather than `arbitrary`, so the
//! corpus generator can write seeds that are real exchanges: a record is
//! `[len: u16 BE][meta: u8][time step: u8][len bytes]`. `h3_api_ops` alone
//! decodes an `arbitrary` sequence of [`Op`]s.
//!
//! Build the targets with quiche's `fuzzing` feature (packet protection
//! off, so fuzzed bytes reach frame parsing): only `fuzz/Cargo.toml` names
//! it. Without it the targets still run, against encrypted packets.

// Targets are callers of filo-core: they read the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::fuzz_support::{RetryTokenCheck, TokenRefusal};
use filo_core::validate::{validate_request, validate_response, validate_trailers};
use filo_core::{Config, ConnectOptions, Endpoint, Limits, RecvMeta, RetryMode};

use crate::api_model::{ApiModel, Op, check_batch};
use crate::certs::TestPki;

/// Where fuzzed datagrams come from: a few addresses, so per-IP caps and
/// address-bound tokens are reachable.
const PEERS: [&str; 4] = [
    "10.0.0.1:40000",
    "10.0.0.1:40001",
    "10.0.0.3:5000",
    "[fd00::1]:443",
];
const SERVER: &str = "10.0.0.2:443";

/// One framed record of a fuzz input.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Free byte: address choice, flags.
    pub meta: u8,
    /// Milliseconds to advance filo's clock first.
    pub step: u8,
    /// The payload (a datagram, a frame payload...).
    pub data: &'a [u8],
}

/// Splits an input into records; a trailing partial record is dropped.
pub fn records(mut input: &[u8]) -> impl Iterator<Item = Record<'_>> {
    std::iter::from_fn(move || {
        if input.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_be_bytes([input[0], input[1]]));
        let (meta, step) = (input[2], input[3]);
        let data = input.get(4..4 + len)?;
        input = &input[4 + len..];
        Some(Record { meta, step, data })
    })
}

/// Frames records (the inverse of [`records`]), for corpus generation.
pub fn frame(records: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (meta, step, data) in records {
        let len = data.len().min(u16::MAX as usize);
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.push(*meta);
        out.push(*step);
        out.extend_from_slice(&data[..len]);
    }
    out
}

thread_local! {
    static TLS: TestPki = TestPki::new(&["localhost"]);
    static ENDPOINTS: std::cell::RefCell<Vec<(&'static str, Config)>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn fuzz_limits() -> Limits {
    let mut l = Limits::default();
    l.initial_rtt = Duration::from_millis(10);
    l.max_connections = 8;
    l.max_connections_per_ip = 3;
    l.max_pending_handshakes = 4;
    l.abnormal_stream_budget = 16;
    l.handshake_timeout = Duration::from_millis(500);
    l.retry = RetryMode::AboveHandshakes(2);
    l
}

/// An endpoint from a per-thread cached config of `kind` (TLS contexts are
/// built once per process, not per input).
fn endpoint(kind: &'static str) -> Endpoint {
    let cached = ENDPOINTS.with(|e| {
        let mut e = e.borrow_mut();
        e.iter()
            .position(|(k, _)| *k == kind)
            .map(|i| e.swap_remove(i).1)
    });
    let cfg = cached.unwrap_or_else(|| {
        TLS.with(|pki| match kind {
            "server" => Config::server(pki.server_tls(), fuzz_limits()).expect("server config"),
            _ => Config::client(pki.client_tls(), fuzz_limits()).expect("client config"),
        })
    });
    Endpoint::new(cfg)
}

fn give_back(kind: &'static str, ep: Endpoint) {
    let cfg = ep.into_config();
    ENDPOINTS.with(|e| e.borrow_mut().push((kind, cfg)));
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("address")
}

/// Builds every per-thread cache (TLS contexts, configs) now. Wrappers call
/// it before resetting BoringSSL's fuzzing RNG so that every input, the
/// first included, starts from the same state and crashes replay.
pub fn init() {
    give_back("server", endpoint("server"));
    give_back("client", endpoint("client"));
    crate::api_model::warm();
}

/// Drains an endpoint's transmits (checking each batch) and events.
fn drain(ep: &mut Endpoint, now: Instant, buf: &mut [u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(t) = ep.poll_transmit(now, buf, 8) {
        if let Err(v) = check_batch(&t, &buf[..t.len]) {
            panic!("transmit invariant: {v}");
        }
        out.extend(buf[..t.len].chunks(t.segment_size).map(<[u8]>::to_vec));
    }
    while ep.poll_event().is_some() {}
    out
}

/// Target 1: datagrams from a few addresses into a server endpoint:
/// routing, version negotiation, Retry and tokens, stateless resets, caps.
pub fn server_datagrams(input: &[u8]) {
    let mut ep = endpoint("server");
    let server = addr(SERVER);
    let mut now = Instant::now();
    let mut buf = vec![0u8; 65536];
    for r in records(input).take(64) {
        now += Duration::from_millis(u64::from(r.step));
        let peer = addr(PEERS[usize::from(r.meta) % PEERS.len()]);
        let mut d = r.data.to_vec();
        ep.handle_datagram(now, RecvMeta::new(server, peer), &mut d);
        drain(&mut ep, now, &mut buf);
        if r.meta & 0x80 != 0 {
            ep.handle_timeout(now);
        }
        assert!(ep.connection_count() <= 8, "max_connections broken");
    }
    give_back("server", ep);
}

/// Target 2: datagrams from "the server" into a client endpoint in the
/// middle of its handshake.
pub fn client_datagrams(input: &[u8]) {
    let mut ep = endpoint("client");
    let (client, server) = (addr(PEERS[0]), addr(SERVER));
    let mut now = Instant::now();
    let _ = ep.connect(now, client, server, "localhost", ConnectOptions::default());
    let mut buf = vec![0u8; 65536];
    drain(&mut ep, now, &mut buf);
    for r in records(input).take(64) {
        now += Duration::from_millis(u64::from(r.step));
        let from = if r.meta & 1 == 0 {
            server
        } else {
            addr(PEERS[2])
        };
        let mut d = r.data.to_vec();
        ep.handle_datagram(now, RecvMeta::new(client, from), &mut d);
        drain(&mut ep, now, &mut buf);
        if r.meta & 0x80 != 0 {
            ep.handle_timeout(now);
        }
    }
    give_back("client", ep);
}

/// The server's CID after a real handshake, and the pair.
struct Connected {
    client: Endpoint,
    server: Endpoint,
    server_cid: Vec<u8>,
}

fn handshake(now: Instant) -> Option<Connected> {
    let mut server = endpoint("server");
    let mut client = endpoint("client");
    let (c, s) = (addr(PEERS[0]), addr(SERVER));
    client
        .connect(now, c, s, "localhost", ConnectOptions::default())
        .ok()?;
    let mut buf = vec![0u8; 65536];
    let mut server_cid = None;
    for _ in 0..20 {
        for mut d in drain(&mut client, now, &mut buf) {
            // Short-header packets from the client carry the server's CID.
            if d[0] & 0x80 == 0 && d.len() > 17 {
                server_cid = Some(d[1..17].to_vec());
            }
            server.handle_datagram(now, RecvMeta::new(s, c), &mut d);
        }
        for mut d in drain(&mut server, now, &mut buf) {
            client.handle_datagram(now, RecvMeta::new(c, s), &mut d);
        }
        if server_cid.is_some() {
            break;
        }
    }
    Some(Connected {
        client,
        server,
        server_cid: server_cid?,
    })
}

/// Wraps a frame payload into a 1-RTT packet to `dcid` with packet number
/// `pn` (under quiche's `fuzzing` feature packets are not protected, so the
/// payload is read as frames; the 16-byte tag is still expected).
pub fn short_packet(dcid: &[u8], pn: u32, frames: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(1 + dcid.len() + 4 + frames.len() + 16);
    p.push(0x40 | 0x03);
    p.extend_from_slice(dcid);
    p.extend_from_slice(&pn.to_be_bytes());
    p.extend_from_slice(frames);
    p.extend_from_slice(&[0u8; 16]);
    p
}

/// Target 3: a real handshake in memory, then fuzzed frames in 1-RTT
/// packets to the server connection: HTTP/3 framing, headers, validation,
/// resets, GOAWAY, the abnormal-stream budget. Records with `meta & 1`
/// are whole datagrams instead of frame payloads.
pub fn server_post_handshake(input: &[u8]) {
    let mut now = Instant::now();
    let Some(mut p) = handshake(now) else { return };
    let (c, s) = (addr(PEERS[0]), addr(SERVER));
    let mut buf = vec![0u8; 65536];
    let mut pn = 1_000_000u32;
    for r in records(input).take(64) {
        now += Duration::from_millis(u64::from(r.step));
        pn += 1;
        let mut d = if r.meta & 1 == 1 {
            r.data.to_vec()
        } else {
            short_packet(&p.server_cid, pn, r.data)
        };
        p.server.handle_datagram(now, RecvMeta::new(s, c), &mut d);
        for mut back in drain(&mut p.server, now, &mut buf) {
            p.client
                .handle_datagram(now, RecvMeta::new(c, s), &mut back);
        }
        drain(&mut p.client, now, &mut buf);
        if r.meta & 0x80 != 0 {
            p.server.handle_timeout(now);
        }
        for h in p.server.handles().collect::<Vec<_>>() {
            if let Some(conn) = p.server.conn(h) {
                let st = conn.stats();
                assert!(
                    st.abnormal_streams <= 17 || conn.is_closing(),
                    "abnormal-stream budget not enforced: {st:?}"
                );
            }
        }
    }
    give_back("server", p.server);
    give_back("client", p.client);
}

/// Target 4: an `arbitrary` sequence of API operations and network events
/// on a pair, invariants checked after every step.
pub fn h3_api_ops(ops: &[Op]) {
    let mut m = ApiModel::new();
    for op in ops.iter().take(200) {
        if let Err(v) = m.apply(op) {
            panic!("invariant broken after {op:?}: {v}");
        }
    }
}

/// Target 5: arbitrary header lists through filo's validator against an
/// independent oracle written here. Input: `[kind][n][name len][name]
/// [value len][value]...`.
pub fn header_validation(input: &[u8]) {
    let Some((&kind, mut rest)) = input.split_first() else {
        return;
    };
    let mut fields: Vec<(&[u8], &[u8])> = Vec::new();
    while let Some((&nl, r)) = rest.split_first() {
        let Some(name) = r.get(..usize::from(nl)) else {
            break;
        };
        let r = &r[usize::from(nl)..];
        let Some((&vl, r)) = r.split_first() else {
            break;
        };
        let Some(value) = r.get(..usize::from(vl)) else {
            break;
        };
        fields.push((name, value));
        rest = &r[usize::from(vl)..];
    }
    let (filo, oracle) = match kind % 3 {
        0 => (validate_request(&fields).is_ok(), oracle::request(&fields)),
        1 => (
            validate_response(&fields).is_ok(),
            oracle::response(&fields),
        ),
        _ => (
            validate_trailers(&fields).is_ok(),
            oracle::trailers(&fields),
        ),
    };
    assert_eq!(
        filo, oracle,
        "validator and oracle disagree on {fields:?} (kind {kind})"
    );
}

/// Target 6: arbitrary bytes as Retry tokens for arbitrary addresses and
/// times: never accepted unless minted for that address and CID and
/// unexpired. Input: `[key seed][mint addr][check addr][mint t][check t]
/// [scid len]... then token bytes`.
pub fn retry_token(input: &[u8]) {
    if input.len() < 8 {
        return;
    }
    let tokens = RetryTokenCheck::new([input[0]; 32], 10_000);
    let mint_addr = addr(PEERS[usize::from(input[1]) % PEERS.len()]);
    let check_addr = addr(PEERS[usize::from(input[2]) % PEERS.len()]);
    let mint_t = u64::from(input[3]) * 100;
    let check_t = u64::from(input[4]) * 100;
    let scid = &input[5..8];
    let odcid = b"original-dcid";
    let minted = tokens.mint(mint_t, odcid, scid, mint_addr);
    // 1. The minted token itself: accepted exactly when it should be.
    let res = tokens.validate(check_t, &minted, scid, check_addr);
    let expect_ok = check_addr == mint_addr && check_t <= mint_t + 10_000;
    match res {
        Ok(o) => {
            assert!(expect_ok, "token accepted from {check_addr} at {check_t}");
            assert_eq!(o, odcid);
        }
        Err(TokenRefusal::Expired) => assert!(check_addr == mint_addr && !expect_ok),
        Err(e) => assert!(check_addr != mint_addr, "refused a valid token: {e:?}"),
    }
    // 2. Any other bytes (the rest of the input, or the minted token with
    // a byte changed) must never be accepted.
    let forged = &input[8..];
    if forged != minted.as_slice() {
        assert!(
            tokens.validate(check_t, forged, scid, check_addr).is_err(),
            "forged token accepted"
        );
    }
    if let Some(&b) = input.get(8) {
        let mut flipped = minted.clone();
        let i = usize::from(b) % flipped.len();
        flipped[i] ^= 1 | (b >> 1);
        if flipped != minted {
            assert!(
                tokens.validate(mint_t, &flipped, scid, mint_addr).is_err(),
                "bit flip accepted"
            );
        }
    }
}

/// Target 7: arbitrary endpoint activity; every transmit must be a valid
/// GSO batch (checked inside `ApiModel` on every round). Input: one byte
/// per operation, mapped onto [`Op`]s.
pub fn transmit_batching(input: &[u8]) {
    let mut m = ApiModel::new();
    for w in input.chunks(3).take(100) {
        let (a, b, c) = (w[0], *w.get(1).unwrap_or(&0), *w.get(2).unwrap_or(&0));
        let op = match a % 6 {
            0 => Op::Request {
                size: u16::from_be_bytes([b % 8, c]),
                upload: u16::from(b & 0x0f) * 40,
                trailers: c & 1 == 1,
                interim: 0,
            },
            1 => Op::Drop {
                to_client: b & 1 == 1,
            },
            2 => Op::Reorder {
                to_client: b & 1 == 1,
            },
            3 => Op::Duplicate {
                to_client: b & 1 == 1,
            },
            4 => Op::Advance(u16::from(b)),
            _ => Op::Step(b),
        };
        if let Err(v) = m.apply(&op) {
            panic!("invariant broken after {op:?}: {v}");
        }
    }
    assert!(m.transmits > 0);
}

/// An independent statement of the RFC 9114 §4.2/§4.3 rules, written
/// without looking at filo's validator, for target 5.
pub mod oracle {
    type F<'a> = (&'a [u8], &'a [u8]);

    fn tchar(c: u8) -> bool {
        matches!(
            c,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        ) || c.is_ascii_digit()
            || c.is_ascii_lowercase()
    }

    fn good_value(v: &[u8]) -> bool {
        let ok_byte = |c: &u8| *c == b'\t' || (0x20..0x7f).contains(c) || *c >= 0x80;
        v.iter().all(ok_byte)
            && !v.starts_with(b" ")
            && !v.starts_with(b"\t")
            && !v.ends_with(b" ")
            && !v.ends_with(b"\t")
    }

    fn good_regular(name: &[u8], value: &[u8]) -> bool {
        if name.is_empty() || !name.iter().all(|c| tchar(*c)) || !good_value(value) {
            return false;
        }
        let forbidden: [&[u8]; 5] = [
            b"connection",
            b"keep-alive",
            b"proxy-connection",
            b"transfer-encoding",
            b"upgrade",
        ];
        if forbidden.contains(&name) {
            return false;
        }
        if name == b"te" && !value.eq_ignore_ascii_case(b"trailers") {
            return false;
        }
        true
    }

    fn content_length_ok(fields: &[F<'_>]) -> bool {
        let values: Vec<&[u8]> = fields
            .iter()
            .filter(|f| f.0 == b"content-length")
            .map(|f| f.1)
            .collect();
        values
            .iter()
            .all(|v| !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit))
            && values.windows(2).all(|w| {
                let p = |v: &[u8]| {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                };
                p(w[0]) == p(w[1])
            })
    }

    /// (pseudo-headers in order, then regular fields); `None` if a pseudo
    /// follows a regular field.
    fn split<'a>(fields: &[F<'a>]) -> Option<(Vec<F<'a>>, Vec<F<'a>>)> {
        let n = fields
            .iter()
            .take_while(|f| f.0.first() == Some(&b':'))
            .count();
        let (p, r) = fields.split_at(n);
        if r.iter().any(|f| f.0.first() == Some(&b':')) {
            return None;
        }
        Some((p.to_vec(), r.to_vec()))
    }

    fn pseudo_name_ok(name: &[u8]) -> bool {
        name.len() > 1 && name[1..].iter().all(|c| tchar(*c))
    }

    /// Whether a request header section is well-formed.
    pub fn request(fields: &[F<'_>]) -> bool {
        let Some((pseudo, regular)) = split(fields) else {
            return false;
        };
        if !regular.iter().all(|f| good_regular(f.0, f.1)) || !content_length_ok(&regular) {
            return false;
        }
        let hosts: Vec<&[u8]> = regular
            .iter()
            .filter(|f| f.0 == b"host")
            .map(|f| f.1)
            .collect();
        if hosts.len() > 1 {
            return false;
        }
        let get = |n: &[u8]| -> Result<Option<&[u8]>, ()> {
            let all: Vec<&[u8]> = pseudo.iter().filter(|f| f.0 == n).map(|f| f.1).collect();
            match all.len() {
                0 => Ok(None),
                1 => Ok(Some(all[0])),
                _ => Err(()),
            }
        };
        let known: [&[u8]; 4] = [b":method", b":scheme", b":authority", b":path"];
        for f in &pseudo {
            if !pseudo_name_ok(f.0) || !good_value(f.1) || !known.contains(&f.0) {
                return false;
            }
        }
        let (Ok(method), Ok(scheme), Ok(authority), Ok(path)) = (
            get(b":method"),
            get(b":scheme"),
            get(b":authority"),
            get(b":path"),
        ) else {
            return false;
        };
        let Some(method) = method else { return false };
        if method.is_empty() || !method.iter().all(|c| tchar(*c) || c.is_ascii_uppercase()) {
            return false;
        }
        let host = hosts.first().copied();
        if authority == Some(b"".as_slice()) || host == Some(b"".as_slice()) {
            return false;
        }
        if let (Some(a), Some(h)) = (authority, host)
            && a != h
        {
            return false;
        }
        if method == b"CONNECT" {
            return scheme.is_none() && path.is_none() && authority.is_some();
        }
        let (Some(scheme), Some(path)) = (scheme, path) else {
            return false;
        };
        let web = scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https");
        if web && authority.is_none() && host.is_none() {
            return false;
        }
        if path.is_empty() {
            return false;
        }
        if path == b"*" {
            return method == b"OPTIONS";
        }
        !web || path[0] == b'/'
    }

    /// Whether a response header section is well-formed.
    pub fn response(fields: &[F<'_>]) -> bool {
        let Some((pseudo, regular)) = split(fields) else {
            return false;
        };
        if !regular.iter().all(|f| good_regular(f.0, f.1)) || !content_length_ok(&regular) {
            return false;
        }
        if regular.iter().filter(|f| f.0 == b"host").count() > 1 {
            return false;
        }
        if pseudo.len() != 1 || pseudo[0].0 != b":status" {
            return false;
        }
        let s = pseudo[0].1;
        s.len() == 3
            && s.iter().all(u8::is_ascii_digit)
            && (b"100".as_slice()..=b"599".as_slice()).contains(&s)
            && s != b"101"
    }

    /// Whether a trailer section is well-formed.
    pub fn trailers(fields: &[F<'_>]) -> bool {
        fields
            .iter()
            .all(|f| f.0.first() != Some(&b':') && good_regular(f.0, f.1))
            && content_length_ok(fields)
            && fields.iter().filter(|f| f.0 == b"host").count() <= 1
    }
}

/// Seed inputs for every target, made by running real exchanges through
/// the same code paths the targets use: `(target, name, bytes)`. Call after
/// [`init`] and a fresh RNG reset for each seed that depends on RNG state
/// (`reset` is that reset; pass a no-op outside fuzz builds).
pub fn seeds(reset: &dyn Fn()) -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    let now = Instant::now();
    let (c, s) = (addr(PEERS[0]), addr(SERVER));

    // A client's first flight (what client_datagrams' client sends).
    init();
    reset();
    let mut client = endpoint("client");
    let _ = client.connect(now, c, s, "localhost", ConnectOptions::default());
    let flight = drain(&mut client, now, &mut buf);
    give_back("client", client);
    let recs: Vec<(u8, u8, &[u8])> = flight.iter().map(|d| (0u8, 1u8, d.as_slice())).collect();
    out.push(("server_datagrams", "seed-initial".into(), frame(&recs)));
    let mut vn = vec![0xc0, 0xba, 0xba, 0xba, 0xba, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0];
    vn.resize(1200, 0);
    let mut short = vec![0x41];
    short.extend_from_slice(&[7u8; 40]);
    out.push((
        "server_datagrams",
        "seed-vn-and-short".into(),
        frame(&[(0, 0, &vn), (2, 0, &short)]),
    ));

    // The server's answers to that flight (what client_datagrams feeds).
    let mut server = endpoint("server");
    let mut answers = Vec::new();
    for mut d in flight.clone() {
        server.handle_datagram(now, RecvMeta::new(s, c), &mut d);
        answers.extend(drain(&mut server, now, &mut buf));
    }
    give_back("server", server);
    let recs: Vec<(u8, u8, &[u8])> = answers.iter().map(|d| (0u8, 1u8, d.as_slice())).collect();
    out.push((
        "client_datagrams",
        "seed-server-flight".into(),
        frame(&recs),
    ));

    // A request's frames after a real handshake (server_post_handshake).
    reset();
    if let Some(mut p) = handshake(now) {
        let req = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "localhost"),
            (":path", "/x"),
        ];
        let first = p.client.handles().next();
        if let Some(mut conn) = first.and_then(|h| p.client.conn(h)) {
            if let Ok(id) = conn.send_request(&req, false) {
                let _ = conn.send_body(id, b"hello", false);
                let _ = conn.send_trailers(id, &[("x-t", "1")]);
            }
            let _ = conn.send_request(&req, true);
        }
        let packets = drain(&mut p.client, now, &mut buf);
        let frames: Vec<Vec<u8>> = packets
            .iter()
            .filter(|d| d[0] & 0x80 == 0 && d.len() > 1 + 16 + 4 + 16)
            .map(|d| {
                let pn_len = usize::from(d[0] & 0x03) + 1;
                d[1 + 16 + pn_len..d.len() - 16].to_vec()
            })
            .collect();
        let recs: Vec<(u8, u8, &[u8])> = frames.iter().map(|f| (0u8, 0u8, f.as_slice())).collect();
        out.push((
            "server_post_handshake",
            "seed-request-frames".into(),
            frame(&recs),
        ));
        give_back("server", p.server);
        give_back("client", p.client);
    }

    // Header sections: valid and invalid, of each kind.
    let section = |kind: u8, fields: &[(&str, &str)]| {
        let mut v = vec![kind];
        for (n, val) in fields {
            v.push(n.len() as u8);
            v.extend_from_slice(n.as_bytes());
            v.push(val.len() as u8);
            v.extend_from_slice(val.as_bytes());
        }
        v
    };
    let req = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "a.example"),
        (":path", "/p?q"),
        ("te", "trailers"),
    ];
    out.push(("header_validation", "seed-request".into(), section(0, &req)));
    out.push((
        "header_validation",
        "seed-connect".into(),
        section(0, &[(":method", "CONNECT"), (":authority", "h:443")]),
    ));
    out.push((
        "header_validation",
        "seed-response".into(),
        section(1, &[(":status", "204"), ("content-length", "0")]),
    ));
    out.push((
        "header_validation",
        "seed-trailers".into(),
        section(2, &[("grpc-status", "0")]),
    ));

    // Retry tokens: a header for each address pairing, then token bytes.
    out.push((
        "retry_token",
        "seed-same-addr".into(),
        vec![1, 0, 0, 10, 20, 7, 7, 7, 0x1f, 0, 0, 0],
    ));
    out.push((
        "retry_token",
        "seed-other-addr".into(),
        vec![2, 0, 1, 10, 10, 1, 2, 3, 9],
    ));

    // Activity for transmit_batching: requests, then steps and faults.
    out.push((
        "transmit_batching",
        "seed-requests".into(),
        vec![0, 7, 255, 0, 2, 3, 5, 4, 0, 1, 1, 0, 5, 7, 0],
    ));
    out.push(("h3_api_ops", "seed-bytes".into(), (0u8..=255).collect()));
    out
}
