//! HTTP/3 exchange features on a simulated client/server pair: concurrency
//! on one connection, large bodies, trailers, interim responses, resets and
//! STOP_SENDING both ways, the peer's stream limit and `StreamsAvailable`,
//! two-phase GOAWAY, the abnormal-stream budget (rapid reset), the request
//! cap, keep-alive and `Writable` under small flow-control windows.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{
    CloseReason, ConnHandle, ConnStats, Endpoint, Event, EventKind, RecvMeta, SendRequestError,
    StreamError, StreamFailure, StreamId, code,
};
use filo_sim::{
    Body, ClientApp, LinkConfig, NodeApp, NodeId, Pair, PairConfig, RequestSpec, ServerApp, Sim,
    hex, pattern_sha256, test_limits,
};

const MIB: u64 = 1 << 20;

/// The real clock. filo-core never reads it, but quiche (under it) does, so
/// whoever drives an endpoint must hand it the real current time.
#[allow(clippy::disallowed_methods)]
fn wall_now() -> Instant {
    Instant::now()
}

/// The announce id of a server's first GOAWAY (RFC 9114 §5.2).
const GOAWAY_MAX_ID: u64 = (1 << 62) - 4;

// ---------------------------------------------------------------------------
// Event recording
// ---------------------------------------------------------------------------

/// A comparable summary of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Accepted,
    Connected,
    Request {
        stream: u64,
        fin: bool,
    },
    Interim {
        stream: u64,
        status: Option<u16>,
        n: Option<String>,
    },
    Response {
        stream: u64,
        status: Option<u16>,
        fin: bool,
    },
    Trailers {
        stream: u64,
    },
    Data {
        stream: u64,
    },
    Finished {
        stream: u64,
    },
    Reset {
        stream: u64,
        code: u64,
    },
    StopSending {
        stream: u64,
        code: u64,
    },
    Writable {
        stream: u64,
    },
    StreamFailed {
        stream: u64,
        reason: StreamFailure,
    },
    NotProcessed {
        stream: u64,
    },
    StreamsAvailable,
    GoAway {
        id: u64,
    },
    Closed {
        reason: CloseReason,
    },
    Other,
}

fn summarize(kind: &EventKind) -> Ev {
    match kind {
        EventKind::Accepted => Ev::Accepted,
        EventKind::Connected => Ev::Connected,
        EventKind::Request { stream, fin, .. } => Ev::Request {
            stream: stream.0,
            fin: *fin,
        },
        EventKind::Interim { stream, headers } => Ev::Interim {
            stream: stream.0,
            status: headers.status(),
            n: headers.get_str("x-n").map(str::to_owned),
        },
        EventKind::Response {
            stream,
            headers,
            fin,
        } => Ev::Response {
            stream: stream.0,
            status: headers.status(),
            fin: *fin,
        },
        EventKind::Trailers { stream, .. } => Ev::Trailers { stream: stream.0 },
        EventKind::Data { stream } => Ev::Data { stream: stream.0 },
        EventKind::Finished { stream } => Ev::Finished { stream: stream.0 },
        EventKind::Reset { stream, code } => Ev::Reset {
            stream: stream.0,
            code: *code,
        },
        EventKind::StopSending { stream, code } => Ev::StopSending {
            stream: stream.0,
            code: *code,
        },
        EventKind::Writable { stream } => Ev::Writable { stream: stream.0 },
        EventKind::StreamFailed { stream, reason } => Ev::StreamFailed {
            stream: stream.0,
            reason: *reason,
        },
        EventKind::NotProcessed { stream } => Ev::NotProcessed { stream: stream.0 },
        EventKind::StreamsAvailable => Ev::StreamsAvailable,
        EventKind::GoAway { id } => Ev::GoAway { id: *id },
        EventKind::Closed { reason } => Ev::Closed {
            reason: reason.clone(),
        },
        _ => Ev::Other,
    }
}

/// Wraps an app: logs every event (in order), optionally probes
/// `send_request` when a GOAWAY arrives, and snapshots connection stats
/// every step (so they can be read after the connection is gone).
struct Recorder<A> {
    inner: A,
    log: Vec<(ConnHandle, Ev)>,
    /// On every `GoAway` event, try a `send_request` and keep the result.
    probe_on_goaway: bool,
    probes: Vec<Result<StreamId, SendRequestError>>,
    /// Last stats seen per connection.
    stats: HashMap<ConnHandle, ConnStats>,
    /// Highest `active_streams` seen on any connection.
    max_active: u64,
}

impl<A: NodeApp> Recorder<A> {
    fn new(inner: A) -> Self {
        Self {
            inner,
            log: Vec::new(),
            probe_on_goaway: false,
            probes: Vec::new(),
            stats: HashMap::new(),
            max_active: 0,
        }
    }

    /// The logged events of one stream, with runs of `Data` collapsed.
    fn stream_log(&self, stream: u64) -> Vec<Ev> {
        let mut out: Vec<Ev> = Vec::new();
        for (_, ev) in &self.log {
            let s = match ev {
                Ev::Request { stream, .. }
                | Ev::Interim { stream, .. }
                | Ev::Response { stream, .. }
                | Ev::Trailers { stream }
                | Ev::Data { stream }
                | Ev::Finished { stream }
                | Ev::Reset { stream, .. }
                | Ev::StopSending { stream, .. }
                | Ev::Writable { stream }
                | Ev::StreamFailed { stream, .. }
                | Ev::NotProcessed { stream } => *stream,
                _ => continue,
            };
            if s != stream || (matches!(ev, Ev::Data { .. }) && out.last() == Some(ev)) {
                continue;
            }
            out.push(ev.clone());
        }
        out
    }

    fn has(&self, ev: &Ev) -> bool {
        self.log.iter().any(|(_, e)| e == ev)
    }

    fn closed(&self) -> Vec<CloseReason> {
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                Ev::Closed { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    fn goaways(&self) -> Vec<u64> {
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                Ev::GoAway { id } => Some(*id),
                _ => None,
            })
            .collect()
    }

    fn not_processed(&self) -> Vec<u64> {
        self.log
            .iter()
            .filter_map(|(_, e)| match e {
                Ev::NotProcessed { stream } => Some(*stream),
                _ => None,
            })
            .collect()
    }
}

impl<A: NodeApp> NodeApp for Recorder<A> {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        let summary = summarize(&ev.kind);
        if self.probe_on_goaway
            && matches!(summary, Ev::GoAway { .. })
            && let Some(mut c) = ep.conn(ev.conn)
        {
            self.probes.push(c.send_request(&get_head("/probe"), true));
        }
        self.log.push((ev.conn, summary));
        self.inner.on_event(ep, ev);
    }

    fn on_step(&mut self, ep: &mut Endpoint) {
        let handles: Vec<ConnHandle> = ep.handles().collect();
        for h in handles {
            if let Some(c) = ep.conn(h) {
                let s = c.stats();
                self.max_active = self.max_active.max(s.active_streams);
                self.stats.insert(h, s);
            }
        }
        self.inner.on_step(ep);
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

type Client = Recorder<ClientApp>;
type Server = Recorder<ServerApp>;

fn get_head(path: &str) -> [(&str, &str); 4] {
    [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", path),
    ]
}

fn post_head<'a>(path: &'a str, len: &'a str) -> [(&'a str, &'a str); 5] {
    [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", path),
        ("content-length", len),
    ]
}

