//! HTTP message validation and frame ordering (RFC 9114 §4.1, §4.1.2, §4.2,
//! §4.3) on both sides of a connection.
//!
//! - Malformed requests: the server fails the stream with
//!   `StreamFailed { Malformed(rule) }`, resets it with H3_MESSAGE_ERROR,
//!   never surfaces the request, and the connection carries on.
//! - Malformed responses: the client fails the request the same way.
//! - Frames out of order are connection errors (H3_FRAME_UNEXPECTED).
//! - Oversized header sections: 431 / failed request under the soft limit,
//!   H3_EXCESSIVE_LOAD above quiche's hard limit.
//! - The interim-response cap.
//!
//! Malformed messages come from filo itself where it does not validate what
//! it sends (`send_request`, `send_response`), and from raw quiche peers
//! (`filo_sim::raw`) where quiche's encoder would fix them (uppercase names)
//! or where frames must be hand-ordered.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::validate::{MessageError, field_section_size};
use filo_core::{
    CloseReason, Config, ConnHandle, ConnectOptions, Endpoint, Event, EventKind, HeaderList,
    Limits, RecvMeta, StreamError, StreamFailure, StreamId, code,
};
use filo_sim::raw::{RawPeer, data_frame, headers_frame, raw_config, raw_server_config};
use filo_sim::{CLIENT_ADDR, NodeApp, NodeId, Pair, PairConfig, SERVER_ADDR, TestPki, test_limits};

/// Where raw quiche peers live.
const RAW_ADDR: &str = "10.0.0.9:50000";
/// Wall-time bound of every wait.
const LIMIT: Duration = Duration::from_secs(5);

type Hdrs = Vec<(Vec<u8>, Vec<u8>)>;

fn hs(pairs: &[(&str, &str)]) -> Hdrs {
    pairs
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

/// The real clock. filo-core itself never reads it, but quiche (under
/// it) does, so the driver must hand the endpoint the real current time.
#[allow(clippy::disallowed_methods)]
fn wall_now() -> Instant {
    Instant::now()
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("static address")
}

// ---------------------------------------------------------------------------
// A recording application for either side.
// ---------------------------------------------------------------------------

/// One stream event as the tests compare it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rec {
    Request {
        fin: bool,
    },
    Interim {
        status: Option<u16>,
    },
    Response {
        status: Option<u16>,
        fin: bool,
    },
    /// One or more consecutive `Data` events.
    Data,
    Trailers,
    Finished,
    Reset(u64),
    StopSending(u64),
    Failed(StreamFailure),
    NotProcessed,
}

/// Everything one stream went through.
#[derive(Debug, Default)]
struct Log {
    events: Vec<Rec>,
    head: Option<HeaderList>,
    interims: Vec<HeaderList>,
    trailers: Option<HeaderList>,
    body: Vec<u8>,
    recv_errors: Vec<StreamError>,
    /// Server: the answer to send once the request finished.
    pending: Option<Plan>,
}

impl Log {
    fn is_done(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(
                e,
                Rec::Finished | Rec::Failed(_) | Rec::Reset(_) | Rec::NotProcessed
            )
        })
    }
}

/// How the server answers a path.
#[derive(Clone, Debug)]
struct Plan {
    /// Answer as soon as the request head arrives (else once it finished).
    on_request: bool,
    interims: Vec<Hdrs>,
    head: Option<Hdrs>,
    body: Vec<u8>,
    trailers: Option<Hdrs>,
}

/// 200, `content-length: 2`, body `ok`, sent once the request finished.
fn ok_plan() -> Plan {
    Plan {
        on_request: false,
        interims: Vec::new(),
        head: Some(hs(&[(":status", "200"), ("content-length", "2")])),
        body: b"ok".to_vec(),
        trailers: None,
    }
}

/// Answers at once with `head` and `body` (no trailers).
fn answer(head: &[(&str, &str)], body: &[u8]) -> Plan {
    Plan {
        on_request: true,
        head: Some(hs(head)),
        body: body.to_vec(),
        ..ok_plan()
    }
}

/// A request the client sends as given (filo does not validate it).
#[derive(Clone, Debug)]
struct Req {
    head: Hdrs,
    body: Vec<u8>,
    trailers: Option<Hdrs>,
}

const BASE: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "localhost"),
    (":path", "/"),
];

fn req(head: &[(&str, &str)]) -> Req {
    Req {
        head: hs(head),
        body: Vec::new(),
        trailers: None,
    }
}

/// The canonical GET plus `extra` fields.
fn base_with(extra: &[(&str, &str)]) -> Req {
    let mut v = BASE.to_vec();
    v.extend_from_slice(extra);
    req(&v)
}

fn get(path: &str) -> Req {
    req(&[
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", path),
    ])
}

/// A recording app. As a server it answers by `plans` (by path, else
/// [`ok_plan`]); as a client it sends `queue` one request at a time, each
/// after the previous one ended.
#[derive(Debug, Default)]
struct App {
    streams: BTreeMap<StreamId, Log>,
    connected: Vec<ConnHandle>,
    closed: Vec<(ConnHandle, CloseReason)>,
    errors: Vec<String>,
    plans: HashMap<String, Plan>,
    queue: VecDeque<Req>,
    sent: Vec<StreamId>,
}

