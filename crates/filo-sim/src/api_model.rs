//! An operation grammar over a client/server pair, and the invariants
//! every step must keep. The same [`Op`]s drive the property tests and the
//! `h3_api_ops` fuzz target.
//!
//! The pair exchanges datagrams through explicit queues (one per
//! direction) so operations can drop, duplicate or reorder them; "time"
//! operations advance a virtual clock given to filo (quiche keeps reading
//! the real one). Invariants checked after every operation:
//!
//! - no request both completed and reported unprocessed, and every stream
//!   ends in at most one terminal event (exactly one once [`ApiModel::settle`]
//!   has let the pair finish, unless the connection closed);
//! - every completed body is the pattern that was sent, both ways;
//! - every transmit is a well-formed GSO batch (equal segments but the
//!   last, one destination, each segment a parseable QUIC packet);
//! - the server never has more request streams open than it granted;
//! - the abnormal-stream budget holds: past it the connection is closing.

// A harness is a caller of filo-core: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{
    Config, ConnHandle, ConnectOptions, Endpoint, Limits, RecvMeta, StreamId, Transmit, code,
};

use crate::apps::{ClientApp, RequestSpec, ServerApp, pattern_sha256};
use crate::certs::TestPki;
use crate::sim::NodeApp;

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:443";
/// Request streams the server grants at once in the model.
pub const MAX_STREAMS: u64 = 8;
/// The model server's abnormal-stream budget.
pub const BUDGET: u32 = 16;

/// One operation on the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "fuzz", derive(arbitrary::Arbitrary))]
pub enum Op {
    /// The client sends a request for a pattern body of `size * 97` bytes,
    /// optionally with an uploaded body, trailers and interim responses.
    Request {
        /// Response size unit.
        size: u16,
        /// Upload `upload * 61` bytes (0: GET).
        upload: u16,
        /// Ask for response trailers.
        trailers: bool,
        /// Interim responses to ask for (capped at 3).
        interim: u8,
    },
    /// The client resets the send side of its `n`-th open request.
    ClientReset(u8),
    /// The client stops the response of its `n`-th open request.
    ClientStop(u8),
    /// The server resets its `n`-th open response.
    ServerReset(u8),
    /// The server stops the request body of its `n`-th open request.
    ServerStop(u8),
    /// The server starts a (two-phase) GOAWAY.
    ServerGoaway,
    /// The client sends GOAWAY.
    ClientGoaway,
    /// The client (or server) closes the connection.
    Close {
        /// The server closes.
        server: bool,
    },
    /// Drop the next queued datagram in one direction.
    Drop {
        /// Server to client.
        to_client: bool,
    },
    /// Duplicate the next queued datagram in one direction.
    Duplicate {
        /// Server to client.
        to_client: bool,
    },
    /// Move the next queued datagram behind the others.
    Reorder {
        /// Server to client.
        to_client: bool,
    },
    /// Move datagrams and handle events (`n + 1` rounds).
    Step(u8),
    /// Advance filo's clock by `ms` milliseconds and fire timers.
    Advance(u16),
}

thread_local! {
    static CONFIGS: std::cell::RefCell<Option<(Config, Config)>> = const { std::cell::RefCell::new(None) };
}

fn model_limits() -> Limits {
    let mut l = Limits::default();
    l.initial_rtt = Duration::from_millis(10);
    l.max_streams_bidi = MAX_STREAMS;
    l.abnormal_stream_budget = BUDGET;
    l.goaway_drain_timeout = Duration::from_millis(500);
    l.max_interim_responses = 3;
    l
}

/// Builds the two configs (TLS contexts included) once per thread and
/// lends them out: building TLS per input would crawl.
fn take_configs() -> (Config, Config) {
    CONFIGS.with(|c| {
        c.borrow_mut().take().unwrap_or_else(|| {
            let pki = TestPki::new(&["localhost"]);
            let server = Config::server(pki.server_tls(), model_limits()).expect("server config");
            let client = Config::client(pki.client_tls(), model_limits()).expect("client config");
            (server, client)
        })
    })
}