/// A pair whose apps are a recorded `ServerApp` and a recorded `ClientApp`
/// holding `requests`.
fn recorded_pair(cfg: PairConfig, requests: impl IntoIterator<Item = RequestSpec>) -> Pair {
    let mut p = Pair::new(cfg);
    p.sim.set_app(p.server, Recorder::new(ServerApp::new()));
    p.sim
        .set_app(p.client, Recorder::new(ClientApp::new(requests)));
    p
}

fn rec<A: NodeApp>(sim: &mut Sim, node: NodeId) -> &mut Recorder<A> {
    sim.app::<Recorder<A>>(node).expect("recorded app on node")
}

fn client(p: &mut Pair) -> &mut Client {
    rec::<ClientApp>(&mut p.sim, p.client)
}

fn server(p: &mut Pair) -> &mut Server {
    rec::<ServerApp>(&mut p.sim, p.server)
}

/// Runs the simulation until `done`, failing the test after `limit`.
/// Prints both event logs (without `Data`), app errors and server stats:
/// context for a failed wait.
fn dump(p: &mut Pair) {
    eprintln!(
        "client log: {:?}",
        client(p)
            .log
            .iter()
            .map(|x| &x.1)
            .filter(|e| !matches!(e, Ev::Data { .. }))
            .collect::<Vec<_>>()
    );
    eprintln!(
        "server log: {:?}",
        server(p)
            .log
            .iter()
            .map(|x| &x.1)
            .filter(|e| !matches!(e, Ev::Data { .. }))
            .collect::<Vec<_>>()
    );
    eprintln!("client app errors: {:?}", client(p).inner.errors);
    eprintln!("server app errors: {:?}", server(p).inner.errors);
    eprintln!("server conn stats: {:?}", server(p).stats);
}

fn run(
    p: &mut Pair,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&mut Sim, NodeId, NodeId) -> bool,
) {
    let (c, s) = (p.client, p.server);
    let ok = p.sim.run_until(limit, |sim| done(sim, c, s));
    if !ok {
        dump(p);
    }
    assert!(ok, "timed out waiting for: {what}");
}

/// Runs until both sides report `Connected`; returns the server's handle.
fn connect(p: &mut Pair) -> ConnHandle {
    run(p, Duration::from_secs(5), "handshake", |sim, c, s| {
        !rec::<ClientApp>(sim, c).inner.connected.is_empty()
            && !rec::<ServerApp>(sim, s).inner.connected.is_empty()
    });
    let s = server(p);
    assert_eq!(s.inner.connected.len(), 1);
    s.inner.connected[0]
}

/// Sends one more request through the `ClientApp` and returns its key.
fn queue_request(p: &mut Pair, spec: RequestSpec) -> (ConnHandle, StreamId) {
    let (conn, c) = (p.conn, p.client);
    let (r, ep) = p.sim.app_and_endpoint::<Client>(c).expect("client app");
    r.inner.queue(spec);
    r.inner.send_pending(ep, conn);
    assert!(
        r.inner.pending.is_empty(),
        "request not sent: {:?}",
        r.inner.errors
    );
    *r.inner.order.last().expect("a request was sent")
}

/// Asserts the connection still carries a request: a GET on it completes
/// with status 200 and the right body.
fn assert_follow_up(p: &mut Pair, seed: u64) {
    let len = 3000 + seed;
    let spec = RequestSpec::get(&format!("/bytes/{len}")).header("x-seed", &seed.to_string());
    let key = queue_request(p, spec);
    run(
        p,
        Duration::from_secs(5),
        "follow-up request",
        |sim, c, _| rec::<ClientApp>(sim, c).inner.exchanges[&key].is_done(),
    );
    let ex = &client(p).inner.exchanges[&key];
    assert!(ex.finished, "follow-up did not finish: {ex:?}");
    assert_eq!(ex.status(), Some(200));
    assert_eq!(ex.body.len, len);
    assert_eq!(ex.body.sha256, Some(pattern_sha256(seed, len)));
}

/// `Pair::run_requests` for a recorded client: runs until every queued
/// request ended, or `limit` passes.
fn run_requests(p: &mut Pair, limit: Duration) -> bool {
    let c = p.client;
    p.sim
        .run_until(limit, |sim| rec::<ClientApp>(sim, c).inner.all_done())
}

fn assert_no_app_errors(p: &mut Pair) {
    let ce = client(p).inner.errors.clone();
    let se = server(p).inner.errors.clone();
    assert!(ce.is_empty(), "client app errors: {ce:?}");
    assert!(se.is_empty(), "server app errors: {se:?}");
}

// ---------------------------------------------------------------------------
// 1. Concurrency on one connection
// ---------------------------------------------------------------------------

#[test]
fn hundred_concurrent_requests_on_one_connection() {
    let size = |i: u64| 100 + 997 * i;
    let specs = (0..100u64)
        .map(|i| RequestSpec::get(&format!("/bytes/{}", size(i))).header("x-seed", &i.to_string()));
    let mut cfg = PairConfig::default();
    cfg.server.max_streams_bidi = 100;
    let mut p = recorded_pair(cfg, specs);
    server(&mut p).inner.hold = true;
    let conn = p.conn;

    run(
        &mut p,
        Duration::from_secs(10),
        "100 requests held",
        |sim, _, s| rec::<ServerApp>(sim, s).inner.held.len() == 100,
    );
    // All 100 are in flight at once: the server saw them all, no response
    // has reached the client, and the server tracks 100 open streams.
    let sconn = server(&mut p).inner.accepted[0];
    let active = p
        .server_ep()
        .conn(sconn)
        .expect("server conn")
        .stats()
        .active_streams;
    assert_eq!(active, 100);
    let c = client(&mut p);
    assert_eq!(c.inner.exchanges.len(), 100);
    assert!(c.inner.exchanges.values().all(|e| e.response.is_none()));
    assert_eq!(c.inner.stream_limit_hits, 0);

    let (s, ep) = p
        .sim
        .app_and_endpoint::<Server>(p.server)
        .expect("server app");
    s.inner.release(ep);
    let ok = run_requests(&mut p, Duration::from_secs(20));
    let done = client(&mut p).inner.done_count();
    let errors = server(&mut p).inner.errors.clone();
    assert!(
        ok,
        "{done} of 100 requests finished; server app errors: {errors:?}"
    );

    assert_no_app_errors(&mut p);
    let c = client(&mut p);
    assert_eq!(c.inner.connected, vec![conn]);
    assert_eq!(c.inner.order.len(), 100);
    for (i, key) in c.inner.order.iter().enumerate() {
        assert_eq!(key.0, conn, "request {i} on another connection");
        let ex = &c.inner.exchanges[key];
        let i = i as u64;
        assert!(ex.finished, "request {i}: {ex:?}");
        assert_eq!(ex.status(), Some(200), "request {i}");
        assert_eq!(ex.body.len, size(i), "request {i}");
        assert_eq!(
            ex.body.sha256,
            Some(pattern_sha256(i, size(i))),
            "request {i}"
        );
    }
    assert!(c.closed().is_empty());
    let s = server(&mut p);
    assert_eq!(s.inner.accepted, vec![sconn]);
    assert_eq!(s.inner.requests.len(), 100);
    assert!(s.inner.requests.keys().all(|k| k.0 == sconn));
    assert!(s.inner.requests.values().all(|r| r.responded));
}