impl App {
    fn server(plans: impl IntoIterator<Item = (&'static str, Plan)>) -> Self {
        Self {
            plans: plans
                .into_iter()
                .map(|(p, plan)| (p.to_owned(), plan))
                .collect(),
            ..Self::default()
        }
    }

    fn client(queue: impl IntoIterator<Item = Req>) -> Self {
        Self {
            queue: queue.into_iter().collect(),
            ..Self::default()
        }
    }

    fn log(&self, stream: StreamId) -> &Log {
        static EMPTY: Log = Log {
            events: Vec::new(),
            head: None,
            interims: Vec::new(),
            trailers: None,
            body: Vec::new(),
            recv_errors: Vec::new(),
            pending: None,
        };
        self.streams.get(&stream).unwrap_or(&EMPTY)
    }

    /// Client: every queued request was sent and ended.
    fn all_done(&self) -> bool {
        self.queue.is_empty() && self.sent.iter().all(|s| self.log(*s).is_done())
    }

    fn push(&mut self, stream: StreamId, rec: Rec) {
        let log = self.streams.entry(stream).or_default();
        if rec == Rec::Data && log.events.last() == Some(&Rec::Data) {
            return;
        }
        log.events.push(rec);
    }

    fn read_body(&mut self, ep: &mut Endpoint, conn: ConnHandle, stream: StreamId) {
        let log = self.streams.entry(stream).or_default();
        let Some(mut c) = ep.conn(conn) else { return };
        let mut buf = [0u8; 4096];
        loop {
            match c.recv_body(stream, &mut buf) {
                Ok(0) => return,
                Ok(n) => log.body.extend_from_slice(&buf[..n]),
                Err(e) => {
                    log.recv_errors.push(e);
                    return;
                }
            }
        }
    }

    fn execute(&mut self, ep: &mut Endpoint, conn: ConnHandle, stream: StreamId, plan: &Plan) {
        let Some(mut c) = ep.conn(conn) else { return };
        for i in &plan.interims {
            if let Err(e) = c.send_interim(stream, i) {
                self.errors.push(format!("send_interim {stream}: {e}"));
            }
        }
        let Some(head) = &plan.head else { return };
        let no_body = plan.body.is_empty() && plan.trailers.is_none();
        if let Err(e) = c.send_response(stream, head, no_body) {
            self.errors.push(format!("send_response {stream}: {e}"));
            return;
        }
        if !plan.body.is_empty() {
            match c.send_body(stream, &plan.body, plan.trailers.is_none()) {
                Ok(n) if n == plan.body.len() => {}
                r => self.errors.push(format!("send_body {stream}: {r:?}")),
            }
        }
        if let Some(t) = &plan.trailers
            && let Err(e) = c.send_trailers(stream, t)
        {
            self.errors.push(format!("send_trailers {stream}: {e}"));
        }
    }

    fn send_next(&mut self, ep: &mut Endpoint) {
        let Some(&conn) = self.connected.first() else {
            return;
        };
        if self.sent.last().is_some_and(|s| !self.log(*s).is_done()) {
            return;
        }
        let Some(r) = self.queue.pop_front() else {
            return;
        };
        let Some(mut c) = ep.conn(conn) else {
            self.errors.push("send_next: connection gone".into());
            return;
        };
        let fin = r.body.is_empty() && r.trailers.is_none();
        let stream = match c.send_request(&r.head, fin) {
            Ok(s) => s,
            Err(e) => {
                self.errors.push(format!("send_request: {e}"));
                return;
            }
        };
        if !fin {
            match c.send_body(stream, &r.body, r.trailers.is_none()) {
                Ok(n) if n == r.body.len() => {}
                res => self.errors.push(format!("send_body {stream}: {res:?}")),
            }
            if let Some(t) = &r.trailers
                && let Err(e) = c.send_trailers(stream, t)
            {
                self.errors.push(format!("send_trailers {stream}: {e}"));
            }
        }
        self.streams.entry(stream).or_default();
        self.sent.push(stream);
    }
}

impl NodeApp for App {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        let conn = ev.conn;
        match ev.kind {
            EventKind::Connected => self.connected.push(conn),
            EventKind::Request {
                stream,
                headers,
                fin,
            } => {
                self.push(stream, Rec::Request { fin });
                let plan = headers
                    .path()
                    .and_then(|p| self.plans.get(p))
                    .cloned()
                    .unwrap_or_else(ok_plan);
                self.streams.entry(stream).or_default().head = Some(headers);
                if plan.on_request {
                    self.execute(ep, conn, stream, &plan);
                } else {
                    self.streams.entry(stream).or_default().pending = Some(plan);
                }
            }
            EventKind::Interim { stream, headers } => {
                self.push(
                    stream,
                    Rec::Interim {
                        status: headers.status(),
                    },
                );
                self.streams
                    .entry(stream)
                    .or_default()
                    .interims
                    .push(headers);
            }
            EventKind::Response {
                stream,
                headers,
                fin,
            } => {
                self.push(
                    stream,
                    Rec::Response {
                        status: headers.status(),
                        fin,
                    },
                );
                self.streams.entry(stream).or_default().head = Some(headers);
            }
            EventKind::Data { stream } => {
                self.push(stream, Rec::Data);
                self.read_body(ep, conn, stream);
            }
            EventKind::Trailers { stream, headers } => {
                self.push(stream, Rec::Trailers);
                self.streams.entry(stream).or_default().trailers = Some(headers);
            }
            EventKind::Finished { stream } => {
                self.push(stream, Rec::Finished);
                if let Some(plan) = self.streams.entry(stream).or_default().pending.take() {
                    self.execute(ep, conn, stream, &plan);
                }
            }
            EventKind::Reset { stream, code } => self.push(stream, Rec::Reset(code)),
            EventKind::StopSending { stream, code } => self.push(stream, Rec::StopSending(code)),
            EventKind::StreamFailed { stream, reason } => self.push(stream, Rec::Failed(reason)),
            EventKind::NotProcessed { stream } => self.push(stream, Rec::NotProcessed),
            EventKind::Closed { reason } => self.closed.push((conn, reason)),
            _ => {}
        }
    }

    fn on_step(&mut self, ep: &mut Endpoint) {
        self.send_next(ep);
    }
}

// ---------------------------------------------------------------------------
// filo client <-> filo server.
// ---------------------------------------------------------------------------

/// What a pair run left behind.
struct Run {
    client: App,
    server: App,
    pair: Pair,
    server_conn: ConnHandle,
}

fn take_app(p: &mut Pair, node: NodeId) -> App {
    std::mem::take(p.sim.app::<App>(node).expect("App attached"))
}

/// Runs `queue` from a filo client against a filo server answering by
/// `plans`, until every request ended (plus a short settle).
fn run_pair(name: &str, cfg: PairConfig, plans: App, queue: Vec<Req>) -> Run {
    let n = queue.len();
    let mut p = Pair::new(cfg);
    p.sim.set_app(p.server, plans);
    p.sim.set_app(p.client, App::client(queue));
    let c = p.client;
    let done = p.sim.run_until(LIMIT, |sim| {
        sim.app::<App>(c)
            .is_some_and(|a| a.sent.len() == n && a.all_done())
    });
    // Let anything late (a connection close) surface.
    p.sim.run_for(Duration::from_millis(20));
    let (cn, sn) = (p.client, p.server);
    let client = take_app(&mut p, cn);
    let server = take_app(&mut p, sn);
    assert!(
        done,
        "{name}: exchanges did not end in time\nclient: {client:#?}\nserver: {server:#?}"
    );
    let server_conn = *server.connected.first().expect("server connected");
    Run {
        client,
        server,
        pair: p,
        server_conn,
    }
}

