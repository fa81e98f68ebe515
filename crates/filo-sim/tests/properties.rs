//! Property tests: the operation grammar against the model's invariants
//! (the same grammar the `h3_api_ops` fuzz target decodes), the header
//! validator, and GSO batching.

// Tests are callers of filo-core: they read the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Instant;

use filo_core::validate::{MessageError, validate_request, validate_response, validate_trailers};
use filo_core::{Config, ConnectOptions, Endpoint, EventKind, RecvMeta};
use filo_sim::api_model::{ApiModel, Op, check_batch};
use filo_sim::{TestPki, test_limits};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u16..400, prop_oneof![Just(0u16), 1u16..200], any::<bool>(), 0u8..4).prop_map(
            |(size, upload, trailers, interim)| Op::Request { size, upload, trailers, interim }
        ),
        1 => any::<u8>().prop_map(Op::ClientReset),
        1 => any::<u8>().prop_map(Op::ClientStop),
        1 => any::<u8>().prop_map(Op::ServerReset),
        1 => any::<u8>().prop_map(Op::ServerStop),
        1 => Just(Op::ServerGoaway),
        1 => Just(Op::ClientGoaway),
        1 => any::<bool>().prop_map(|server| Op::Close { server }),
        2 => any::<bool>().prop_map(|to_client| Op::Drop { to_client }),
        2 => any::<bool>().prop_map(|to_client| Op::Duplicate { to_client }),
        2 => any::<bool>().prop_map(|to_client| Op::Reorder { to_client }),
        4 => any::<u8>().prop_map(Op::Step),
        2 => (0u16..2000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any interleaving of requests, bodies, trailers, resets, GOAWAY,
    /// closes and link faults keeps every invariant of the model (see
    /// `filo_sim::api_model`): no request both completed and unprocessed,
    /// one terminal event per stream, intact bodies, well-formed batches,
    /// stream credit respected, abnormal-stream budget enforced.
    #[test]
    fn operation_sequences_keep_the_invariants(ops in prop::collection::vec(op(), 1..40)) {
        let mut m = ApiModel::new();
        for op in &ops {
            m.apply(op).map_err(|v| TestCaseError::fail(format!("after {op:?}: {v}")))?;
        }
        // Let everything finish: each stream ends in exactly one terminal
        // event (or the connection closed).
        m.settle(std::time::Duration::from_secs(5)).map_err(|v| TestCaseError::fail(v.0))?;
    }
}

// ---- header validator ----

fn token(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-z][a-z0-9-]{{0,{max}}}")).expect("regex")
}

fn visible_value() -> impl Strategy<Value = String> {
    // Visible ASCII with inner spaces, never at either end.
    proptest::string::string_regex("([!-~]([ !-~]{0,20}[!-~])?)?").expect("regex")
}

const FORBIDDEN: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "host",
];

fn regular_fields() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((token(12), visible_value()), 0..6).prop_map(|v| {
        v.into_iter()
            .filter(|(n, _)| !FORBIDDEN.contains(&n.as_str()) && n != "content-length")
            .collect()
    })
}

/// A well-formed request: pseudo-headers first, then regular fields.
fn canonical_request() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH"]),
        prop::sample::select(vec!["https", "http"]),
        token(10),
        proptest::string::string_regex("/[a-z0-9/._-]{0,20}").expect("regex"),
        regular_fields(),
    )
        .prop_map(|(m, s, a, p, rest)| {
            let mut v = vec![
                (":method".to_string(), m.to_string()),
                (":scheme".to_string(), s.to_string()),
                (":authority".to_string(), format!("{a}.example")),
                (":path".to_string(), p),
            ];
            v.extend(rest);
            v
        })
}