// ---------------------------------------------------------------------------
// 2. Large bodies
// ---------------------------------------------------------------------------

#[test]
fn ten_mib_bodies_both_ways() {
    let up = Body::Pattern {
        seed: 77,
        len: 10 * MIB,
    };
    let specs = [
        RequestSpec::post("/echo", up.clone()),
        RequestSpec::get(&format!("/bytes/{}", 10 * MIB)).header("x-seed", "5"),
    ];
    let mut p = recorded_pair(PairConfig::default(), specs);
    assert!(
        run_requests(&mut p, Duration::from_secs(60)),
        "requests did not finish"
    );
    assert_no_app_errors(&mut p);

    let c = client(&mut p);
    let echo = &c.inner.exchanges[&c.inner.order[0]];
    assert!(echo.finished);
    assert_eq!(echo.status(), Some(200));
    assert_eq!(echo.body.len, 10 * MIB);
    assert_eq!(echo.body.sha256, Some(up.sha256()));
    let get = &c.inner.exchanges[&c.inner.order[1]];
    assert!(get.finished);
    assert_eq!(get.status(), Some(200));
    assert_eq!(get.body.len, 10 * MIB);
    assert_eq!(get.body.sha256, Some(pattern_sha256(5, 10 * MIB)));

    let key = client(&mut p).inner.order[0];
    let s = server(&mut p);
    let sconn = s.inner.accepted[0];
    let served = &s.inner.requests[&(sconn, key.1)];
    assert!(served.finished && served.responded);
    assert_eq!(served.body.len, 10 * MIB);
    assert_eq!(served.body.sha256, Some(up.sha256()));
}

// ---------------------------------------------------------------------------
// 3. Trailers
// ---------------------------------------------------------------------------

#[test]
fn trailers_both_ways() {
    let body = Body::Pattern {
        seed: 3,
        len: 50_000,
    };
    let mut spec = RequestSpec::post("/echo", body.clone()).header("x-trailers", "1");
    spec.trailers = vec![
        ("x-client-trailer".into(), "first".into()),
        ("x-request-sha256".into(), hex(&body.sha256())),
    ];
    let mut p = recorded_pair(PairConfig::default(), [spec]);
    assert!(
        run_requests(&mut p, Duration::from_secs(10)),
        "request did not finish"
    );
    assert_no_app_errors(&mut p);

    let key = client(&mut p).inner.order[0];
    let c = client(&mut p);
    let ex = &c.inner.exchanges[&key];
    assert!(ex.finished);
    assert_eq!(ex.status(), Some(200));
    assert_eq!(ex.body.sha256, Some(body.sha256()));
    let trailers = ex.trailers.as_ref().expect("response trailers");
    assert_eq!(
        trailers.get_str("x-body-sha256"),
        Some(hex(&body.sha256()).as_str())
    );
    // Trailers come after the body and before the end.
    let log = c.stream_log(key.1.0);
    let t = log
        .iter()
        .position(|e| *e == Ev::Trailers { stream: key.1.0 })
        .expect("trailers event");
    assert_eq!(log[t + 1..], [Ev::Finished { stream: key.1.0 }]);
    assert!(log[..t].contains(&Ev::Data { stream: key.1.0 }));

    let s = server(&mut p);
    let served = &s.inner.requests[&(s.inner.accepted[0], key.1)];
    assert!(served.finished);
    assert_eq!(served.body.sha256, Some(body.sha256()));
    let trailers = served.trailers.as_ref().expect("request trailers");
    assert_eq!(trailers.get_str("x-client-trailer"), Some("first"));
    assert_eq!(
        trailers.get_str("x-request-sha256"),
        Some(hex(&body.sha256()).as_str())
    );
    assert_eq!(trailers.len(), 2);
}

// ---------------------------------------------------------------------------
// 4. Interim responses
// ---------------------------------------------------------------------------

#[test]
fn interim_responses_then_final() {
    let spec = RequestSpec::get("/bytes/2000").header("x-interim", "2");
    let mut p = recorded_pair(PairConfig::default(), [spec]);
    assert!(
        run_requests(&mut p, Duration::from_secs(10)),
        "request did not finish"
    );
    assert_no_app_errors(&mut p);

    let key = client(&mut p).inner.order[0];
    let id = key.1.0;
    let c = client(&mut p);
    assert_eq!(
        c.stream_log(id),
        [
            Ev::Interim {
                stream: id,
                status: Some(103),
                n: Some("0".into())
            },
            Ev::Interim {
                stream: id,
                status: Some(103),
                n: Some("1".into())
            },
            Ev::Response {
                stream: id,
                status: Some(200),
                fin: false
            },
            Ev::Data { stream: id },
            Ev::Finished { stream: id },
        ]
    );
    let ex = &c.inner.exchanges[&key];
    assert_eq!(ex.interim.len(), 2);
    assert_eq!(ex.body.sha256, Some(pattern_sha256(0, 2000)));
}

// ---------------------------------------------------------------------------
// 5. Resets and STOP_SENDING
// ---------------------------------------------------------------------------

const CHUNK: [u8; 4000] = [7u8; 4000];

/// Client: a POST /echo whose body (4000 of 100 000 bytes) is under way,
/// once the server has read what was sent.
fn start_upload(p: &mut Pair, sconn: ConnHandle) -> StreamId {
    let conn = p.conn;
    let s = {
        let mut c = p.client_ep().conn(conn).expect("client conn");
        let s = c
            .send_request(&post_head("/echo", "100000"), false)
            .expect("send_request");
        assert_eq!(c.send_body(s, &CHUNK, false), Ok(CHUNK.len()));
        s
    };
    run(
        p,
        Duration::from_secs(5),
        "server reads upload",
        |sim, _, srv| {
            rec::<ServerApp>(sim, srv)
                .inner
                .requests
                .get(&(sconn, s))
                .is_some_and(|r| r.body.len == CHUNK.len() as u64)
        },
    );
    s
}

/// Server: a GET /bytes/100000 answered by hand with its head and 4000
/// body bytes, once the client has read them.
fn start_response(p: &mut Pair, sconn: ConnHandle) -> (ConnHandle, StreamId) {
    server(p).inner.hold = true;
    let key = queue_request(p, RequestSpec::get("/bytes/100000"));
    let s = key.1;
    run(p, Duration::from_secs(5), "request held", |sim, _, srv| {
        rec::<ServerApp>(sim, srv).inner.held.contains(&(sconn, s))
    });
    {
        let srv = server(p);
        srv.inner.held.retain(|k| k.1 != s);
        srv.inner.hold = false;
    }
    {
        let mut c = p.server_ep().conn(sconn).expect("server conn");
        c.send_response(
            s,
            &[(":status", "200"), ("content-length", "100000")],
            false,
        )
        .expect("send_response");
        assert_eq!(c.send_body(s, &CHUNK, false), Ok(CHUNK.len()));
    }
    run(
        p,
        Duration::from_secs(5),
        "client reads partial response",
        |sim, c, _| rec::<ClientApp>(sim, c).inner.exchanges[&key].body.len == CHUNK.len() as u64,
    );
    key
}