impl Run {
    /// The request after the failing one succeeded on the same connection,
    /// and neither side closed.
    fn assert_follow_up_ok(&mut self, name: &str, good: StreamId) {
        let (c, s) = (&self.client, &self.server);
        assert_eq!(
            s.log(good).events,
            [Rec::Request { fin: true }, Rec::Finished],
            "{name}: follow-up request on the server"
        );
        assert_eq!(
            c.log(good).events,
            [
                Rec::Response {
                    status: Some(200),
                    fin: false
                },
                Rec::Data,
                Rec::Finished
            ],
            "{name}: follow-up response on the client"
        );
        assert_eq!(c.log(good).body, b"ok", "{name}: follow-up body");
        assert!(c.closed.is_empty(), "{name}: client closed: {:?}", c.closed);
        assert!(s.closed.is_empty(), "{name}: server closed: {:?}", s.closed);
        let conn = self.pair.conn;
        let alive = self
            .pair
            .client_ep()
            .conn(conn)
            .is_some_and(|c| !c.is_closing());
        assert!(alive, "{name}: client connection not alive");
        let sc = self.server_conn;
        let alive = self
            .pair
            .server_ep()
            .conn(sc)
            .is_some_and(|c| !c.is_closing());
        assert!(alive, "{name}: server connection not alive");
    }

    fn server_stats(&mut self) -> filo_core::ConnStats {
        let sc = self.server_conn;
        self.pair.server_ep().conn(sc).expect("server conn").stats()
    }

    fn client_stats(&mut self) -> filo_core::ConnStats {
        let conn = self.pair.conn;
        self.pair
            .client_ep()
            .conn(conn)
            .expect("client conn")
            .stats()
    }
}

// ---------------------------------------------------------------------------
// Server side: malformed requests from a filo client.
// ---------------------------------------------------------------------------

/// Sends `bad` then a plain GET; the server must fail `bad` with `want`
/// (its events on the stream exactly `server_events`, its `recv_body`
/// errors exactly `recv_errors`), reset it with H3_MESSAGE_ERROR, and serve
/// the GET on the same connection.
fn check_server(name: &str, bad: Req, server_events: &[Rec], recv_errors: &[StreamError]) {
    let mut run = run_pair(
        name,
        PairConfig::default(),
        App::server([]),
        vec![bad, get("/ok")],
    );
    let [bad, good] = run.client.sent[..] else {
        panic!("{name}: expected two requests, sent {:?}", run.client.sent)
    };
    let s = run.server.log(bad);
    assert_eq!(
        s.events, server_events,
        "{name}: server events for the malformed request"
    );
    assert_eq!(
        s.recv_errors, recv_errors,
        "{name}: server recv_body errors"
    );
    assert!(s.trailers.is_none(), "{name}: trailers surfaced");
    assert_eq!(
        run.client.log(bad).events,
        [Rec::Reset(code::H3_MESSAGE_ERROR)],
        "{name}: the client's stream must be reset with H3_MESSAGE_ERROR"
    );
    assert!(
        run.client.errors.is_empty(),
        "{name}: client errors {:?}",
        run.client.errors
    );
    assert!(
        run.server.errors.is_empty(),
        "{name}: server errors {:?}",
        run.server.errors
    );
    run.assert_follow_up_ok(name, good);
    let ss = run.server_stats();
    assert_eq!(ss.requests, 2, "{name}: server request count");
    assert_eq!(ss.abnormal_streams, 1, "{name}: server abnormal streams");
    assert_eq!(ss.rejected_requests, 0, "{name}: server rejected requests");
    let cs = run.client_stats();
    assert_eq!(
        cs.abnormal_streams, 1,
        "{name}: client abnormal streams (the reset)"
    );
}

/// A request head that breaks `rule`: never surfaces as a `Request`.
fn check_server_head(name: &str, bad: Req, rule: MessageError) {
    let failed = Rec::Failed(StreamFailure::Malformed(rule));
    check_server(name, bad, &[failed], &[]);
}

macro_rules! server_head_rules {
    ($($name:ident: $req:expr => $rule:ident;)*) => {$(
        #[test]
        fn $name() {
            check_server_head(stringify!($name), $req, MessageError::$rule);
        }
    )*};
}

server_head_rules! {
    server_invalid_name_char: base_with(&[("x a", "1")]) => InvalidNameChar;
    server_invalid_name_char_paren: base_with(&[("x(y)", "1")]) => InvalidNameChar;
    server_empty_name: base_with(&[("", "1")]) => EmptyName;
    server_value_cr: base_with(&[("x-a", "a\rb")]) => InvalidValueChar;
    server_value_lf: base_with(&[("x-a", "a\nb")]) => InvalidValueChar;
    server_value_nul: base_with(&[("x-a", "a\0b")]) => InvalidValueChar;
    server_value_leading_space: base_with(&[("x-a", " a")]) => ValueWhitespace;
    server_value_trailing_space: base_with(&[("x-a", "a ")]) => ValueWhitespace;
    server_value_trailing_tab: base_with(&[("x-a", "a\t")]) => ValueWhitespace;
    server_connection_field: base_with(&[("connection", "close")]) => ConnectionSpecificField;
    server_keep_alive_field: base_with(&[("keep-alive", "timeout=5")]) => ConnectionSpecificField;
    server_proxy_connection_field: base_with(&[("proxy-connection", "keep-alive")]) => ConnectionSpecificField;
    server_transfer_encoding_field: base_with(&[("transfer-encoding", "chunked")]) => ConnectionSpecificField;
    server_upgrade_field: base_with(&[("upgrade", "websocket")]) => ConnectionSpecificField;
    server_te_not_trailers: base_with(&[("te", "gzip")]) => InvalidTe;
    server_pseudo_after_regular: req(&[
        (":method", "GET"), (":scheme", "https"), (":authority", "localhost"),
        ("x-a", "1"), (":path", "/"),
    ]) => PseudoAfterRegular;
    server_unknown_pseudo: base_with(&[(":foo", "1")]) => UnknownPseudo;
    server_duplicate_pseudo: base_with(&[(":path", "/again")]) => DuplicatePseudo;
    server_missing_method: req(&[(":scheme", "https"), (":authority", "localhost"), (":path", "/")]) => MissingPseudo;
    server_missing_scheme: req(&[(":method", "GET"), (":authority", "localhost"), (":path", "/")]) => MissingPseudo;
    server_missing_path: req(&[(":method", "GET"), (":scheme", "https"), (":authority", "localhost")]) => MissingPseudo;
    server_status_in_request: base_with(&[(":status", "200")]) => MisplacedPseudo;
    server_empty_path: req(&[(":method", "GET"), (":scheme", "https"), (":authority", "localhost"), (":path", "")]) => InvalidPseudoValue;
    server_connect_with_path: req(&[(":method", "CONNECT"), (":authority", "localhost:443"), (":path", "/")]) => InvalidConnect;
    server_connect_without_authority: req(&[(":method", "CONNECT")]) => InvalidConnect;
    server_https_without_authority: req(&[(":method", "GET"), (":scheme", "https"), (":path", "/")]) => InvalidAuthority;
    server_host_differs_from_authority: base_with(&[("host", "other.example")]) => InvalidAuthority;
    server_invalid_content_length: base_with(&[("content-length", "1x")]) => InvalidContentLength;
    server_conflicting_content_length: base_with(&[("content-length", "1"), ("content-length", "2")]) => InvalidContentLength;
    server_content_length_without_body: base_with(&[("content-length", "5")]) => ContentLengthMismatch;
}

