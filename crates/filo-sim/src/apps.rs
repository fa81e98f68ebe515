//! Ready-made HTTP/3 applications for simulations: a server whose routes
//! cover the protocol's features, and a client that runs a list of
//! requests and records everything that comes back.
//!
//! Server routes:
//! - `/bytes/N`: N pattern bytes (seeded by `x-seed`, default 0);
//! - `/echo`: the request body back;
//! - `/status/NNN`: that status, no body;
//! - anything else: 200, empty body.
//!
//! Request headers `x-interim: K` ask for K interim (103) responses first,
//! `x-trailers: 1` for trailers carrying the body's SHA-256.

use std::collections::{HashMap, VecDeque};

use filo_core::boring::sha::Sha256;
use filo_core::{
    CloseReason, ConnHandle, Endpoint, Event, EventKind, HeaderList, SendRequestError, StreamError,
    StreamFailure, StreamId,
};

use crate::sim::NodeApp;

/// Writes the pattern bytes at `offset..offset + out.len()` of body `seed`.
pub fn fill_pattern(seed: u64, offset: u64, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let pos = offset + i as u64;
        let mut z = (pos / 8) ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 31)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        *b = (z >> ((pos % 8) * 8)) as u8;
    }
}

/// SHA-256 of the `len`-byte pattern body `seed`.
pub fn pattern_sha256(seed: u64, len: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    let mut buf = [0u8; 16384];
    let mut off = 0;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        fill_pattern(seed, off, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n as u64;
    }
    h.finish()
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where body bytes come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `len` pattern bytes from `seed`.
    Pattern {
        /// Pattern seed.
        seed: u64,
        /// Length.
        len: u64,
    },
    /// These bytes.
    Bytes(Vec<u8>),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Pattern { len, .. } => *len,
            Body::Bytes(b) => b.len() as u64,
        }
    }

    fn fill(&self, offset: u64, out: &mut [u8]) -> usize {
        let n = (self.len().saturating_sub(offset)).min(out.len() as u64) as usize;
        match self {
            Body::Pattern { seed, .. } => fill_pattern(*seed, offset, &mut out[..n]),
            Body::Bytes(b) => out[..n].copy_from_slice(&b[offset as usize..offset as usize + n]),
        }
        n
    }

    /// SHA-256 of the whole body.
    pub fn sha256(&self) -> [u8; 32] {
        match self {
            Body::Pattern { seed, len } => pattern_sha256(*seed, *len),
            Body::Bytes(b) => filo_core::boring::sha::sha256(b),
        }
    }
}

/// A body being sent on a stream, with optional trailers after it.
#[derive(Debug)]
struct Outgoing {
    body: Body,
    sent: u64,
    trailers: Vec<(String, String)>,
    done: bool,
}