/// The connection is intact after a stream-level event.
fn assert_survives(p: &mut Pair, seed: u64) {
    assert_follow_up(p, seed);
    assert!(client(p).closed().is_empty());
    assert!(server(p).closed().is_empty());
    assert_no_app_errors(p);
}

#[test]
fn client_resets_an_upload() {
    let mut p = recorded_pair(PairConfig::default(), []);
    let conn = p.conn;
    let sconn = connect(&mut p);
    let s = start_upload(&mut p, sconn);
    p.client_ep()
        .conn(conn)
        .expect("client conn")
        .reset_stream(s, code::H3_REQUEST_CANCELLED)
        .expect("reset_stream");
    run(
        &mut p,
        Duration::from_secs(5),
        "both sides see the reset",
        |sim, c, srv| {
            rec::<ServerApp>(sim, srv)
                .log
                .iter()
                .any(|(_, e)| matches!(e, Ev::Reset { stream, .. } if *stream == s.0))
                && rec::<ClientApp>(sim, c)
                    .log
                    .iter()
                    .any(|(_, e)| matches!(e, Ev::Reset { stream, .. } if *stream == s.0))
        },
    );
    assert_eq!(
        server(&mut p).stream_log(s.0),
        [
            Ev::Request {
                stream: s.0,
                fin: false
            },
            Ev::Data { stream: s.0 },
            Ev::Reset {
                stream: s.0,
                code: code::H3_REQUEST_CANCELLED
            },
        ]
    );
    let served = &server(&mut p).inner.requests[&(sconn, s)];
    assert_eq!(served.reset, Some(code::H3_REQUEST_CANCELLED));
    assert!(!served.finished && !served.responded);
    // filo ended the server's send side too, with H3_REQUEST_CANCELLED.
    assert_eq!(
        client(&mut p).stream_log(s.0),
        [Ev::Reset {
            stream: s.0,
            code: code::H3_REQUEST_CANCELLED
        }]
    );
    let st = p.server_ep().conn(sconn).expect("server conn").stats();
    assert_eq!((st.abnormal_streams, st.active_streams), (1, 0));
    assert_survives(&mut p, 1);
}

#[test]
fn server_resets_a_response() {
    let mut p = recorded_pair(PairConfig::default(), []);
    let sconn = connect(&mut p);
    let key = start_response(&mut p, sconn);
    let s = key.1;
    p.server_ep()
        .conn(sconn)
        .expect("server conn")
        .reset_stream(s, code::H3_INTERNAL_ERROR)
        .expect("reset_stream");
    run(
        &mut p,
        Duration::from_secs(5),
        "client sees the reset",
        |sim, c, _| rec::<ClientApp>(sim, c).inner.exchanges[&key].is_done(),
    );
    let c = client(&mut p);
    assert_eq!(
        c.stream_log(s.0),
        [
            Ev::Response {
                stream: s.0,
                status: Some(200),
                fin: false
            },
            Ev::Data { stream: s.0 },
            Ev::Reset {
                stream: s.0,
                code: code::H3_INTERNAL_ERROR
            },
        ]
    );
    let ex = &c.inner.exchanges[&key];
    assert_eq!(ex.reset, Some(code::H3_INTERNAL_ERROR));
    assert!(!ex.finished);
    assert_eq!(
        p.server_ep()
            .conn(sconn)
            .expect("server conn")
            .active_streams(),
        0
    );
    assert_survives(&mut p, 2);
}

#[test]
fn client_stops_a_response() {
    let mut p = recorded_pair(PairConfig::default(), []);
    let conn = p.conn;
    let sconn = connect(&mut p);
    let key = start_response(&mut p, sconn);
    let s = key.1;
    p.client_ep()
        .conn(conn)
        .expect("client conn")
        .stop_sending(s, code::H3_REQUEST_CANCELLED)
        .expect("stop_sending");
    run(
        &mut p,
        Duration::from_secs(5),
        "server sees STOP_SENDING",
        |sim, _, srv| {
            rec::<ServerApp>(sim, srv)
                .log
                .iter()
                .any(|(_, e)| matches!(e, Ev::StopSending { stream, .. } if *stream == s.0))
        },
    );
    assert_eq!(
        server(&mut p).stream_log(s.0),
        [
            Ev::Request {
                stream: s.0,
                fin: true
            },
            Ev::Finished { stream: s.0 },
            Ev::StopSending {
                stream: s.0,
                code: code::H3_REQUEST_CANCELLED
            },
        ]
    );
    assert_eq!(
        server(&mut p).inner.requests[&(sconn, s)].stopped,
        Some(code::H3_REQUEST_CANCELLED)
    );
    let after = p
        .server_ep()
        .conn(sconn)
        .expect("server conn")
        .send_body(s, &CHUNK, false);
    assert!(
        after == Err(StreamError::Stopped(code::H3_REQUEST_CANCELLED))
            || after == Err(StreamError::UnknownStream(s)),
        "send_body after STOP_SENDING: {after:?}"
    );
    assert_survives(&mut p, 3);
}

#[test]
fn server_stops_an_upload_and_answers_early() {
    let mut p = recorded_pair(PairConfig::default(), []);
    let conn = p.conn;
    let sconn = connect(&mut p);
    let s = start_upload(&mut p, sconn);
    p.server_ep()
        .conn(sconn)
        .expect("server conn")
        .stop_sending(s, code::H3_NO_ERROR)
        .expect("stop_sending");
    run(
        &mut p,
        Duration::from_secs(5),
        "client sees STOP_SENDING",
        |sim, c, _| {
            rec::<ClientApp>(sim, c)
                .log
                .iter()
                .any(|(_, e)| matches!(e, Ev::StopSending { stream, .. } if *stream == s.0))
        },
    );
    let after = p
        .client_ep()
        .conn(conn)
        .expect("client conn")
        .send_body(s, &CHUNK, false);
    assert!(
        after.is_err(),
        "client send_body after STOP_SENDING: {after:?}"
    );
    // An early response (RFC 9114 §4.1.1) still reaches the client.
    p.server_ep()
        .conn(sconn)
        .expect("server conn")
        .send_response(s, &[(":status", "200"), ("content-length", "0")], true)
        .expect("early response");
    run(
        &mut p,
        Duration::from_secs(5),
        "client gets the early response",
        |sim, c, _| rec::<ClientApp>(sim, c).has(&Ev::Finished { stream: s.0 }),
    );
    assert_eq!(
        client(&mut p).stream_log(s.0),
        [
            Ev::StopSending {
                stream: s.0,
                code: code::H3_NO_ERROR
            },
            Ev::Response {
                stream: s.0,
                status: Some(200),
                fin: true
            },
            Ev::Finished { stream: s.0 },
        ]
    );
    assert_survives(&mut p, 4);
}