/// Builds this thread's cached configs now (fuzz wrappers call it before
/// resetting the RNG, so every input starts from the same RNG state).
pub fn warm() {
    let c = take_configs();
    give_back(c);
}

fn give_back(configs: (Config, Config)) {
    CONFIGS.with(|c| *c.borrow_mut() = Some(configs));
}

/// An invariant that did not hold, named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The pair, its apps, the datagram queues and the virtual clock.
pub struct ApiModel {
    client: Option<Endpoint>,
    server: Option<Endpoint>,
    capp: ClientApp,
    sapp: ServerApp,
    conn: ConnHandle,
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    buf: Vec<u8>,
    /// filo's clock: real time plus what `Advance` added.
    offset: Duration,
    requests: u64,
    /// Streams whose response the client stopped itself: ended by the
    /// application's own choice, so filo reports nothing more for them.
    client_stopped: std::collections::HashSet<StreamId>,
    /// Operations applied.
    pub steps: u64,
    /// GSO batches checked.
    pub batches: u64,
    /// Transmits checked.
    pub transmits: u64,
}

impl std::fmt::Debug for ApiModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiModel")
            .field("steps", &self.steps)
            .field("requests", &self.requests)
            .field("client", &self.capp)
            .finish_non_exhaustive()
    }
}

impl Drop for ApiModel {
    fn drop(&mut self) {
        if let (Some(s), Some(c)) = (self.server.take(), self.client.take()) {
            give_back((s.into_config(), c.into_config()));
        }
    }
}

impl Default for ApiModel {
    fn default() -> Self {
        Self::new()
    }
}

impl ApiModel {
    /// A connected pair (handshake done).
    pub fn new() -> Self {
        let (scfg, ccfg) = take_configs();
        let server = Endpoint::new(scfg);
        let mut client = Endpoint::new(ccfg);
        let (c, s): (SocketAddr, SocketAddr) =
            (CLIENT.parse().expect("addr"), SERVER.parse().expect("addr"));
        let conn = client
            .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
            .expect("connect");
        let mut m = Self {
            client: Some(client),
            server: Some(server),
            capp: ClientApp::default(),
            sapp: ServerApp::new(),
            conn,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            buf: vec![0; 65536],
            offset: Duration::ZERO,
            requests: 0,
            client_stopped: std::collections::HashSet::new(),
            steps: 0,
            batches: 0,
            transmits: 0,
        };
        for _ in 0..50 {
            // The handshake itself must keep the invariants too.
            m.round().expect("handshake keeps the invariants");
            if !m.capp.connected.is_empty() {
                break;
            }
        }
        m
    }

    fn now(&self) -> Instant {
        Instant::now() + self.offset
    }

    /// The client app (what happened to every request).
    pub fn client(&self) -> &ClientApp {
        &self.capp
    }