impl Outgoing {
    /// Sends as much as fits; finishes with trailers or FIN.
    fn pump(
        &mut self,
        ep: &mut Endpoint,
        conn: ConnHandle,
        stream: StreamId,
    ) -> Result<(), StreamError> {
        let Some(mut c) = ep.conn(conn) else {
            return Ok(());
        };
        let mut chunk = [0u8; 16384];
        let total = self.body.len();
        while !self.done {
            let n = self.body.fill(self.sent, &mut chunk);
            let last = self.sent + n as u64 == total;
            let fin = last && self.trailers.is_empty();
            if n == 0 && !fin {
                match c.send_trailers(stream, &self.trailers) {
                    Ok(()) => self.done = true,
                    Err(StreamError::Blocked) => return Ok(()), // wait for Writable
                    Err(e) => return Err(e),
                }
                break;
            }
            match c.send_body(stream, &chunk[..n], fin) {
                Ok(w) => {
                    self.sent += w as u64;
                    if w < n {
                        return Ok(()); // wait for Writable
                    }
                    if fin {
                        self.done = true;
                    }
                }
                Err(StreamError::Blocked) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// A received body: length and running SHA-256 (and the bytes, if kept).
#[derive(Default)]
pub struct Incoming {
    /// Bytes received.
    pub len: u64,
    hasher: Option<Sha256>,
    /// SHA-256 once the body finished.
    pub sha256: Option<[u8; 32]>,
    /// The bytes, when the app keeps them.
    pub bytes: Option<Vec<u8>>,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("len", &self.len)
            .field("sha256", &self.sha256.map(|h| hex(&h)))
            .finish()
    }
}

impl Incoming {
    fn keep() -> Self {
        Self {
            bytes: Some(Vec::new()),
            ..Self::default()
        }
    }

    fn read(
        &mut self,
        ep: &mut Endpoint,
        conn: ConnHandle,
        stream: StreamId,
    ) -> Result<(), StreamError> {
        let Some(mut c) = ep.conn(conn) else {
            return Ok(());
        };
        let mut buf = [0u8; 16384];
        loop {
            let n = c.recv_body(stream, &mut buf)?;
            if n == 0 {
                return Ok(());
            }
            self.len += n as u64;
            self.hasher
                .get_or_insert_with(Sha256::new)
                .update(&buf[..n]);
            if let Some(b) = self.bytes.as_mut() {
                b.extend_from_slice(&buf[..n]);
            }
        }
    }

    fn finish(&mut self) {
        self.sha256 = Some(self.hasher.take().unwrap_or_default().finish());
    }
}

/// What a server stream went through.
#[derive(Debug, Default)]
pub struct ServedRequest {
    /// The request head.
    pub headers: HeaderList,
    /// The request body.
    pub body: Incoming,
    /// Request trailers.
    pub trailers: Option<HeaderList>,
    /// The request finished normally.
    pub finished: bool,
    /// Reset by the client with this code.
    pub reset: Option<u64>,
    /// STOP_SENDING from the client with this code.
    pub stopped: Option<u64>,
    /// The response was fully sent.
    pub responded: bool,
    /// The response head was refused for capacity; retried on `Writable`.
    head_blocked: bool,
    out: Option<Outgoing>,
}

/// The server app (see the module docs for its routes).
#[derive(Debug, Default)]
pub struct ServerApp {
    /// Every request that surfaced, by connection and stream.
    pub requests: HashMap<(ConnHandle, StreamId), ServedRequest>,
    /// Arrival order of `requests`.
    pub order: Vec<(ConnHandle, StreamId)>,
    /// Requests waiting for [`release`](Self::release) when `hold` is set.
    pub held: VecDeque<(ConnHandle, StreamId)>,
    /// Hold finished requests instead of answering them.
    pub hold: bool,
    /// Connections accepted / established.
    pub accepted: Vec<ConnHandle>,
    /// Connections established.
    pub connected: Vec<ConnHandle>,
    /// Messages filo refused.
    pub failures: Vec<(ConnHandle, StreamId, StreamFailure)>,
    /// GOAWAYs received.
    pub goaways: Vec<(ConnHandle, u64)>,
    /// Connections that closed, with why.
    pub closed: Vec<(ConnHandle, CloseReason)>,
    /// Errors the app hit while answering (should stay empty).
    pub errors: Vec<String>,
}

impl ServerApp {
    /// A server that answers at once.
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers held requests.
    pub fn release(&mut self, ep: &mut Endpoint) {
        while let Some((conn, stream)) = self.held.pop_front() {
            self.respond(ep, conn, stream);
        }
    }

    pub(crate) fn respond(&mut self, ep: &mut Endpoint, conn: ConnHandle, stream: StreamId) {
        let Some(req) = self.requests.get_mut(&(conn, stream)) else {
            return;
        };
        let path = req.headers.path().unwrap_or("/").to_owned();
        let seed = req
            .headers
            .get_str("x-seed")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (status, body) = if let Some(n) = path.strip_prefix("/bytes/") {
            (
                200,
                Body::Pattern {
                    seed,
                    len: n.parse().unwrap_or(0),
                },
            )
        } else if path == "/echo" {
            (200, Body::Bytes(req.body.bytes.clone().unwrap_or_default()))
        } else if let Some(s) = path.strip_prefix("/status/") {
            (s.parse().unwrap_or(500), Body::Bytes(Vec::new()))
        } else {
            (200, Body::Bytes(Vec::new()))
        };
        let trailers = if req.headers.get_str("x-trailers") == Some("1") {
            vec![("x-body-sha256".to_owned(), hex(&body.sha256()))]
        } else {
            Vec::new()
        };
        let Some(mut c) = ep.conn(conn) else { return };
        let status = status.to_string();
        let len = body.len().to_string();
        let head = [
            (":status", status.as_str()),
            ("content-length", len.as_str()),
        ];
        let no_body = body.len() == 0 && trailers.is_empty();
        match c.send_response(stream, &head, no_body) {
            Ok(()) => req.head_blocked = false,
            Err(StreamError::Blocked) => {
                // Congestion or flow control: filo emits `Writable` later.
                req.head_blocked = true;
                return;
            }
            Err(e) => {
                self.errors.push(format!("send_response {stream}: {e}"));
                return;
            }
        }
        if no_body {
            req.responded = true;
            return;
        }
        let mut out = Outgoing {
            body,
            sent: 0,
            trailers,
            done: false,
        };
        match out.pump(ep, conn, stream) {
            Ok(()) => req.responded = out.done,
            Err(e) => self.errors.push(format!("pump {stream}: {e}")),
        }
        req.out = Some(out);
    }
}

impl NodeApp for ServerApp {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        let conn = ev.conn;
        match ev.kind {
            EventKind::Accepted => self.accepted.push(conn),
            EventKind::Connected => self.connected.push(conn),
            EventKind::Request {
                stream, headers, ..
            } => {
                let interim: u32 = headers
                    .get_str("x-interim")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = if headers.path() == Some("/echo") {
                    Incoming::keep()
                } else {
                    Incoming::default()
                };
                self.requests.insert(
                    (conn, stream),
                    ServedRequest {
                        headers,
                        body,
                        ..Default::default()
                    },
                );
                self.order.push((conn, stream));
                if let Some(mut c) = ep.conn(conn) {
                    for i in 0..interim {
                        let n = i.to_string();
                        if let Err(e) =
                            c.send_interim(stream, &[(":status", "103"), ("x-n", n.as_str())])
                        {
                            self.errors.push(format!("send_interim: {e}"));
                        }
                    }
                }
            }
            EventKind::Data { stream } => {
                if let Some(req) = self.requests.get_mut(&(conn, stream))
                    && let Err(e) = req.body.read(ep, conn, stream)
                {
                    self.errors.push(format!("recv_body {stream}: {e}"));
                }
            }
            EventKind::Trailers { stream, headers } => {
                if let Some(req) = self.requests.get_mut(&(conn, stream)) {
                    req.trailers = Some(headers);
                }
            }
            EventKind::Finished { stream } => {
                if let Some(req) = self.requests.get_mut(&(conn, stream)) {
                    req.finished = true;
                    req.body.finish();
                    if self.hold {
                        self.held.push_back((conn, stream));
                    } else {
                        self.respond(ep, conn, stream);
                    }
                }
            }
            EventKind::Writable { stream } => {
                if let Some(req) = self.requests.get_mut(&(conn, stream)) {
                    if req.head_blocked {
                        self.respond(ep, conn, stream);
                    } else if let Some(out) = req.out.as_mut() {
                        match out.pump(ep, conn, stream) {
                            Ok(()) => req.responded = out.done,
                            Err(e) => self.errors.push(format!("pump {stream}: {e}")),
                        }
                    }
                }
            }
            EventKind::Reset { stream, code } => {
                if let Some(req) = self.requests.get_mut(&(conn, stream)) {
                    req.reset = Some(code);
                }
            }
            EventKind::StopSending { stream, code } => {
                if let Some(req) = self.requests.get_mut(&(conn, stream)) {
                    req.stopped = Some(code);
                }
            }
            EventKind::StreamFailed { stream, reason } => {
                self.failures.push((conn, stream, reason))
            }
            EventKind::GoAway { id } => self.goaways.push((conn, id)),
            EventKind::Closed { reason } => self.closed.push((conn, reason)),
            _ => {}
        }
    }
}

/// One request for [`ClientApp`] to send.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    /// `:method`.
    pub method: String,
    /// `:path`.
    pub path: String,
    /// Extra header fields.
    pub headers: Vec<(String, String)>,
    /// Request body.
    pub body: Option<Body>,
    /// Request trailers (sent after the body).
    pub trailers: Vec<(String, String)>,
}

impl RequestSpec {
    /// `GET path`.
    pub fn get(path: &str) -> Self {
        Self {
            method: "GET".into(),
            path: path.into(),
            headers: Vec::new(),
            body: None,
            trailers: Vec::new(),
        }
    }