// ---------------------------------------------------------------------------
// 6. The peer's stream limit
// ---------------------------------------------------------------------------

#[test]
fn stream_limit_queues_requests() {
    let size = |i: u64| 1000 + 13 * i;
    let specs = (0..20u64)
        .map(|i| RequestSpec::get(&format!("/bytes/{}", size(i))).header("x-seed", &i.to_string()));
    let mut cfg = PairConfig::default();
    cfg.server.max_streams_bidi = 5;
    let mut p = recorded_pair(cfg, specs);
    assert!(
        run_requests(&mut p, Duration::from_secs(10)),
        "requests did not finish"
    );
    assert_no_app_errors(&mut p);
    let c = client(&mut p);
    assert!(c.inner.stream_limit_hits > 0, "never hit the stream limit");
    assert!(c.inner.streams_available > 0, "no StreamsAvailable");
    assert_eq!(c.inner.order.len(), 20);
    for (i, key) in c.inner.order.iter().enumerate() {
        let ex = &c.inner.exchanges[key];
        let i = i as u64;
        assert!(ex.finished, "request {i}");
        assert_eq!(ex.status(), Some(200));
        assert_eq!(
            ex.body.sha256,
            Some(pattern_sha256(i, size(i))),
            "request {i}"
        );
    }
    assert!(
        server(&mut p).max_active <= 5,
        "server had {} streams open",
        server(&mut p).max_active
    );
}

/// The client of the manual loop: sends `GET /bytes/(500 + i)` as the
/// stream limit allows and checks when `StreamsAvailable` comes.
#[derive(Default)]
struct LimitClient {
    connected: bool,
    next: u64,
    total: u64,
    blocked: bool,
    sent: Vec<StreamId>,
    finished: HashMap<StreamId, (Option<u16>, u64)>,
    status: HashMap<StreamId, Option<u16>>,
    received: HashMap<StreamId, u64>,
    events_after_datagram: u32,
    /// `send_request` refused by the limit (probes excluded).
    limit_hits: u32,
    /// Inputs after which no event came and a probe confirmed the limit.
    quiet_checks: u32,
}

impl LimitClient {
    /// Sends requests until the limit refuses one.
    fn fill(&mut self, ep: &mut Endpoint, conn: ConnHandle) -> usize {
        let mut n = 0;
        while self.next < self.total {
            let path = format!("/bytes/{}", 500 + self.next);
            let mut c = ep.conn(conn).expect("client conn");
            match c.send_request(&get_head(&path), true) {
                Ok(s) => {
                    self.sent.push(s);
                    self.next += 1;
                    n += 1;
                }
                Err(SendRequestError::StreamLimit) => {
                    self.blocked = true;
                    self.limit_hits += 1;
                    break;
                }
                Err(e) => panic!("send_request: {e}"),
            }
        }
        n
    }

    /// Handles the client's events; returns how many were StreamsAvailable.
    fn drain(&mut self, ep: &mut Endpoint, conn: ConnHandle) -> u32 {
        let mut available = 0;
        while let Some(ev) = ep.poll_event() {
            match ev.kind {
                EventKind::Connected => self.connected = true,
                EventKind::StreamsAvailable => available += 1,
                EventKind::Response {
                    stream, headers, ..
                } => {
                    self.status.insert(stream, headers.status());
                }
                EventKind::Data { stream } => {
                    let mut buf = [0u8; 4096];
                    let mut c = ep.conn(conn).expect("client conn");
                    loop {
                        let n = c.recv_body(stream, &mut buf).expect("recv_body");
                        if n == 0 {
                            break;
                        }
                        *self.received.entry(stream).or_default() += n as u64;
                    }
                }
                EventKind::Finished { stream } => {
                    let status = self.status.get(&stream).copied().flatten();
                    let len = self.received.get(&stream).copied().unwrap_or(0);
                    self.finished.insert(stream, (status, len));
                }
                EventKind::Closed { reason } => panic!("client connection closed: {reason:?}"),
                other => {
                    if !matches!(other, EventKind::Writable { .. }) {
                        panic!("unexpected client event {other:?}");
                    }
                }
            }
        }
        available
    }

    /// After an input: checks the `StreamsAvailable` contract and refills.
    /// `from_datagram` says whether the input was a received datagram.
    fn after_input(&mut self, ep: &mut Endpoint, conn: ConnHandle, from_datagram: bool) {
        let available = self.drain(ep, conn);
        if available > 0 {
            assert!(
                from_datagram,
                "StreamsAvailable after a timer, not a datagram"
            );
            assert_eq!(
                available, 1,
                "more than one StreamsAvailable for one datagram"
            );
            assert!(
                self.blocked,
                "StreamsAvailable without a refused send_request"
            );
            self.events_after_datagram += 1;
            self.blocked = false;
            let sent = self.fill(ep, conn);
            assert!(sent > 0, "StreamsAvailable but the limit still refuses");
        } else if self.blocked {
            // Nothing announced: the limit must still hold (a request
            // going through here means the event was missed).
            let before = (self.sent.len(), self.limit_hits);
            self.blocked = false;
            self.fill(ep, conn);
            self.limit_hits = before.1;
            self.quiet_checks += 1;
            assert_eq!(
                self.sent.len(),
                before.0,
                "stream limit rose without StreamsAvailable"
            );
            assert!(self.blocked);
        } else if self.connected && self.next < self.total {
            self.fill(ep, conn);
        }
    }
}