    /// Applies one operation, then checks every invariant.
    pub fn apply(&mut self, op: &Op) -> Result<(), Violation> {
        self.steps += 1;
        match *op {
            Op::Request {
                size,
                upload,
                trailers,
                interim,
            } => {
                let n = u64::from(size) * 97;
                let mut spec = if upload == 0 {
                    RequestSpec::get(&format!("/bytes/{n}"))
                } else {
                    let body = crate::apps::Body::Pattern {
                        seed: self.requests,
                        len: u64::from(upload) * 61,
                    };
                    let mut s = RequestSpec::post(&format!("/bytes/{n}"), body);
                    s.trailers.push(("x-up".into(), "1".into()));
                    s
                };
                spec = spec.header("x-seed", &self.requests.to_string());
                if trailers {
                    spec = spec.header("x-trailers", "1");
                }
                if interim > 0 {
                    spec = spec.header("x-interim", &(interim % 4).to_string());
                }
                self.requests += 1;
                self.capp.queue(spec);
                let (ep, app, conn) = (
                    self.client.as_mut().expect("client"),
                    &mut self.capp,
                    self.conn,
                );
                app.send_pending(ep, conn);
            }
            Op::ClientReset(n) => {
                if let Some(s) = self.open_client_stream(n) {
                    let ep = self.client.as_mut().expect("client");
                    if let Some(mut c) = ep.conn(self.conn) {
                        let _ = c.reset_stream(s, code::H3_REQUEST_CANCELLED);
                    }
                }
            }
            Op::ClientStop(n) => {
                if let Some(s) = self.open_client_stream(n) {
                    let ep = self.client.as_mut().expect("client");
                    if let Some(mut c) = ep.conn(self.conn)
                        && c.stop_sending(s, code::H3_REQUEST_CANCELLED).is_ok()
                    {
                        self.client_stopped.insert(s);
                    }
                }
            }
            Op::ServerReset(n) | Op::ServerStop(n) => {
                if let Some((conn, s)) = self.open_server_stream(n) {
                    let ep = self.server.as_mut().expect("server");
                    let stop = matches!(op, Op::ServerStop(_));
                    let stopped = ep.conn(conn).is_some_and(|mut c| {
                        if stop {
                            c.stop_sending(s, code::H3_REQUEST_CANCELLED).is_ok()
                        } else {
                            let _ = c.reset_stream(s, code::H3_INTERNAL_ERROR);
                            false
                        }
                    });
                    // An application that stops reading a request answers
                    // it without the rest (RFC 9114 §4.1.1): waiting for a
                    // body end it refused would hang the request whenever
                    // the client had already sent everything (quiche then
                    // reports the STOP_SENDING to nobody).
                    let waiting = self
                        .sapp
                        .requests
                        .get(&(conn, s))
                        .is_some_and(|r| !r.responded && !r.finished);
                    if stopped && waiting {
                        self.sapp.respond(ep, conn, s);
                    }
                }
            }
            Op::ServerGoaway => {
                let now = self.now();
                let ep = self.server.as_mut().expect("server");
                let handles: Vec<_> = ep.handles().collect();
                for h in handles {
                    if let Some(mut c) = ep.conn(h) {
                        c.goaway(now);
                    }
                }
            }
            Op::ClientGoaway => {
                let now = self.now();
                if let Some(mut c) = self.client.as_mut().expect("client").conn(self.conn) {
                    c.goaway(now);
                }
            }
            Op::Close { server } => {
                let ep = if server {
                    self.server.as_mut()
                } else {
                    self.client.as_mut()
                };
                let ep = ep.expect("endpoint");
                let handles: Vec<_> = ep.handles().collect();
                for h in handles {
                    if let Some(mut c) = ep.conn(h) {
                        c.close(code::H3_NO_ERROR, b"bye");
                    }
                }
            }
            Op::Drop { to_client } => {
                self.queue(to_client).pop_front();
            }
            Op::Duplicate { to_client } => {
                let q = self.queue(to_client);
                if let Some(d) = q.front().cloned() {
                    q.push_back(d);
                }
            }
            Op::Reorder { to_client } => {
                let q = self.queue(to_client);
                if let Some(d) = q.pop_front() {
                    q.push_back(d);
                }
            }
            Op::Step(n) => {
                for _ in 0..=n % 8 {
                    self.round()?;
                }
            }
            Op::Advance(ms) => {
                self.offset += Duration::from_millis(u64::from(ms));
                self.round()?;
            }
        }
        self.round()?;
        self.check()
    }

    fn queue(&mut self, to_client: bool) -> &mut VecDeque<Vec<u8>> {
        if to_client {
            &mut self.to_client
        } else {
            &mut self.to_server
        }
    }

    fn open_client_stream(&self, n: u8) -> Option<StreamId> {
        let open: Vec<_> = self
            .capp
            .order
            .iter()
            .filter(|k| !self.capp.exchanges[k].is_done() && !self.client_stopped.contains(&k.1))
            .collect();
        (!open.is_empty()).then(|| open[usize::from(n) % open.len()].1)
    }

    fn open_server_stream(&self, n: u8) -> Option<(ConnHandle, StreamId)> {
        let open: Vec<_> = self
            .sapp
            .order
            .iter()
            .filter(|k| {
                let r = &self.sapp.requests[k];
                !r.responded && r.reset.is_none()
            })
            .collect();
        (!open.is_empty()).then(|| *open[usize::from(n) % open.len()])
    }