    /// `POST path` with a body.
    pub fn post(path: &str, body: Body) -> Self {
        Self {
            method: "POST".into(),
            body: Some(body),
            ..Self::get(path)
        }
    }

    /// Adds a header field.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// What happened to one request.
#[derive(Debug, Default)]
pub struct Exchange {
    /// Index in the order requests were queued.
    pub index: usize,
    /// Interim responses, in order.
    pub interim: Vec<HeaderList>,
    /// Final response head.
    pub response: Option<HeaderList>,
    /// Response body.
    pub body: Incoming,
    /// Response trailers.
    pub trailers: Option<HeaderList>,
    /// The response finished normally.
    pub finished: bool,
    /// Reset by the server with this code.
    pub reset: Option<u64>,
    /// STOP_SENDING from the server with this code.
    pub stopped: Option<u64>,
    /// filo refused the response.
    pub failed: Option<StreamFailure>,
    /// The server did not process it (GOAWAY / H3_REQUEST_REJECTED).
    pub not_processed: bool,
    out: Option<Outgoing>,
}

impl Exchange {
    /// Whether the exchange reached an end.
    pub fn is_done(&self) -> bool {
        self.finished || self.reset.is_some() || self.failed.is_some() || self.not_processed
    }

    /// The response status.
    pub fn status(&self) -> Option<u16> {
        self.response.as_ref().and_then(HeaderList::status)
    }
}

/// A client that sends queued requests as stream credit allows and records
/// every exchange.
#[derive(Debug, Default)]
pub struct ClientApp {
    /// Requests not yet sent.
    pub pending: VecDeque<RequestSpec>,
    /// Exchanges by connection and stream.
    pub exchanges: HashMap<(ConnHandle, StreamId), Exchange>,
    /// Send order.
    pub order: Vec<(ConnHandle, StreamId)>,
    /// Established connections.
    pub connected: Vec<ConnHandle>,
    /// `send_request` hit the stream limit this many times.
    pub stream_limit_hits: u32,
    /// `StreamsAvailable` events seen.
    pub streams_available: u32,
    /// GOAWAYs received.
    pub goaways: Vec<(ConnHandle, u64)>,
    /// Connections that closed.
    pub closed: Vec<(ConnHandle, CloseReason)>,
    /// Errors the app hit (should stay empty).
    pub errors: Vec<String>,
    queued: usize,
}

impl ClientApp {
    /// A client with these requests queued.
    pub fn new(requests: impl IntoIterator<Item = RequestSpec>) -> Self {
        Self {
            pending: requests.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Queues more requests; they go out on the next `send_pending`.
    pub fn queue(&mut self, spec: RequestSpec) {
        self.pending.push_back(spec);
    }

    /// Exchanges that reached an end.
    pub fn done_count(&self) -> usize {
        self.exchanges.values().filter(|e| e.is_done()).count()
    }

    /// Whether every queued request was sent and reached an end.
    pub fn all_done(&self) -> bool {
        self.pending.is_empty() && self.exchanges.values().all(Exchange::is_done)
    }

    /// Sends pending requests on `conn` until one is refused.
    pub fn send_pending(&mut self, ep: &mut Endpoint, conn: ConnHandle) {
        while let Some(spec) = self.pending.front() {
            let Some(mut c) = ep.conn(conn) else { return };
            let mut head: Vec<(&str, &str)> = vec![
                (":method", &spec.method),
                (":scheme", "https"),
                (":authority", "localhost"),
                (":path", &spec.path),
            ];
            let len;
            if let Some(b) = &spec.body {
                len = b.len().to_string();
                head.push(("content-length", &len));
            }
            head.extend(spec.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let fin = spec.body.is_none() && spec.trailers.is_empty();
            match c.send_request(&head, fin) {
                Ok(stream) => {
                    let Some(spec) = self.pending.pop_front() else {
                        return;
                    };
                    let mut ex = Exchange {
                        index: self.queued,
                        ..Default::default()
                    };
                    self.queued += 1;
                    if !fin {
                        let body = spec.body.unwrap_or(Body::Bytes(Vec::new()));
                        let mut out = Outgoing {
                            body,
                            sent: 0,
                            trailers: spec.trailers,
                            done: false,
                        };
                        if let Err(e) = out.pump(ep, conn, stream) {
                            self.errors.push(format!("upload {stream}: {e}"));
                        }
                        ex.out = Some(out);
                    }
                    self.exchanges.insert((conn, stream), ex);
                    self.order.push((conn, stream));
                }
                Err(SendRequestError::StreamLimit) => {
                    self.stream_limit_hits += 1;
                    return;
                }
                Err(SendRequestError::Blocked) | Err(SendRequestError::NotEstablished) => return,
                Err(e) => {
                    self.errors.push(format!("send_request: {e}"));
                    return;
                }
            }
        }
    }
}

impl NodeApp for ClientApp {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        let conn = ev.conn;
        let key = |stream| (conn, stream);
        match ev.kind {
            EventKind::Connected => {
                self.connected.push(conn);
                self.send_pending(ep, conn);
            }
            EventKind::StreamsAvailable => {
                self.streams_available += 1;
                self.send_pending(ep, conn);
            }
            EventKind::Interim { stream, headers } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.interim.push(headers);
                }
            }
            EventKind::Response {
                stream, headers, ..
            } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.response = Some(headers);
                }
            }
            EventKind::Data { stream } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream))
                    && let Err(e) = ex.body.read(ep, conn, stream)
                {
                    self.errors.push(format!("recv_body {stream}: {e}"));
                }
            }
            EventKind::Trailers { stream, headers } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.trailers = Some(headers);
                }
            }
            EventKind::Finished { stream } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.finished = true;
                    ex.body.finish();
                }
            }
            EventKind::Writable { stream } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream))
                    && let Some(out) = ex.out.as_mut()
                    && let Err(e) = out.pump(ep, conn, stream)
                {
                    self.errors.push(format!("upload {stream}: {e}"));
                }
            }
            EventKind::Reset { stream, code } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.reset = Some(code);
                }
            }
            EventKind::StopSending { stream, code } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.stopped = Some(code);
                }
            }
            EventKind::StreamFailed { stream, reason } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.failed = Some(reason);
                }
            }
            EventKind::NotProcessed { stream } => {
                if let Some(ex) = self.exchanges.get_mut(&key(stream)) {
                    ex.not_processed = true;
                }
            }
            EventKind::GoAway { id } => self.goaways.push((conn, id)),
            EventKind::Closed { reason } => self.closed.push((conn, reason)),
            _ => {}
        }
    }
}