#[test]
fn streams_available_follows_the_datagram_that_raised_the_limit() {
    let mut cfg = PairConfig::default();
    cfg.server.max_streams_bidi = 5;
    let mut p = Pair::new(cfg);
    let conn = p.conn;
    assert_eq!((p.server, p.client), (0, 1));
    let (a, b) = p.sim.nodes.split_at_mut(1);
    let server_ep = &mut a[0].endpoint;
    let client_ep = &mut b[0].endpoint;
    let mut server_app = ServerApp::new();
    let mut cl = LimitClient {
        total: 20,
        ..LimitClient::default()
    };
    let mut buf = vec![0u8; 65536];
    let deadline = wall_now() + Duration::from_secs(10);

    while cl.finished.len() < 20 {
        assert!(
            wall_now() < deadline,
            "timed out: {} of 20 finished",
            cl.finished.len()
        );
        let mut progress = false;
        let now = wall_now();
        while let Some(t) = client_ep.poll_transmit(now, &mut buf, 1) {
            progress = true;
            server_ep.handle_datagram(now, RecvMeta::new(t.to, t.from), &mut buf[..t.len]);
        }
        while let Some(ev) = server_ep.poll_event() {
            progress = true;
            server_app.on_event(server_ep, ev);
        }
        let mut to_client: Vec<(SocketAddr, SocketAddr, Vec<u8>)> = Vec::new();
        while let Some(t) = server_ep.poll_transmit(now, &mut buf, 1) {
            to_client.push((t.to, t.from, buf[..t.len].to_vec()));
        }
        for (to, from, mut d) in to_client {
            progress = true;
            client_ep.handle_datagram(wall_now(), RecvMeta::new(to, from), &mut d);
            cl.after_input(client_ep, conn, true);
        }
        let now = wall_now();
        if server_ep.poll_timeout().is_some_and(|t| t <= now) {
            progress = true;
            server_ep.handle_timeout(now);
            while let Some(ev) = server_ep.poll_event() {
                server_app.on_event(server_ep, ev);
            }
        }
        if client_ep.poll_timeout().is_some_and(|t| t <= now) {
            progress = true;
            client_ep.handle_timeout(now);
            cl.after_input(client_ep, conn, false);
        }
        if !progress {
            let wake = [server_ep.poll_timeout(), client_ep.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(now + Duration::from_millis(5));
            let wait = wake
                .saturating_duration_since(wall_now())
                .min(Duration::from_millis(5));
            std::thread::sleep(wait);
        }
    }
    assert!(server_app.errors.is_empty(), "{:?}", server_app.errors);
    assert_eq!(cl.sent.len(), 20);
    // 20 requests through 5 streams: the limit was hit and lifted at least
    // three times, each time announced by the datagram that lifted it.
    assert!(cl.limit_hits >= 3, "limit hits {}", cl.limit_hits);
    assert!(cl.quiet_checks > 0, "the limit was never probed");
    assert!(
        cl.events_after_datagram >= 3,
        "StreamsAvailable {}",
        cl.events_after_datagram
    );
    for (i, s) in cl.sent.iter().enumerate() {
        let len = 500 + i as u64;
        assert_eq!(
            cl.finished[s],
            (Some(200), len),
            "request {i} on stream {s}"
        );
    }
}

// ---------------------------------------------------------------------------
// 7. Two-phase GOAWAY
// ---------------------------------------------------------------------------

/// The GOAWAY scenario up to the rejection of the late requests.
struct GoawayRun {
    p: Pair,
    sconn: ConnHandle,
    /// Stream ids the server saw before GOAWAY (held, below the final id).
    early: BTreeSet<u64>,
    /// Stream ids sent before the GOAWAY arrived but delivered after it.
    late: BTreeSet<u64>,
}

fn goaway_size(i: u64) -> u64 {
    1000 + i
}

/// Ten requests held by the server; five more leave the client just
/// before the server's GOAWAY and cross it on a 300 ms link. Asserts
/// everything up to the late requests being rejected.
fn goaway_with_crossing_requests() -> GoawayRun {
    let specs = (0..10u64).map(|i| {
        RequestSpec::get(&format!("/bytes/{}", goaway_size(i))).header("x-seed", &i.to_string())
    });
    let mut p = recorded_pair(PairConfig::default(), specs);
    let conn = p.conn;
    server(&mut p).inner.hold = true;
    client(&mut p).probe_on_goaway = true;
    run(
        &mut p,
        Duration::from_secs(5),
        "10 requests held",
        |sim, _, s| rec::<ServerApp>(sim, s).inner.held.len() == 10,
    );
    let sconn = server(&mut p).inner.accepted[0];
    let early: BTreeSet<u64> = client(&mut p).inner.order.iter().map(|k| k.1.0).collect();
    assert_eq!(early, (0..10).map(|i| i * 4).collect());
    // The final GOAWAY goes out about one RTT after the announce; the RTT
    // must be far below the link delay below for the ids to be exact.
    let rtt = p.server_ep().conn(sconn).expect("server conn").stats().rtt;
    assert!(rtt < Duration::from_millis(100), "rtt {rtt:?}");

    // Five more requests leave the client now but take 300 ms to arrive:
    // they cross both GOAWAYs, so the server sees them only after its
    // final id (40, one past the highest request it saw) is out.
    let delay = LinkConfig {
        delay: Duration::from_millis(300),
        ..LinkConfig::default()
    };
    p.sim.set_link(p.client, p.server, delay);
    let late: BTreeSet<u64> = (0..5u64)
        .map(|i| {
            queue_request(&mut p, RequestSpec::get(&format!("/bytes/{}", 2000 + i)))
                .1
                .0
        })
        .collect();
    assert_eq!(late, (10..15).map(|i| i * 4).collect());
    p.server_ep()
        .conn(sconn)
        .expect("server conn")
        .goaway(wall_now());

    run(
        &mut p,
        Duration::from_secs(5),
        "late requests rejected",
        |sim, c, s| {
            rec::<ClientApp>(sim, c).not_processed().len() >= 5
                && rec::<ServerApp>(sim, s)
                    .stats
                    .get(&sconn)
                    .is_some_and(|st| st.rejected_requests >= 5)
        },
    );
    let n = p
        .server_ep()
        .conn(sconn)
        .expect("server conn")
        .sent_goaway();
    assert_eq!(n, Some(40));
    let c = client(&mut p);
    assert_eq!(c.goaways(), [GOAWAY_MAX_ID, 40]);
    // No new request after a GOAWAY: the probes made as each GOAWAY
    // arrived failed.
    assert_eq!(
        c.probes,
        [
            Err(SendRequestError::GoingAway),
            Err(SendRequestError::GoingAway)
        ]
    );
    // Exactly the requests at or above the id are reported, once each.
    let np = c.not_processed();
    assert_eq!(np.len(), 5, "NotProcessed reported more than once: {np:?}");
    assert_eq!(np.into_iter().collect::<BTreeSet<_>>(), late);
    assert!(
        early
            .iter()
            .all(|id| !c.inner.exchanges[&(conn, StreamId(*id))].is_done())
    );
    assert!(c.closed().is_empty());
    let s = server(&mut p);
    // The late requests never reached the application.
    assert_eq!(s.inner.requests.len(), 10);
    assert!(s.inner.requests.keys().all(|k| early.contains(&k.1.0)));
    assert_eq!(s.stats[&sconn].rejected_requests, 5);
    assert!(s.closed().is_empty());
    assert_no_app_errors(&mut p);
    GoawayRun {
        p,
        sconn,
        early,
        late,
    }
}

#[test]
fn two_phase_goaway_rejects_requests_that_cross_it() {
    let GoawayRun {
        mut p, sconn, late, ..
    } = goaway_with_crossing_requests();
    // The held requests keep the connection open (the drain timeout is
    // 10 s).
    p.sim.run_for(Duration::from_millis(200));
    assert!(client(&mut p).closed().is_empty());
    assert!(p.server_ep().conn(sconn).is_some_and(|c| !c.is_closing()));
    assert_eq!(client(&mut p).not_processed().len(), late.len());
}

#[test]
fn two_phase_goaway_drains_held_requests_then_closes() {
    let GoawayRun { mut p, early, .. } = goaway_with_crossing_requests();
    let conn = p.conn;
    p.sim.set_link(p.client, p.server, LinkConfig::default());
    let (s, ep) = p
        .sim
        .app_and_endpoint::<Server>(p.server)
        .expect("server app");
    s.inner.release(ep);
    run(
        &mut p,
        Duration::from_secs(5),
        "connection closed",
        |sim, c, s| {
            !rec::<ClientApp>(sim, c).closed().is_empty()
                && !rec::<ServerApp>(sim, s).closed().is_empty()
        },
    );
    assert_no_app_errors(&mut p);
    let c = client(&mut p);
    for (i, id) in early.iter().enumerate() {
        let ex = &c.inner.exchanges[&(conn, StreamId(*id))];
        let i = i as u64;
        assert!(ex.finished, "held request {id} did not complete: {ex:?}");
        assert_eq!(ex.status(), Some(200));
        assert_eq!(ex.body.sha256, Some(pattern_sha256(i, goaway_size(i))));
    }
    assert!(
        matches!(
            c.closed().as_slice(),
            [CloseReason::PeerApplication {
                code: code::H3_NO_ERROR,
                ..
            }]
        ),
        "client close: {:?}",
        c.closed()
    );
    // Every response ended before the close.
    let closed_at = c
        .log
        .iter()
        .position(|(_, e)| matches!(e, Ev::Closed { .. }))
        .expect("closed");
    let last_finish = c
        .log
        .iter()
        .rposition(|(_, e)| matches!(e, Ev::Finished { .. }))
        .expect("finished");
    assert!(last_finish < closed_at);
    assert_eq!(
        server(&mut p).closed(),
        [CloseReason::Local {
            code: code::H3_NO_ERROR,
            app: true
        }]
    );
    assert_eq!(p.server_ep().connection_count(), 0);
}

// ---------------------------------------------------------------------------
// 8. Abnormal-stream budget (rapid reset)
// ---------------------------------------------------------------------------

/// A client that opens requests and cancels them at once, as often as its
/// stream credit allows.
struct RapidReset {
    /// Reset in the same call as `send_request` (the HEADERS never leave)
    /// rather than one step later (HEADERS on the wire, then the reset).
    immediate: bool,
    attempts: u64,
    max_attempts: u64,
    fresh: Vec<(ConnHandle, StreamId)>,
    to_reset: Vec<(ConnHandle, StreamId)>,
    closed: Vec<CloseReason>,
}

impl RapidReset {
    fn new(immediate: bool) -> Self {
        Self {
            immediate,
            attempts: 0,
            max_attempts: 5000,
            fresh: Vec::new(),
            to_reset: Vec::new(),
            closed: Vec::new(),
        }
    }

    fn cancel(ep: &mut Endpoint, conn: ConnHandle, s: StreamId) {
        if let Some(mut c) = ep.conn(conn) {
            let _ = c.reset_stream(s, code::H3_REQUEST_CANCELLED);
            let _ = c.stop_sending(s, code::H3_REQUEST_CANCELLED);
        }
    }

    fn fire(&mut self, ep: &mut Endpoint, conn: ConnHandle) {
        while self.attempts < self.max_attempts {
            let Some(mut c) = ep.conn(conn) else { return };
            match c.send_request(&get_head("/"), false) {
                Ok(s) => {
                    self.attempts += 1;
                    if self.immediate {
                        Self::cancel(ep, conn, s);
                    } else {
                        self.fresh.push((conn, s));
                    }
                }
                Err(_) => return,
            }
        }
    }
}

impl NodeApp for RapidReset {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        match ev.kind {
            EventKind::Connected | EventKind::StreamsAvailable => self.fire(ep, ev.conn),
            EventKind::Closed { reason } => self.closed.push(reason),
            _ => {}
        }
    }

    fn on_step(&mut self, ep: &mut Endpoint) {
        for (conn, s) in std::mem::take(&mut self.to_reset) {
            Self::cancel(ep, conn, s);
        }
        self.to_reset = std::mem::take(&mut self.fresh);
    }
}