    /// One round: transmits into the queues (checked), queues delivered,
    /// timers fired, events handled.
    pub fn round(&mut self) -> Result<(), Violation> {
        let now = self.now();
        let client_addr: SocketAddr = CLIENT.parse().expect("addr");
        for to_client in [false, true] {
            loop {
                let ep = if to_client {
                    self.server.as_mut()
                } else {
                    self.client.as_mut()
                };
                let ep = ep.expect("endpoint");
                let Some(t) = ep.poll_transmit(now, &mut self.buf, 8) else {
                    break;
                };
                self.transmits += 1;
                check_batch(&t, &self.buf[..t.len])?;
                if t.segments() > 1 {
                    self.batches += 1;
                }
                let expected_to = to_client == (t.to == client_addr);
                if !expected_to {
                    return Err(Violation(format!("transmit to the wrong peer: {t:?}")));
                }
                for seg in self.buf[..t.len].chunks(t.segment_size) {
                    let q = if to_client {
                        &mut self.to_client
                    } else {
                        &mut self.to_server
                    };
                    // Bounded so a livelock cannot grow memory.
                    if q.len() < 4096 {
                        q.push_back(seg.to_vec());
                    }
                }
            }
        }
        let (c, s): (SocketAddr, SocketAddr) = (client_addr, SERVER.parse().expect("addr"));
        while let Some(mut d) = self.to_server.pop_front() {
            self.server
                .as_mut()
                .expect("server")
                .handle_datagram(now, RecvMeta::new(s, c), &mut d);
        }
        while let Some(mut d) = self.to_client.pop_front() {
            self.client
                .as_mut()
                .expect("client")
                .handle_datagram(now, RecvMeta::new(c, s), &mut d);
        }
        for ep in [self.server.as_mut(), self.client.as_mut()]
            .into_iter()
            .flatten()
        {
            if ep.poll_timeout().is_some_and(|t| t <= now) {
                ep.handle_timeout(now);
            }
        }
        let server = self.server.as_mut().expect("server");
        while let Some(ev) = server.poll_event() {
            self.sapp.on_event(server, ev);
        }
        let client = self.client.as_mut().expect("client");
        while let Some(ev) = client.poll_event() {
            self.capp.on_event(client, ev);
        }
        Ok(())
    }

    /// The invariants over everything that happened so far.
    pub fn check(&mut self) -> Result<(), Violation> {
        for (k, ex) in &self.capp.exchanges {
            let terminal = [
                ex.finished,
                ex.reset.is_some(),
                ex.failed.is_some(),
                ex.not_processed,
            ]
            .into_iter()
            .filter(|t| *t)
            .count();
            if terminal > 1 {
                return Err(Violation(format!(
                    "stream {} has {terminal} terminal events: {ex:?}",
                    k.1
                )));
            }
            if ex.finished && ex.status() == Some(200) {
                let spec_n = self.capp_spec_len(ex.index);
                let seed = ex.index as u64;
                if ex.body.sha256 != Some(pattern_sha256(seed, spec_n)) {
                    return Err(Violation(format!(
                        "stream {}: body of {} bytes differs from the {spec_n}-byte pattern",
                        k.1, ex.body.len
                    )));
                }
            }
        }
        if !self.capp.errors.is_empty() {
            // The client app records API misuse; filo must not cause any.
            let unexpected: Vec<_> = self
                .capp
                .errors
                .iter()
                .filter(|e| {
                    // Outcomes the operations legitimately cause.
                    !["closed", "stopped", "unknown or finished", "GOAWAY"]
                        .iter()
                        .any(|benign| e.contains(benign))
                })
                .collect();
            if !unexpected.is_empty() {
                return Err(Violation(format!("client errors: {unexpected:?}")));
            }
        }
        // Request bodies that arrived whole are the pattern the client sent
        // (seed = request index, length = its content-length).
        for (k, req) in &self.sapp.requests {
            if !req.finished || req.headers.method() != Some("POST") {
                continue;
            }
            let seed: u64 = req
                .headers
                .get_str("x-seed")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: u64 = req
                .headers
                .get_str("content-length")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if req.body.sha256 != Some(pattern_sha256(seed, len)) || req.body.len != len {
                return Err(Violation(format!(
                    "request body on stream {} differs from what was sent ({} of {len} bytes)",
                    k.1, req.body.len
                )));
            }
        }
        let server = self.server.as_mut().expect("server");
        let handles: Vec<_> = server.handles().collect();
        for h in handles {
            let Some(c) = server.conn(h) else { continue };
            let st = c.stats();
            if st.active_streams > MAX_STREAMS + 1 {
                return Err(Violation(format!(
                    "server tracks {} request streams, granted {MAX_STREAMS}",
                    st.active_streams
                )));
            }
            if st.abnormal_streams > u64::from(BUDGET) && !c.is_closing() {
                return Err(Violation(format!(
                    "{} abnormal streams past a budget of {BUDGET} and the connection is open",
                    st.abnormal_streams
                )));
            }
        }
        Ok(())
    }