/// One rule broken in a canonical request, and the error it must give.
fn break_one_rule(
    mut v: Vec<(String, String)>,
    rule: u8,
    pick: usize,
) -> (Vec<(String, String)>, MessageError) {
    use MessageError::*;
    let regular_at = 4;
    match rule % 12 {
        0 => {
            v.push(("X-Upper".into(), "1".into()));
            (v, UppercaseName)
        }
        1 => {
            v.push(("x-bad".into(), "a\r\nb".into()));
            (v, InvalidValueChar)
        }
        2 => {
            v.push(("x-pad".into(), " lead".into()));
            (v, ValueWhitespace)
        }
        3 => {
            let f = [
                "connection",
                "keep-alive",
                "proxy-connection",
                "transfer-encoding",
                "upgrade",
            ];
            v.push((f[pick % f.len()].into(), "x".into()));
            (v, ConnectionSpecificField)
        }
        4 => {
            v.push(("te".into(), "gzip".into()));
            (v, InvalidTe)
        }
        5 => {
            let dup = v[pick % 4].clone();
            v.insert(1, dup);
            (v, DuplicatePseudo)
        }
        6 => {
            v.remove(0);
            (v, MissingPseudo)
        }
        7 => {
            v.push(("x-a".into(), "b".into()));
            let p = v.remove(pick % 4);
            v.push(p);
            (v, PseudoAfterRegular)
        }
        8 => {
            v.insert(regular_at, (":foo".into(), "1".into()));
            (v, UnknownPseudo)
        }
        9 => {
            v.push(("content-length".into(), "12a".into()));
            (v, InvalidContentLength)
        }
        10 => {
            v.push(("host".into(), "other.example.net".into()));
            (v, InvalidAuthority)
        }
        _ => {
            v.insert(regular_at, (":status".into(), "200".into()));
            (v, MisplacedPseudo)
        }
    }
}

fn lowercase_tchar(n: &str) -> bool {
    !n.is_empty()
        && n.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn canonical_requests_are_accepted(v in canonical_request()) {
        prop_assert!(validate_request(&v).is_ok(), "{v:?}: {:?}", validate_request(&v));
    }

    #[test]
    fn any_single_rule_violation_is_rejected_with_that_rule(
        v in canonical_request(), rule in any::<u8>(), pick in any::<usize>()
    ) {
        let (bad, want) = break_one_rule(v, rule, pick);
        prop_assert_eq!(validate_request(&bad), Err(want), "{:?}", bad);
    }

    /// Whatever an arbitrary list is, if it is accepted it is canonical:
    /// pseudo-headers first and known, regular names lowercase tokens,
    /// no connection-specific fields, the required pseudo-headers present.
    #[test]
    fn accepted_lists_are_canonical(
        v in prop::collection::vec(
            (prop_oneof![
                prop::sample::select(vec![":method", ":scheme", ":authority", ":path", ":status", ":x", "te", "host", "connection", "content-length", "X", "a b", "x"]).prop_map(str::to_string),
                token(6),
            ], prop_oneof![
                prop::sample::select(vec!["GET", "https", "/", "a", "200", "trailers", "1", " x", "\r", ""]).prop_map(str::to_string),
                visible_value(),
            ]),
            0..8,
        )
    ) {
        if validate_request(&v).is_ok() {
            let first_regular = v.iter().position(|(n, _)| !n.starts_with(':')).unwrap_or(v.len());
            prop_assert!(v[first_regular..].iter().all(|(n, _)| !n.starts_with(':')));
            for (n, val) in &v {
                let name = n.strip_prefix(':').unwrap_or(n);
                prop_assert!(lowercase_tchar(name), "{n:?}");
                prop_assert!(!val.starts_with(' ') && !val.contains('\r'), "{val:?}");
                prop_assert!(!["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"].contains(&n.as_str()));
                if n == "te" { prop_assert_eq!(val.to_ascii_lowercase(), "trailers"); }
            }
            prop_assert!(v.iter().any(|(n, _)| n == ":method"));
        }
        if validate_response(&v).is_ok() {
            prop_assert_eq!(v.iter().filter(|(n, _)| n.starts_with(':')).count(), 1);
            prop_assert!(v[0].0 == ":status");
        }
        if validate_trailers(&v).is_ok() {
            prop_assert!(v.iter().all(|(n, _)| !n.starts_with(':')));
        }
    }
}