fn rapid_reset(immediate: bool) {
    const BUDGET: u32 = 50;
    let mut cfg = PairConfig::default();
    cfg.server.abnormal_stream_budget = BUDGET;
    let mut p = Pair::new(cfg);
    p.sim.set_app(p.server, Recorder::new(ServerApp::new()));
    p.sim.set_app(p.client, RapidReset::new(immediate));
    let (c, srv) = (p.client, p.server);
    let ok = p.sim.run_until(Duration::from_secs(10), |sim| {
        !sim.app::<RapidReset>(c)
            .expect("client app")
            .closed
            .is_empty()
            && !rec::<ServerApp>(sim, srv).closed().is_empty()
    });
    let attacker = p.sim.app::<RapidReset>(c).expect("client app");
    let (attempts, closed) = (attacker.attempts, attacker.closed.clone());
    let srv_stats: Vec<ConnStats> = server(&mut p).stats.values().copied().collect();
    let srv_events = server(&mut p).log.len();
    let srv_requests = server(&mut p).inner.requests.len();
    assert!(
        ok,
        "connection not closed after {attempts} reset requests; client closes {closed:?}; \
         server: {srv_events} events, {srv_requests} requests surfaced, stats {srv_stats:?}"
    );
    assert!(
        matches!(
            closed.as_slice(),
            [CloseReason::PeerApplication {
                code: code::H3_EXCESSIVE_LOAD,
                ..
            }]
        ),
        "client close: {closed:?}"
    );
    let s = server(&mut p);
    assert_eq!(
        s.closed(),
        [CloseReason::Local {
            code: code::H3_EXCESSIVE_LOAD,
            app: true
        }]
    );
    let sconn = s.inner.accepted[0];
    let abnormal = s.stats[&sconn].abnormal_streams;
    assert!(
        (u64::from(BUDGET) + 1..=u64::from(BUDGET) + 5).contains(&abnormal),
        "server counted {abnormal} abnormal streams"
    );
    // The attack stopped near the budget (one window of stream credit
    // beyond it at most), not after thousands of attempts, and left
    // nothing behind on the server.
    let max_streams = test_limits().max_streams_bidi;
    assert!(attempts > u64::from(BUDGET), "attempts {attempts}");
    assert!(
        attempts <= u64::from(BUDGET) + 2 * max_streams,
        "attempts {attempts}"
    );
    assert!(s.inner.requests.len() as u64 <= attempts);
    assert_eq!(p.server_ep().connection_count(), 0);
    assert_eq!(p.server_ep().stats().connections_closed, 1);
}

#[test]
fn rapid_reset_with_headers_on_the_wire_hits_the_budget() {
    rapid_reset(false);
}

#[test]
fn rapid_reset_before_headers_leave_hits_the_budget() {
    rapid_reset(true);
}

// ---------------------------------------------------------------------------
// 9. Request cap
// ---------------------------------------------------------------------------

fn cap_size(i: u64) -> u64 {
    700 + i
}

/// 15 requests against a cap of 10.
fn request_cap_pair(hold: bool) -> Pair {
    let specs = (0..15u64).map(|i| {
        RequestSpec::get(&format!("/bytes/{}", cap_size(i))).header("x-seed", &i.to_string())
    });
    let mut cfg = PairConfig::default();
    cfg.server.max_requests_per_connection = 10;
    let mut p = recorded_pair(cfg, specs);
    server(&mut p).inner.hold = hold;
    p
}