#[test]
fn server_te_trailers_accepted() {
    let name = "te: trailers";
    let mut run = run_pair(
        name,
        PairConfig::default(),
        App::server([]),
        vec![base_with(&[("te", "trailers")]), get("/ok")],
    );
    let [first, second] = run.client.sent[..] else {
        panic!("two requests")
    };
    assert_eq!(
        run.server.log(first).events,
        [Rec::Request { fin: true }, Rec::Finished]
    );
    assert_eq!(
        run.server
            .log(first)
            .head
            .as_ref()
            .and_then(|h| h.get_str("te")),
        Some("trailers")
    );
    assert_eq!(
        run.client.log(first).events,
        [
            Rec::Response {
                status: Some(200),
                fin: false
            },
            Rec::Data,
            Rec::Finished
        ]
    );
    run.assert_follow_up_ok(name, second);
    assert_eq!(run.server_stats().abnormal_streams, 0);
}

#[test]
fn server_content_length_more_data_than_declared() {
    let mut bad = base_with(&[("content-length", "3")]);
    bad.head[0].1 = b"POST".to_vec();
    bad.body = b"0123456789".to_vec();
    let mismatch = MessageError::ContentLengthMismatch;
    check_server(
        "content-length 3, 10 bytes sent",
        bad,
        &[
            Rec::Request { fin: false },
            Rec::Data,
            Rec::Failed(StreamFailure::Malformed(mismatch)),
        ],
        &[StreamError::Malformed(mismatch)],
    );
}

#[test]
fn server_content_length_less_data_than_declared() {
    let mut bad = base_with(&[("content-length", "10")]);
    bad.head[0].1 = b"POST".to_vec();
    bad.body = b"01234".to_vec();
    check_server(
        "content-length 10, 5 bytes sent",
        bad,
        &[
            Rec::Request { fin: false },
            Rec::Data,
            Rec::Failed(StreamFailure::Malformed(
                MessageError::ContentLengthMismatch,
            )),
        ],
        &[],
    );
}

#[test]
fn server_pseudo_in_request_trailers() {
    let mut bad = base_with(&[]);
    bad.head[0].1 = b"POST".to_vec();
    bad.body = b"abc".to_vec();
    bad.trailers = Some(hs(&[(":path", "/x")]));
    check_server(
        "pseudo-header in request trailers",
        bad,
        &[
            Rec::Request { fin: false },
            Rec::Data,
            Rec::Failed(StreamFailure::Malformed(MessageError::MisplacedPseudo)),
        ],
        &[],
    );
}

// ---------------------------------------------------------------------------
// Raw quiche peers against a filo endpoint.
// ---------------------------------------------------------------------------

/// A filo endpoint (with an [`App`]) and a raw quiche peer.
struct RawSide {
    ep: Endpoint,
    ep_addr: SocketAddr,
    raw: RawPeer,
    app: App,
    /// Hand-made stream bytes not yet taken by quiche (it takes what the
    /// congestion window allows).
    outbox: VecDeque<(u64, Vec<u8>, bool)>,
}

impl RawSide {
    /// A filo server and a raw client, handshake done and h3 up.
    fn raw_client(limits: Limits) -> Self {
        let pki = TestPki::new(&["localhost"]);
        let ep = Endpoint::new(Config::server(pki.server_tls(), limits).expect("server config"));
        let mut cfg = raw_config(quiche::PROTOCOL_VERSION);
        let raw = RawPeer::client(&mut cfg, addr(RAW_ADDR), addr(SERVER_ADDR));
        let mut s = Self {
            ep,
            ep_addr: addr(SERVER_ADDR),
            raw,
            app: App::server([]),
            outbox: VecDeque::new(),
        };
        let up = s.drive(|raw, _, app| raw.h3.is_some() && !app.connected.is_empty());
        assert!(up, "raw client handshake did not complete");
        s
    }

    /// A filo client (sending `queue`) and a raw server, handshake done and
    /// the first request received by the raw server.
    fn raw_server(limits: Limits, queue: Vec<Req>) -> Self {
        let pki = TestPki::new(&["localhost"]);
        let mut ep =
            Endpoint::new(Config::client(pki.client_tls(), limits).expect("client config"));
        ep.connect(
            wall_now(),
            addr(CLIENT_ADDR),
            addr(RAW_ADDR),
            "localhost",
            ConnectOptions::default(),
        )
        .expect("connect");
        let mut cfg = raw_server_config(&pki);
        let raw = RawPeer::server_for(&mut cfg, addr(RAW_ADDR), &mut ep);
        let mut s = Self {
            ep,
            ep_addr: addr(CLIENT_ADDR),
            raw,
            app: App::client(queue),
            outbox: VecDeque::new(),
        };
        let up = s.drive(|raw, _, _| raw_has_headers(raw, 0));
        assert!(up, "raw server did not receive the first request");
        s
    }