    /// Lets the pair finish in real time (quiche retransmits what the
    /// operations dropped only after its timers fire) until every request
    /// reached an end or a connection closed, at most `limit`; then checks
    /// that every stream ended in exactly one terminal event.
    pub fn settle(&mut self, limit: Duration) -> Result<(), Violation> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            self.round()?;
            self.check()?;
            let all_done = self.capp.pending.is_empty()
                && self
                    .capp
                    .exchanges
                    .iter()
                    .all(|(k, ex)| ex.is_done() || self.client_stopped.contains(&k.1));
            if all_done || !self.capp.closed.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if !self.capp.closed.is_empty() {
            return Ok(());
        }
        for (k, ex) in &self.capp.exchanges {
            if !ex.is_done() && !self.client_stopped.contains(&k.1) {
                return Err(Violation(format!(
                    "stream {} never ended (connection open, {limit:?} given): {ex:?}",
                    k.1
                )));
            }
        }
        Ok(())
    }

    fn capp_spec_len(&self, index: usize) -> u64 {
        // Request i asked for `/bytes/{size * 97}`; the server app echoes
        // the path's number, so read it back from the recorded order.
        let key = self.capp.order[index];
        self.capp.exchanges[&key]
            .response
            .as_ref()
            .and_then(|h| h.get_str("content-length"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

/// The GSO batch invariants of one transmit.
pub fn check_batch(t: &Transmit, bytes: &[u8]) -> Result<(), Violation> {
    if t.len != bytes.len() || t.len == 0 || t.segment_size == 0 {
        return Err(Violation(format!("bad transmit lengths: {t:?}")));
    }
    let segs: Vec<&[u8]> = bytes.chunks(t.segment_size).collect();
    if segs.len() != t.segments() {
        return Err(Violation(format!(
            "segments() disagrees with the bytes: {t:?}"
        )));
    }
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        if (!last && s.len() != t.segment_size) || s.len() > t.segment_size {
            return Err(Violation(format!(
                "segment {i} of {} bytes in {t:?}",
                s.len()
            )));
        }
        let version_negotiation = s[0] & 0x80 != 0 && s.get(1..5) == Some(&[0, 0, 0, 0]);
        if s[0] & 0x40 == 0 && !version_negotiation {
            // QUIC v1 packets set the fixed bit (RFC 9000 §17); Version
            // Negotiation leaves it random (RFC 8999 §6).
            return Err(Violation(format!("segment {i}: fixed bit clear")));
        }
        let short_cid = 16;
        if parse_ok(s, short_cid).is_none() {
            return Err(Violation(format!(
                "segment {i} is not a parseable QUIC packet"
            )));
        }
    }
    Ok(())
}

/// Whether `s` parses as a QUIC packet header (without filo internals:
/// the invariant fields by hand).
fn parse_ok(s: &[u8], short_cid: usize) -> Option<()> {
    let first = *s.first()?;
    if first & 0x80 == 0 {
        return (s.len() > 1 + short_cid).then_some(());
    }
    let dcid_len = usize::from(*s.get(5)?);
    let scid_len = usize::from(*s.get(6 + dcid_len)?);
    (s.len() >= 7 + dcid_len + scid_len).then_some(())
}