/// The client sent stream ids 0, 4, .. 56; the last five were not
/// processed, each reported once, and the GOAWAY said 40.
fn assert_cap_rejections(p: &mut Pair) {
    let c = client(p);
    let ids: Vec<u64> = c.inner.order.iter().map(|k| k.1.0).collect();
    assert_eq!(ids, (0..15).map(|i| i * 4).collect::<Vec<_>>());
    for key in &c.inner.order[10..] {
        let ex = &c.inner.exchanges[key];
        assert!(ex.not_processed && ex.response.is_none(), "{key:?}: {ex:?}");
    }
    let np = c.not_processed();
    assert_eq!(np.len(), 5, "{np:?}");
    assert_eq!(
        np.into_iter().collect::<BTreeSet<_>>(),
        (10..15).map(|i| i * 4).collect()
    );
    assert_eq!(c.goaways(), [40]);
    let s = server(p);
    let sconn = s.inner.accepted[0];
    assert_eq!(s.inner.requests.len(), 10);
    assert!(s.inner.requests.keys().all(|k| k.1.0 < 40));
    assert_eq!(s.stats[&sconn].rejected_requests, 5);
}

#[test]
fn request_cap_sends_goaway_and_rejects_the_rest() {
    let mut p = request_cap_pair(true);
    run(
        &mut p,
        Duration::from_secs(5),
        "cap reached",
        |sim, c, s| {
            rec::<ClientApp>(sim, c).not_processed().len() >= 5
                && rec::<ServerApp>(sim, s).inner.held.len() == 10
                && rec::<ServerApp>(sim, s)
                    .stats
                    .values()
                    .any(|st| st.rejected_requests >= 5)
        },
    );
    assert_cap_rejections(&mut p);
    let sconn = server(&mut p).inner.accepted[0];
    assert_eq!(
        p.server_ep()
            .conn(sconn)
            .expect("server conn")
            .sent_goaway(),
        Some(40)
    );
    // The ten served requests are still in flight: nothing closed.
    assert!(client(&mut p).closed().is_empty());
    assert!(server(&mut p).closed().is_empty());
    assert_no_app_errors(&mut p);
}

#[test]
fn request_cap_serves_the_first_ten_then_closes() {
    let mut p = request_cap_pair(false);
    run(
        &mut p,
        Duration::from_secs(10),
        "connection closed",
        |sim, c, s| {
            !rec::<ClientApp>(sim, c).closed().is_empty()
                && !rec::<ServerApp>(sim, s).closed().is_empty()
        },
    );
    assert_no_app_errors(&mut p);
    let c = client(&mut p);
    for (i, key) in c.inner.order.iter().enumerate().take(10) {
        let ex = &c.inner.exchanges[key];
        let i = i as u64;
        assert!(ex.finished, "request {i}: {ex:?}");
        assert_eq!(ex.status(), Some(200));
        assert_eq!(ex.body.sha256, Some(pattern_sha256(i, cap_size(i))));
    }
    assert!(
        matches!(
            c.closed().as_slice(),
            [CloseReason::PeerApplication {
                code: code::H3_EXCESSIVE_LOAD,
                ..
            }]
        ),
        "client close: {:?}",
        c.closed()
    );
    assert_cap_rejections(&mut p);
    // Issue 3: past the request cap, GOAWAY, then (once the served requests
    // finish) close with H3_EXCESSIVE_LOAD.
    assert_eq!(
        server(&mut p).closed(),
        [CloseReason::Local {
            code: code::H3_EXCESSIVE_LOAD,
            app: true
        }]
    );
    assert_eq!(p.server_ep().connection_count(), 0);
}

// ---------------------------------------------------------------------------
// 10. Keep-alive
// ---------------------------------------------------------------------------

fn idle_pair(keep_alive: Option<Duration>) -> Pair {
    let mut cfg = PairConfig::default();
    cfg.client.keep_alive = keep_alive;
    cfg.server.idle_timeout = Duration::from_millis(300);
    recorded_pair(cfg, [])
}

#[test]
fn keep_alive_holds_an_idle_connection() {
    let mut p = idle_pair(Some(Duration::from_millis(50)));
    let sconn = connect(&mut p);
    let conn = p.conn;
    let start = client(&mut p).log.len();
    let sent_before = p
        .client_ep()
        .conn(conn)
        .expect("client conn")
        .stats()
        .packets_sent;
    p.sim.run_for(Duration::from_millis(1500));
    // The client kept pinging (about every 50 ms) while nothing else
    // happened.
    let pings = p
        .client_ep()
        .conn(conn)
        .expect("client conn")
        .stats()
        .packets_sent
        - sent_before;
    assert!(pings >= 10, "{pings} packets sent in 1.5 s of keep-alive");
    assert!(
        client(&mut p).closed().is_empty(),
        "client closed: {:?}",
        client(&mut p).closed()
    );
    assert!(
        server(&mut p).closed().is_empty(),
        "server closed: {:?}",
        server(&mut p).closed()
    );
    assert_eq!(
        client(&mut p).log.len(),
        start,
        "events while idle: {:?}",
        &client(&mut p).log[start..]
    );
    assert!(
        p.client_ep()
            .conn(conn)
            .is_some_and(|c| c.is_established() && !c.is_closing())
    );
    assert!(p.server_ep().conn(sconn).is_some_and(|c| !c.is_closing()));
    assert_follow_up(&mut p, 10);
}

#[test]
fn without_keep_alive_an_idle_connection_times_out() {
    let mut p = idle_pair(None);
    connect(&mut p);
    let connected = wall_now();
    run(
        &mut p,
        Duration::from_millis(2000),
        "idle timeout",
        |sim, c, s| {
            !rec::<ClientApp>(sim, c).closed().is_empty()
                && !rec::<ServerApp>(sim, s).closed().is_empty()
        },
    );
    let elapsed = connected.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "closed after {elapsed:?}"
    );
    assert_eq!(client(&mut p).closed(), [CloseReason::IdleTimeout]);
    assert_eq!(server(&mut p).closed(), [CloseReason::IdleTimeout]);
}

// ---------------------------------------------------------------------------
// 11. Writable under small windows
// ---------------------------------------------------------------------------

#[test]
fn large_response_through_small_windows() {
    let len = 4 * MIB;
    let mut cfg = PairConfig::default();
    cfg.client.stream_window = 64 << 10;
    cfg.client.connection_window = 128 << 10;
    let spec = RequestSpec::get(&format!("/bytes/{len}")).header("x-seed", "11");
    let mut p = recorded_pair(cfg, [spec]);
    assert!(
        run_requests(&mut p, Duration::from_secs(30)),
        "request did not finish"
    );
    assert_no_app_errors(&mut p);
    let key = client(&mut p).inner.order[0];
    let ex = &client(&mut p).inner.exchanges[&key];
    assert!(ex.finished);
    assert_eq!(ex.status(), Some(200));
    assert_eq!(ex.body.len, len);
    assert_eq!(ex.body.sha256, Some(pattern_sha256(11, len)));
    // The server's sends came up short and resumed on Writable.
    let s = server(&mut p);
    let writable = s
        .log
        .iter()
        .filter(|(_, e)| *e == Ev::Writable { stream: key.1.0 })
        .count();
    assert!(writable > 0, "no Writable event");
    assert!(s.inner.requests[&(s.inner.accepted[0], key.1)].responded);
}