    /// Shuttles datagrams (and runs the app) until `done` or [`LIMIT`].
    fn drive(
        &mut self,
        mut done: impl FnMut(&mut RawPeer, &mut Endpoint, &mut App) -> bool,
    ) -> bool {
        let (ep, raw, app) = (&mut self.ep, &mut self.raw, &mut self.app);
        let outbox = &mut self.outbox;
        let deadline = wall_now() + LIMIT;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = wall_now();
            let mut progress = false;
            // Feed queued stream bytes, in order, as quiche takes them.
            while let Some((stream, bytes, fin)) = outbox.front_mut() {
                let n = raw.q.stream_send(*stream, bytes, *fin).unwrap_or(0);
                bytes.drain(..n);
                if !bytes.is_empty() {
                    break;
                }
                progress = true;
                outbox.pop_front();
            }
            while let Ok((n, info)) = raw.q.send(&mut buf) {
                progress = true;
                if info.to == self.ep_addr {
                    ep.handle_datagram(now, RecvMeta::new(info.to, info.from), &mut buf[..n]);
                }
            }
            while let Some(t) = ep.poll_transmit(now, &mut buf, 1) {
                progress = true;
                if t.to == raw.local {
                    let info = quiche::RecvInfo {
                        from: t.from,
                        to: t.to,
                    };
                    let _ = raw.q.recv(&mut buf[..t.len], info);
                }
            }
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                progress = true;
                ep.handle_timeout(now);
            }
            if raw.q.timeout_instant().is_some_and(|t| t <= now) {
                progress = true;
                raw.q.on_timeout();
            }
            raw.ensure_h3();
            raw.poll();
            while let Some(ev) = ep.poll_event() {
                progress = true;
                app.on_event(ep, ev);
            }
            app.on_step(ep);
            if done(raw, ep, app) {
                return true;
            }
            if now >= deadline {
                return false;
            }
            if !progress {
                let next = [ep.poll_timeout(), raw.q.timeout_instant(), Some(deadline)]
                    .into_iter()
                    .flatten()
                    .min()
                    .unwrap_or(deadline);
                let wait = next.saturating_duration_since(wall_now());
                std::thread::sleep(wait.min(Duration::from_millis(5)));
            }
        }
    }

    /// Writes hand-made bytes on a stream, all of them.
    fn write(&mut self, stream: u64, bytes: &[u8], fin: bool) {
        self.outbox.push_back((stream, bytes.to_vec(), fin));
    }

    /// Drives until the filo endpoint reported its connection closed.
    fn drive_to_close(&mut self) -> bool {
        self.drive(|_, _, app| !app.closed.is_empty())
    }

    /// The filo endpoint closed with `H3_*` `code`, and the raw peer got it.
    fn assert_closed_with(&self, name: &str, code: u64) {
        let conn = *self.app.connected.first().expect("connected");
        assert_eq!(
            self.app.closed,
            [(conn, CloseReason::Local { code, app: true })],
            "{name}: filo close reason"
        );
        let peer = self
            .raw
            .q
            .peer_error()
            .expect("raw peer got CONNECTION_CLOSE");
        assert!(peer.is_app, "{name}: close must carry an application code");
        assert_eq!(
            peer.error_code, code,
            "{name}: wire code the raw peer received"
        );
    }
}

fn raw_has_headers(raw: &RawPeer, stream: u64) -> bool {
    raw.events
        .iter()
        .any(|(id, ev)| *id == stream && matches!(ev, quiche::h3::Event::Headers { .. }))
}

fn raw_reset_code(raw: &RawPeer, stream: u64) -> Option<u64> {
    raw.events.iter().find_map(|(id, ev)| match ev {
        quiche::h3::Event::Reset(c) if *id == stream => Some(*c),
        _ => None,
    })
}

fn raw_finished(raw: &RawPeer, stream: u64) -> bool {
    raw.events
        .iter()
        .any(|(id, ev)| *id == stream && matches!(ev, quiche::h3::Event::Finished))
}