// ---- GSO batching ----

/// A download where the server polls transmits with `max_segments` into a
/// `buf_len`-byte buffer; every batch is checked.
fn batched_download(
    max_segments: usize,
    buf_len: usize,
    body: u64,
) -> Result<(u64, u64), TestCaseError> {
    let pki = TestPki::new(&["localhost"]);
    let mut server =
        Endpoint::new(Config::server(pki.server_tls(), test_limits()).expect("server"));
    let mut client =
        Endpoint::new(Config::client(pki.client_tls(), test_limits()).expect("client"));
    let (c, s): (SocketAddr, SocketAddr) = (
        "10.0.0.1:1".parse().expect("addr"),
        "10.0.0.2:2".parse().expect("addr"),
    );
    let conn = client
        .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
        .expect("connect");
    let mut buf = vec![0u8; buf_len];
    let mut big = vec![0u8; 65536];
    let (mut batches, mut received, mut sent_body) = (0u64, 0u64, 0usize);
    let mut stream = None;
    let payload = vec![7u8; body as usize];
    for _ in 0..20_000 {
        let now = Instant::now();
        while let Some(t) = client.poll_transmit(now, &mut big, 1) {
            server.handle_datagram(now, RecvMeta::new(t.to, t.from), &mut big[..t.len]);
        }
        while let Some(t) = server.poll_transmit(now, &mut buf, max_segments) {
            check_batch(&t, &buf[..t.len]).map_err(|v| TestCaseError::fail(v.0))?;
            prop_assert!(t.segments() <= max_segments, "{t:?}");
            prop_assert!(t.len <= buf_len);
            prop_assert_eq!(t.to, c);
            if t.segments() > 1 {
                batches += 1;
            }
            for seg in buf[..t.len].chunks(t.segment_size) {
                let mut d = seg.to_vec();
                client.handle_datagram(now, RecvMeta::new(c, s), &mut d);
            }
        }
        while let Some(ev) = server.poll_event() {
            if let EventKind::Request { stream: id, .. } = ev.kind {
                let mut h = server.conn(ev.conn).expect("conn");
                h.send_response(id, &[(":status", "200")], false)
                    .expect("response");
                stream = Some((ev.conn, id));
            }
        }
        if let Some((h, id)) = stream
            && sent_body < payload.len()
            && let Ok(n) = server
                .conn(h)
                .expect("conn")
                .send_body(id, &payload[sent_body..], true)
        {
            sent_body += n;
        }
        while let Some(ev) = client.poll_event() {
            match ev.kind {
                EventKind::Connected => {
                    let req = [
                        (":method", "GET"),
                        (":scheme", "https"),
                        (":authority", "x"),
                        (":path", "/"),
                    ];
                    client
                        .conn(conn)
                        .expect("conn")
                        .send_request(&req, true)
                        .expect("request");
                }
                EventKind::Data { stream: id } => {
                    let mut c = client.conn(conn).expect("conn");
                    while let Ok(n) = c.recv_body(id, &mut big) {
                        if n == 0 {
                            break;
                        }
                        received += n as u64;
                    }
                }
                EventKind::Finished { .. } => return Ok((received, batches)),
                _ => {}
            }
        }
        for ep in [&mut client, &mut server] {
            if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                ep.handle_timeout(Instant::now());
            }
        }
    }
    Err(TestCaseError::fail("download did not finish"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every batch, for any segment limit and buffer size, is well formed
    /// and within both limits; the body always arrives whole.
    #[test]
    fn gso_batches_respect_limits(
        max_segments in 1usize..=64,
        buf_len in 1350usize..=70_000,
        body in 1u64..400_000,
    ) {
        let (received, batches) = batched_download(max_segments, buf_len, body)?;
        prop_assert_eq!(received, body);
        // Segments are 1350 bytes, or 1200 before quiche raises the
        // payload size: a buffer under two of the smallest holds no batch.
        if max_segments == 1 || buf_len < 2 * 1200 {
            prop_assert_eq!(batches, 0);
        }
    }
}