/// Reads whatever body bytes the raw peer's h3 layer holds for `stream`.
fn raw_read_body(raw: &mut RawPeer, stream: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4096];
    if let Some(h3) = raw.h3.as_mut() {
        while let Ok(n) = h3.recv_body(&mut raw.q, stream, &mut buf) {
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
    raw.poll();
}

fn raw_request_head(extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut fields: Vec<(&[u8], &[u8])> = vec![
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", b"/"),
    ];
    fields.extend_from_slice(extra);
    headers_frame(&fields)
}

#[test]
fn server_uppercase_name_from_raw_client() {
    let name = "uppercase request field name";
    let mut s = RawSide::raw_client(test_limits());
    s.write(0, &raw_request_head(&[(b"X-Upper", b"1")]), true);
    let ok =
        s.drive(|raw, _, app| app.log(StreamId(0)).is_done() && raw_reset_code(raw, 0).is_some());
    assert!(
        ok,
        "{name}: no failure/reset: {:#?} {:?}",
        s.app, s.raw.events
    );
    assert_eq!(
        s.app.log(StreamId(0)).events,
        [Rec::Failed(StreamFailure::Malformed(
            MessageError::UppercaseName
        ))],
        "{name}: server events"
    );
    assert_eq!(
        raw_reset_code(&s.raw, 0),
        Some(code::H3_MESSAGE_ERROR),
        "{name}: the raw client's stream must be reset with H3_MESSAGE_ERROR"
    );

    // The same connection serves a valid request next.
    s.write(4, &raw_request_head(&[]), true);
    let mut body = Vec::new();
    let ok = s.drive(|raw, _, _| {
        raw_read_body(raw, 4, &mut body);
        raw_finished(raw, 4)
    });
    assert!(ok, "{name}: follow-up did not finish: {:?}", s.raw.events);
    assert_eq!(body, b"ok", "{name}: follow-up body");
    let status = s.raw.events.iter().find_map(|(id, ev)| match ev {
        quiche::h3::Event::Headers { list, .. } if *id == 4 => list
            .iter()
            .find(|h| quiche::h3::NameValue::name(*h) == b":status")
            .map(|h| quiche::h3::NameValue::value(h).to_vec()),
        _ => None,
    });
    assert_eq!(
        status.as_deref(),
        Some(&b"200"[..]),
        "{name}: follow-up status"
    );
    assert_eq!(
        s.app.log(StreamId(4)).events,
        [Rec::Request { fin: true }, Rec::Finished],
        "{name}: follow-up on the server"
    );
    assert!(
        s.app.closed.is_empty(),
        "{name}: server closed: {:?}",
        s.app.closed
    );
    assert!(s.raw.q.peer_error().is_none(), "{name}: connection closed");
    let conn = s.app.connected[0];
    let st = s.ep.conn(conn).expect("server conn alive").stats();
    assert_eq!(
        (st.requests, st.abnormal_streams),
        (2, 1),
        "{name}: server stats"
    );
}

// ---------------------------------------------------------------------------
// Frame order on request streams: connection errors H3_FRAME_UNEXPECTED.
// ---------------------------------------------------------------------------

fn valid_request_head() -> Vec<u8> {
    raw_request_head(&[])
}

fn trailer_frame() -> Vec<u8> {
    headers_frame(&[(b"x-trailer", b"1")])
}

/// A raw client writes `frames` on stream 0; the filo server must close the
/// connection with H3_FRAME_UNEXPECTED after surfacing `events` for it.
fn check_server_frames(name: &str, frames: &[Vec<u8>], events: &[Rec]) {
    let mut s = RawSide::raw_client(test_limits());
    s.write(0, &frames.concat(), false);
    assert!(
        s.drive_to_close(),
        "{name}: server did not close: {:#?}",
        s.app
    );
    s.assert_closed_with(name, code::H3_FRAME_UNEXPECTED);
    assert_eq!(
        s.app.log(StreamId(0)).events,
        events,
        "{name}: server events on the stream"
    );
}

#[test]
fn server_frames_data_before_headers() {
    check_server_frames("DATA before HEADERS", &[data_frame(b"hello")], &[]);
}

#[test]
fn server_frames_headers_trailers_data() {
    // The second HEADERS is the trailer section: DATA after it is filo's
    // own check (quiche only tracks trailers once DATA was seen).
    check_server_frames(
        "HEADERS, HEADERS (trailers), DATA",
        &[valid_request_head(), trailer_frame(), data_frame(b"late")],
        &[Rec::Request { fin: false }, Rec::Trailers],
    );
}

#[test]
fn server_frames_three_headers() {
    check_server_frames(
        "three HEADERS",
        &[valid_request_head(), trailer_frame(), trailer_frame()],
        &[Rec::Request { fin: false }, Rec::Trailers],
    );
}

#[test]
fn server_frames_data_after_trailers() {
    check_server_frames(
        "HEADERS, DATA, HEADERS (trailers), DATA",
        &[
            valid_request_head(),
            data_frame(b"body"),
            trailer_frame(),
            data_frame(b"late"),
        ],
        &[Rec::Request { fin: false }, Rec::Data, Rec::Trailers],
    );
}

/// The filo client's request on stream 0 gets `frames` from a raw server;
/// the client must close with H3_FRAME_UNEXPECTED after surfacing `events`.
fn check_client_frames(name: &str, frames: &[Vec<u8>], events: &[Rec]) {
    let mut s = RawSide::raw_server(test_limits(), vec![get("/")]);
    s.write(0, &frames.concat(), false);
    assert!(
        s.drive_to_close(),
        "{name}: client did not close: {:#?}",
        s.app
    );
    s.assert_closed_with(name, code::H3_FRAME_UNEXPECTED);
    assert_eq!(
        s.app.log(StreamId(0)).events,
        events,
        "{name}: client events on the stream"
    );
}

fn response_head(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    headers_frame(fields)
}

#[test]
fn client_frames_data_before_headers() {
    check_client_frames("DATA before any HEADERS", &[data_frame(b"hello")], &[]);
}

#[test]
fn client_frames_data_after_interim() {
    check_client_frames(
        "DATA after 103, before the final response",
        &[response_head(&[(b":status", b"103")]), data_frame(b"hello")],
        &[Rec::Interim { status: Some(103) }],
    );
}

#[test]
fn client_frames_headers_after_trailers() {
    check_client_frames(
        "HEADERS after trailers",
        &[
            response_head(&[(b":status", b"200")]),
            data_frame(b"body"),
            trailer_frame(),
            headers_frame(&[(b"x-more", b"1")]),
        ],
        &[
            Rec::Response {
                status: Some(200),
                fin: false,
            },
            Rec::Data,
            Rec::Trailers,
        ],
    );
}

#[test]
fn client_frames_data_after_trailers() {
    check_client_frames(
        "DATA after trailers",
        &[
            response_head(&[(b":status", b"200")]),
            data_frame(b"body"),
            trailer_frame(),
            data_frame(b"late"),
        ],
        &[
            Rec::Response {
                status: Some(200),
                fin: false,
            },
            Rec::Data,
            Rec::Trailers,
        ],
    );
}

// ---------------------------------------------------------------------------
// Client side: malformed responses.
// ---------------------------------------------------------------------------

/// The server answers `/bad` by `plan`; the client must end that request
/// with exactly `events` (and `recv_errors`), and a GET after it must
/// succeed on the same connection.
fn check_client_with(
    name: &str,
    client_limits: Limits,
    plan: Plan,
    events: &[Rec],
    recv_errors: &[StreamError],
) {
    let cfg = PairConfig {
        client: client_limits,
        ..PairConfig::default()
    };
    let mut run = run_pair(
        name,
        cfg,
        App::server([("/bad", plan)]),
        vec![get("/bad"), get("/ok")],
    );
    let [bad, good] = run.client.sent[..] else {
        panic!("{name}: expected two requests, sent {:?}", run.client.sent)
    };
    let c = run.client.log(bad);
    assert_eq!(
        c.events, events,
        "{name}: client events for the malformed response"
    );
    assert_eq!(
        c.recv_errors, recv_errors,
        "{name}: client recv_body errors"
    );
    assert!(
        run.client.errors.is_empty(),
        "{name}: client errors {:?}",
        run.client.errors
    );
    assert!(
        run.server.errors.is_empty(),
        "{name}: server errors {:?}",
        run.server.errors
    );
    run.assert_follow_up_ok(name, good);
    let cs = run.client_stats();
    assert_eq!(cs.requests, 2, "{name}: client request count");
    assert_eq!(cs.abnormal_streams, 1, "{name}: client abnormal streams");
}

fn check_client(name: &str, plan: Plan, events: &[Rec], recv_errors: &[StreamError]) {
    check_client_with(name, test_limits(), plan, events, recv_errors);
}

/// A response head that breaks `rule`: the request fails before any
/// `Response`.
fn check_client_head(name: &str, head: &[(&str, &str)], rule: MessageError) {
    let failed = Rec::Failed(StreamFailure::Malformed(rule));
    check_client(name, answer(head, b"ok"), &[failed], &[]);
}

macro_rules! client_head_rules {
    ($($name:ident: $head:expr => $rule:ident;)*) => {$(
        #[test]
        fn $name() {
            check_client_head(stringify!($name), $head, MessageError::$rule);
        }
    )*};
}

client_head_rules! {
    client_missing_status: &[("content-length", "2")] => MissingPseudo;
    client_status_two_digits: &[(":status", "20")] => InvalidPseudoValue;
    client_status_700: &[(":status", "700")] => InvalidPseudoValue;
    client_request_pseudo_in_response: &[(":status", "200"), (":path", "/")] => MisplacedPseudo;
    client_unknown_pseudo: &[(":status", "200"), (":x", "1")] => UnknownPseudo;
    client_duplicate_status: &[(":status", "200"), (":status", "200")] => DuplicatePseudo;
    client_pseudo_after_regular: &[("x-a", "1"), (":status", "200")] => PseudoAfterRegular;
    client_connection_field: &[(":status", "200"), ("connection", "close")] => ConnectionSpecificField;
    client_keep_alive_field: &[(":status", "200"), ("keep-alive", "1")] => ConnectionSpecificField;
    client_proxy_connection_field: &[(":status", "200"), ("proxy-connection", "x")] => ConnectionSpecificField;
    client_transfer_encoding_field: &[(":status", "200"), ("transfer-encoding", "chunked")] => ConnectionSpecificField;
    client_upgrade_field: &[(":status", "200"), ("upgrade", "h2c")] => ConnectionSpecificField;
    client_te_field: &[(":status", "200"), ("te", "gzip")] => InvalidTe;
    client_value_cr: &[(":status", "200"), ("x-a", "a\rb")] => InvalidValueChar;
    client_value_lf: &[(":status", "200"), ("x-a", "a\nb")] => InvalidValueChar;
    client_value_nul: &[(":status", "200"), ("x-a", "a\0b")] => InvalidValueChar;
    client_value_whitespace: &[(":status", "200"), ("x-a", " a")] => ValueWhitespace;
    client_invalid_name_char: &[(":status", "200"), ("x a", "1")] => InvalidNameChar;
    client_invalid_content_length: &[(":status", "200"), ("content-length", "two")] => InvalidContentLength;
}

#[test]
fn client_status_101() {
    // send_response refuses 1xx, send_interim does not check for 101.
    let plan = Plan {
        on_request: true,
        interims: vec![hs(&[(":status", "101")])],
        ..ok_plan()
    };
    check_client(
        ":status 101",
        plan,
        &[Rec::Failed(StreamFailure::Malformed(
            MessageError::InvalidPseudoValue,
        ))],
        &[],
    );
}

#[test]
fn client_content_length_without_body() {
    check_client(
        "content-length 5 on a head with FIN",
        answer(&[(":status", "200"), ("content-length", "5")], b""),
        &[Rec::Failed(StreamFailure::Malformed(
            MessageError::ContentLengthMismatch,
        ))],
        &[],
    );
}

#[test]
fn client_content_length_more_data_than_declared() {
    let mismatch = MessageError::ContentLengthMismatch;
    check_client(
        "content-length 2, 5 bytes sent",
        answer(&[(":status", "200"), ("content-length", "2")], b"hello"),
        &[
            Rec::Response {
                status: Some(200),
                fin: false,
            },
            Rec::Data,
            Rec::Failed(StreamFailure::Malformed(mismatch)),
        ],
        &[StreamError::Malformed(mismatch)],
    );
}

#[test]
fn client_content_length_less_data_than_declared() {
    check_client(
        "content-length 10, 5 bytes sent",
        answer(&[(":status", "200"), ("content-length", "10")], b"hello"),
        &[
            Rec::Response {
                status: Some(200),
                fin: false,
            },
            Rec::Data,
            Rec::Failed(StreamFailure::Malformed(
                MessageError::ContentLengthMismatch,
            )),
        ],
        &[],
    );
}

#[test]
fn client_pseudo_in_response_trailers() {
    let plan = Plan {
        trailers: Some(hs(&[(":status", "200")])),
        ..answer(&[(":status", "200")], b"hello")
    };
    check_client(
        "pseudo-header in response trailers",
        plan,
        &[
            Rec::Response {
                status: Some(200),
                fin: false,
            },
            Rec::Data,
            Rec::Failed(StreamFailure::Malformed(MessageError::MisplacedPseudo)),
        ],
        &[],
    );
}

/// A raw server answers the filo client's first request with `bytes`
/// (FIN if `fin`); the client must fail it with `want` and then complete a
/// second request on the same connection.
fn check_client_raw(name: &str, bytes: &[u8], fin: bool, want: &[Rec]) {
    let mut s = RawSide::raw_server(test_limits(), vec![get("/bad"), get("/ok")]);
    s.write(0, bytes, fin);
    let ok = s.drive(|raw, _, _| raw_has_headers(raw, 4));
    assert!(ok, "{name}: the second request never came: {:#?}", s.app);
    assert_eq!(s.app.log(StreamId(0)).events, want, "{name}: client events");
    let h3 = s.raw.h3.as_mut().expect("raw h3");
    let head = [
        quiche::h3::Header::new(b":status", b"200"),
        quiche::h3::Header::new(b"content-length", b"2"),
    ];
    h3.send_response(&mut s.raw.q, 4, &head, false)
        .expect("raw send_response");
    h3.send_body(&mut s.raw.q, 4, b"ok", true)
        .expect("raw send_body");
    let ok = s.drive(|_, _, app| app.all_done());
    assert!(ok, "{name}: follow-up did not finish: {:#?}", s.app);
    let good = s.app.log(StreamId(4));
    assert_eq!(
        good.events,
        [
            Rec::Response {
                status: Some(200),
                fin: false
            },
            Rec::Data,
            Rec::Finished
        ],
        "{name}: follow-up"
    );
    assert_eq!(good.body, b"ok");
    assert!(
        s.app.closed.is_empty(),
        "{name}: client closed: {:?}",
        s.app.closed
    );
    assert!(
        s.app.errors.is_empty(),
        "{name}: client errors: {:?}",
        s.app.errors
    );
    assert!(s.raw.q.peer_error().is_none(), "{name}: connection closed");
    let conn = s.app.connected[0];
    let st = s.ep.conn(conn).expect("client conn alive").stats();
    assert_eq!(
        (st.requests, st.abnormal_streams),
        (2, 1),
        "{name}: client stats"
    );
}

#[test]
fn client_uppercase_name_from_raw_server() {
    check_client_raw(
        "uppercase response field name",
        &headers_frame(&[(b":status", b"200"), (b"X-Upper", b"1")]),
        true,
        &[Rec::Failed(StreamFailure::Malformed(
            MessageError::UppercaseName,
        ))],
    );
}

#[test]
fn client_interim_with_fin() {
    check_client_raw(
        "1xx with FIN",
        &headers_frame(&[(b":status", b"103")]),
        true,
        &[Rec::Failed(StreamFailure::Malformed(
            MessageError::Incomplete,
        ))],
    );
}

// ---------------------------------------------------------------------------
// Oversized header sections.
// ---------------------------------------------------------------------------

fn big_value(len: usize) -> String {
    "a".repeat(len)
}

#[test]
fn server_431_for_oversized_request_head() {
    let name = "6 KiB request head, server limit 4096";
    let mut server = test_limits();
    server.max_field_section_size = 4096;
    let big = big_value(6000);
    let bad = base_with(&[("x-big", big.as_str())]);
    let size = field_section_size(&bad.head);
    assert!(size > 4096 && size < 8192, "{size}");
    let cfg = PairConfig {
        server,
        ..PairConfig::default()
    };
    let mut run = run_pair(name, cfg, App::server([]), vec![bad, get("/ok")]);
    let [bad, good] = run.client.sent[..] else {
        panic!("two requests")
    };
    assert_eq!(
        run.server.log(bad).events,
        [Rec::Failed(StreamFailure::HeadersTooLarge {
            size,
            limit: 4096
        })],
        "{name}: server events"
    );
    assert!(
        run.server.log(bad).head.is_none(),
        "{name}: request surfaced"
    );
    assert_eq!(
        run.client.log(bad).events,
        [
            Rec::Response {
                status: Some(431),
                fin: true
            },
            Rec::Finished
        ],
        "{name}: client events"
    );
    run.assert_follow_up_ok(name, good);
    let ss = run.server_stats();
    assert_eq!(
        (ss.requests, ss.abnormal_streams),
        (2, 1),
        "{name}: server stats"
    );
}

#[test]
fn client_fails_oversized_response_head() {
    let name = "6 KiB response head, client limit 4096";
    let mut client = test_limits();
    client.max_field_section_size = 4096;
    let big = big_value(6000);
    let head = [(":status", "200"), ("x-big", big.as_str())];
    let size = field_section_size(&head);
    check_client_with(
        name,
        client,
        answer(&head, b"ok"),
        &[Rec::Failed(StreamFailure::HeadersTooLarge {
            size,
            limit: 4096,
        })],
        &[],
    );
}

#[test]
fn server_closes_above_hard_field_section_limit() {
    let name = "80 KiB request head, hard limit 64 KiB";
    let mut limits = test_limits();
    limits.max_field_section_size = 4096;
    assert_eq!(limits.hard_field_section_size, 64 << 10);
    let mut s = RawSide::raw_client(limits);
    let big = big_value(80 << 10);
    s.write(0, &raw_request_head(&[(b"x-big", big.as_bytes())]), true);
    assert!(
        s.drive_to_close(),
        "{name}: server did not close: {:#?}",
        s.app
    );
    s.assert_closed_with(name, code::H3_EXCESSIVE_LOAD);
    assert!(
        s.app.streams.is_empty(),
        "{name}: stream events: {:?}",
        s.app.streams
    );
}

#[test]
fn client_closes_above_hard_field_section_limit() {
    let name = "80 KiB response head, hard limit 64 KiB";
    let mut s = RawSide::raw_server(test_limits(), vec![get("/")]);
    let big = big_value(80 << 10);
    s.write(
        0,
        &headers_frame(&[(b":status", b"200"), (b"x-big", big.as_bytes())]),
        true,
    );
    assert!(
        s.drive_to_close(),
        "{name}: client did not close: {:#?}",
        s.app
    );
    s.assert_closed_with(name, code::H3_EXCESSIVE_LOAD);
    assert_eq!(s.app.log(StreamId(0)).events, [], "{name}: stream events");
}

// ---------------------------------------------------------------------------
// Interim responses.
// ---------------------------------------------------------------------------

fn interim_plan(n: usize) -> Plan {
    Plan {
        on_request: true,
        interims: (0..n)
            .map(|i| hs(&[(":status", "103"), ("x-n", &i.to_string())]))
            .collect(),
        ..ok_plan()
    }
}

fn interim_limits() -> Limits {
    let mut l = test_limits();
    l.max_interim_responses = 2;
    l
}

#[test]
fn client_fails_on_too_many_interims() {
    let i103 = Rec::Interim { status: Some(103) };
    check_client_with(
        "three interims, cap 2",
        interim_limits(),
        interim_plan(3),
        &[
            i103.clone(),
            i103,
            Rec::Failed(StreamFailure::TooManyInterim),
        ],
        &[],
    );
}

#[test]
fn client_accepts_interims_up_to_cap() {
    let name = "two interims, cap 2";
    let cfg = PairConfig {
        client: interim_limits(),
        ..PairConfig::default()
    };
    let mut run = run_pair(
        name,
        cfg,
        App::server([("/i", interim_plan(2))]),
        vec![get("/i"), get("/ok")],
    );
    let [first, second] = run.client.sent[..] else {
        panic!("two requests")
    };
    let i103 = Rec::Interim { status: Some(103) };
    let log = run.client.log(first);
    assert_eq!(
        log.events,
        [
            i103.clone(),
            i103,
            Rec::Response {
                status: Some(200),
                fin: false
            },
            Rec::Data,
            Rec::Finished
        ]
    );
    let order: Vec<_> = log.interims.iter().map(|h| h.get_str("x-n")).collect();
    assert_eq!(order, [Some("0"), Some("1")], "interims in order");
    assert_eq!(log.body, b"ok");
    run.assert_follow_up_ok(name, second);
    assert_eq!(run.client_stats().abnormal_streams, 0);
}
