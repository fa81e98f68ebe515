//! One connection: a `quiche::Connection`, its `quiche::h3::Connection`, and
//! everything filo adds around them (timers, CIDs, stream state, GOAWAY,
//! budgets). Lifecycle and timers live here; received HTTP in `recv`,
//! batching in `send`, the application's commands in `api`.

mod api;
mod recv;
mod send;

pub use api::Conn;
pub(crate) use send::Batch;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use smallvec::SmallVec;

use crate::alloc_audit::q;
use crate::cid::{CidKey, CidTable, ConnectionIdGenerator};
use crate::config::Limits;
use crate::error::code;
use crate::event::{CloseReason, ConnHandle, Event, EventKind};
use crate::hash::{Map, StreamMap, stream_map_with_capacity};
use crate::keys::EndpointKeys;
use crate::packet::MAX_CID_LEN;
use crate::stats::ConnStats;
use crate::stream::StreamState;

/// The largest GOAWAY id (RFC 9000 stream ids are < 2^62; client bidi ids
/// are multiples of 4).
const GOAWAY_MAX_ID: u64 = (1 << 62) - 4;
/// PINGs sent for stale send capacity without progress before filo stops.
const MAX_CAPACITY_PROBES: u32 = 3;
/// CIDs routed to one connection at most (issued + the client's original).
const MAX_ROUTED_CIDS: usize = 8;

/// Endpoint-wide state a connection needs while it processes input.
pub(crate) struct Ctx<'a> {
    pub(crate) events: &'a mut VecDeque<Event>,
    pub(crate) routes: &'a mut CidTable,
    pub(crate) cid_gen: &'a mut dyn ConnectionIdGenerator,
    pub(crate) keys: &'a EndpointKeys,
    pub(crate) limits: &'a Limits,
    pub(crate) h3_config: &'a quiche::h3::Config,
    /// Client: the stateless reset token each connection's server announced,
    /// so a reset (which carries no usable CID) can be matched.
    pub(crate) reset_tokens: &'a mut Map<[u8; 16], u32>,
}

/// Deadlines filo keeps beside quiche's own.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timers {
    pub(crate) handshake: Option<Instant>,
    pub(crate) first_request: Option<Instant>,
    pub(crate) keep_alive: Option<Instant>,
    /// Server GOAWAY: when to send the real (second) id.
    pub(crate) goaway_final: Option<Instant>,
    /// Server GOAWAY: close even with requests in flight.
    pub(crate) drain: Option<Instant>,
    /// Pacing: the next packet may not leave before this.
    pub(crate) pace: Option<Instant>,
    /// A stream waits for send capacity and no packet arrived for a while:
    /// probe with a PING (see `on_timeout`).
    pub(crate) capacity_probe: Option<Instant>,
}

impl Timers {
    fn earliest(&self) -> Option<Instant> {
        [
            self.handshake,
            self.first_request,
            self.keep_alive,
            self.goaway_final,
            self.drain,
            self.pace,
            self.capacity_probe,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What a [`Connection::process`] pass follows, which decides how much of
/// quiche's HTTP/3 layer it polls. quiche produces HTTP/3 events only from
/// received data, so datagrams and timeouts poll everything, a command
/// polls nothing, and reading a body polls that stream (its next frame or
/// its end may now be readable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum After {
    /// Datagrams or a timeout.
    Input,
    /// An application command.
    Command,
    /// The application drained stream `id`'s buffered body.
    Read(u64),
}

/// Where this side's GOAWAY is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goaway {
    /// None sent.
    None,
    /// Server: the announce (maximum id) is out; the real id follows.
    Announced,
    /// The real id is out: requests at or above it are rejected.
    Final(u64),
}

pub(crate) struct Connection {
    pub(crate) q: quiche::Connection,
    pub(crate) h3: Option<quiche::h3::Connection>,
    pub(crate) handle: ConnHandle,
    pub(crate) is_server: bool,
    pub(crate) local: SocketAddr,
    /// The peer address the connection started with (per-IP accounting).
    pub(crate) origin: SocketAddr,
    /// CIDs routed to this connection, to unroute them all at the end.
    pub(crate) routed: SmallVec<[CidKey; MAX_ROUTED_CIDS]>,
    /// The client's original DCID (server, no Retry): unrouted once
    /// established.
    pub(crate) client_dcid: Option<CidKey>,
    pub(crate) streams: StreamMap<StreamState>,
    pub(crate) timers: Timers,
    /// Earliest deadline this connection has in the endpoint's heap.
    pub(crate) scheduled: Option<Instant>,
    pub(crate) in_send_queue: bool,
    /// Datagrams went to quiche and filo has not processed them yet (the
    /// endpoint's `recv_pending` list holds this connection).
    pub(crate) recv_pending: bool,
    /// The congestion controller paces (BBRv2): GSO batches are then cut
    /// at quiche's `send_quantum` so a batch is no bigger burst than the
    /// pacer allows. Unpaced (CUBIC, Reno), batches run to the GSO limits.
    pub(crate) paced: bool,
    /// Reported to the application (server: `Accepted`).
    pub(crate) surfaced: bool,
    pub(crate) established: bool,
    pub(crate) local_close: Option<CloseReason>,
    pub(crate) goaway_sent: Goaway,
    /// A GOAWAY id the control stream had no room for yet.
    pub(crate) goaway_pending: Option<u64>,
    /// Server: the application error code the GOAWAY drain closes with
    /// (H3_NO_ERROR for an operator GOAWAY, H3_EXCESSIVE_LOAD at the
    /// request cap).
    pub(crate) goaway_close_code: u64,
    pub(crate) peer_goaway: Option<u64>,
    pub(crate) abnormal: u32,
    pub(crate) requests: u64,
    /// Server: one past the highest request stream id seen (GOAWAY id).
    pub(crate) next_request_id: u64,
    /// Client: a `send_request` failed on the stream limit or capacity.
    pub(crate) request_wanted: bool,
    /// Client: a `send_request` failed for capacity (`Blocked`).
    pub(crate) request_blocked: bool,
    /// Capacity probes sent since the last progress (a `Writable` or
    /// `StreamsAvailable`).
    pub(crate) probes_unanswered: u32,
    /// Client: the server's stateless reset token, registered endpoint-wide.
    pub(crate) peer_reset_token: Option<[u8; 16]>,
    /// Server: request streams finished by filo whose data quiche may not
    /// have delivered yet; a GOAWAY drain waits for them.
    pub(crate) undelivered: Vec<u64>,
    /// quiche's count of STOP_SENDING frames received, as last seen.
    pub(crate) peer_stops: u64,
    /// Some stream waits for send capacity (`Writable`).
    pub(crate) writable_waiters: bool,
    /// A `Datagrams` event is out and the queue not yet drained.
    pub(crate) dgram_signalled: bool,
    /// Client keep-alive interval.
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) stats: ConnStats,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("handle", &self.handle)
            .field("is_server", &self.is_server)
            .field("local", &self.local)
            .field("origin", &self.origin)
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(
        q: quiche::Connection,
        handle: ConnHandle,
        local: SocketAddr,
        peer: SocketAddr,
        now: Instant,
        limits: &Limits,
    ) -> Self {
        let is_server = q.is_server();
        let capacity = usize::try_from(limits.max_streams_bidi.min(1024)).unwrap_or(128) + 4;
        Self {
            q,
            h3: None,
            handle,
            is_server,
            local,
            origin: peer,
            routed: SmallVec::new(),
            client_dcid: None,
            streams: stream_map_with_capacity(capacity),
            timers: Timers {
                handshake: now.checked_add(limits.handshake_timeout),
                ..Timers::default()
            },
            scheduled: None,
            in_send_queue: false,
            recv_pending: false,
            paced: limits.congestion_control == crate::config::CongestionControl::Bbr2,
            surfaced: !is_server,
            established: false,
            local_close: None,
            goaway_sent: Goaway::None,
            goaway_pending: None,
            goaway_close_code: code::H3_NO_ERROR,
            peer_goaway: None,
            abnormal: 0,
            requests: 0,
            next_request_id: 0,
            request_wanted: false,
            request_blocked: false,
            probes_unanswered: 0,
            peer_reset_token: None,
            undelivered: Vec::new(),
            peer_stops: 0,
            writable_waiters: false,
            dgram_signalled: false,
            keep_alive: if is_server { None } else { limits.keep_alive },
            stats: ConnStats::default(),
        }
    }

    pub(crate) fn emit(&self, ctx: &mut Ctx<'_>, kind: EventKind) {
        ctx.events.push_back(Event {
            conn: self.handle,
            kind,
        });
    }

    /// The earliest of quiche's deadline and filo's own.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let quiche = q!(self.q.timeout_instant());
        match (quiche, self.timers.earliest()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        q!(self.q.is_closed())
    }

    /// Whether the connection is closing (draining or closed): no new work.
    pub(crate) fn is_closing(&self) -> bool {
        q!(self.q.is_closed() || self.q.is_draining() || self.q.local_error().is_some())
    }

    /// Closes the connection, remembering filo's own reason first (quiche
    /// rewrites application closes before the handshake).
    pub(crate) fn close(&mut self, reason: CloseReason, app: bool, err: u64, msg: &[u8]) {
        if self.is_closing() {
            return;
        }
        self.local_close.get_or_insert(reason);
        let _ = q!(self.q.close(app, err, msg));
    }

    /// A connection error filo detected (e.g. a frame out of order).
    pub(crate) fn protocol_error(&mut self, err: u64, msg: &[u8]) {
        self.close(
            CloseReason::Local {
                code: err,
                app: true,
            },
            true,
            err,
            msg,
        );
    }

    /// Handles expired timers. quiche's own timer is checked by quiche.
    pub(crate) fn on_timeout(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if q!(self.q.timeout_instant()).is_some_and(|t| t <= now) {
            q!(self.q.on_timeout());
        }
        if self.timers.capacity_probe.is_some_and(|t| t <= now) {
            self.timers.capacity_probe = None;
            if self.wants_capacity() && self.probes_unanswered < MAX_CAPACITY_PROBES {
                // quiche recomputes its send capacity only in `recv` (and a
                // few stream calls), so after loss is declared without a
                // packet arriving it can stay stale at 0 while nothing is in
                // flight: a stall. An ack-eliciting PING brings an ACK whose
                // `recv` refreshes it. If the peer is withholding flow
                // control instead, a PING cannot help: probes back off and
                // stop after a few without progress (then idle rules).
                let _ = q!(self.q.send_ack_eliciting());
                self.probes_unanswered += 1;
                self.arm_capacity_probe(now);
            }
        }
        let t = &mut self.timers;
        if t.pace.is_some_and(|p| p <= now) {
            t.pace = None;
        }
        if t.handshake.is_some_and(|d| d <= now) {
            t.handshake = None;
            if !self.established {
                self.close(
                    CloseReason::HandshakeTimeout,
                    false,
                    0x0,
                    b"handshake timeout",
                );
            }
        }
        if self.timers.first_request.is_some_and(|d| d <= now) {
            self.timers.first_request = None;
            self.close(
                CloseReason::FirstRequestTimeout,
                true,
                code::H3_NO_ERROR,
                b"no request",
            );
        }
        if let Some(k) = self.timers.keep_alive
            && k <= now
        {
            let _ = q!(self.q.send_ack_eliciting());
            self.timers.keep_alive = self.keep_alive.and_then(|d| now.checked_add(d));
        }
        if self.timers.goaway_final.is_some_and(|d| d <= now) {
            self.timers.goaway_final = None;
            let id = self.next_request_id;
            self.goaway_sent = Goaway::Final(id);
            self.goaway_pending = Some(id);
        }
        if self.timers.drain.is_some_and(|d| d <= now) {
            self.timers.drain = None;
            self.close_drained();
        }
        self.process(now, After::Input, ctx);
    }

    /// Called after every datagram: remembers activity for keep-alive.
    pub(crate) fn on_datagram(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if let Some(k) = self.keep_alive {
            self.timers.keep_alive = now.checked_add(k);
        }
        if !self.dgram_signalled && q!(self.q.dgram_recv_queue_len()) > 0 {
            self.dgram_signalled = true;
            self.emit(ctx, EventKind::Datagrams);
        }
        if self.request_wanted && !self.is_closing() {
            // A datagram may have raised the peer's stream limit (MAX_STREAMS)
            // or freed capacity (ACKs); quiche has no event for either.
            let streams_ok = self.peer_goaway.is_none() && q!(self.q.peer_streams_left_bidi()) > 0;
            if streams_ok {
                self.request_wanted = false;
                self.request_blocked = false;
                self.probes_unanswered = 0;
                self.emit(ctx, EventKind::StreamsAvailable);
            }
        }
        self.process(now, After::Input, ctx);
    }

    /// Everything that follows any input or command: handshake completion,
    /// CID upkeep, HTTP/3 events, writability, GOAWAY progress.
    pub(crate) fn process(&mut self, now: Instant, after: After, ctx: &mut Ctx<'_>) {
        let after_input = after == After::Input;
        if after_input && !self.established && q!(self.q.is_established()) {
            self.on_established(now, ctx);
        }
        if after_input && self.established && !self.is_closed() {
            self.refresh_cids(ctx);
        }
        if self.h3.is_some() {
            match after {
                After::Input => self.poll_h3(now, None, ctx),
                After::Read(id) => self.poll_h3(now, Some(id), ctx),
                After::Command => {}
            }
            if after_input {
                // After the h3 poll, so a STOP_SENDING that arrived with its
                // stream's HEADERS finds the stream tracked.
                self.detect_stop_sending(ctx);
            }
            self.drain_writable(after_input, ctx);
            if !self.wants_capacity() {
                self.timers.capacity_probe = None;
                self.probes_unanswered = 0;
            } else if after_input || self.timers.capacity_probe.is_none() {
                // Any arrival postpones the capacity probe; a new waiter
                // (registered by a command) arms it.
                self.arm_capacity_probe(now);
            }
            self.advance_goaway(ctx);
        }
    }

    fn on_established(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        self.established = true;
        self.timers.handshake = None;
        if let Some(key) = self.client_dcid.take() {
            ctx.routes.remove(&key, self.handle.index);
            self.routed.retain(|k| *k != key);
        }
        if !self.is_server {
            let token = q!(self.q.peer_transport_params())
                .and_then(|tp| tp.stateless_reset_token)
                .map(u128::to_be_bytes);
            if let Some(token) = token {
                ctx.reset_tokens.insert(token, self.handle.index);
                self.peer_reset_token = Some(token);
            }
        }
        match q!(quiche::h3::Connection::with_transport(
            &mut self.q,
            ctx.h3_config
        )) {
            Ok(h3) => self.h3 = Some(h3),
            Err(e) => {
                // quiche closed the connection already when it could not
                // open its control stream; make sure it is closing.
                self.protocol_error(recv::h3_wire_code(e), b"h3 setup failed");
                return;
            }
        }
        if self.is_server {
            self.timers.first_request = ctx
                .limits
                .first_request_timeout
                .and_then(|d| now.checked_add(d));
        } else {
            self.timers.keep_alive = self.keep_alive.and_then(|d| now.checked_add(d));
        }
        self.emit(ctx, EventKind::Connected);
    }

    /// Keeps the peer supplied with CIDs and the route table in step.
    fn refresh_cids(&mut self, ctx: &mut Ctx<'_>) {
        let len = ctx.cid_gen.cid_len();
        let mut attempts = 0;
        while q!(self.q.scids_left()) > 0 && self.routed.len() < MAX_ROUTED_CIDS && attempts < 8 {
            attempts += 1;
            let mut buf = [0u8; MAX_CID_LEN];
            let cid = &mut buf[..len];
            ctx.cid_gen.generate(cid);
            let Some(key) = CidKey::new(cid) else { break };
            if !ctx.routes.insert(key, self.handle.index) {
                continue;
            }
            let token = u128::from_be_bytes(ctx.keys.reset_token(cid));
            let scid = quiche::ConnectionId::from_ref(cid);
            if q!(self.q.new_scid(&scid, token, false)).is_ok() {
                self.routed.push(key);
            } else {
                ctx.routes.remove(&key, self.handle.index);
                break;
            }
        }
        while let Some(cid) = q!(self.q.retired_scid_next()) {
            if let Some(key) = CidKey::new(&cid) {
                ctx.routes.remove(&key, self.handle.index);
                self.routed.retain(|k| *k != key);
            }
        }
        while q!(self.q.path_event_next()).is_some() {
            self.stats.path_events += 1;
        }
    }

    /// Sends a pending GOAWAY and closes a drained server connection.
    fn advance_goaway(&mut self, ctx: &mut Ctx<'_>) {
        let closing = self.is_closing();
        if let (Some(id), Some(h3), false) = (self.goaway_pending, self.h3.as_mut(), closing)
            && q!(h3.send_goaway(&mut self.q, id)).is_ok()
        {
            self.goaway_pending = None;
        }
        if self.is_server && self.goaway_sent != Goaway::None {
            // quiche collects a stream once everything on it is acked.
            let q = &mut self.q;
            self.undelivered.retain(|&id| {
                !matches!(
                    q!(q.stream_capacity(id)),
                    Err(quiche::Error::InvalidStreamState(_))
                )
            });
        }
        if self.is_server
            && matches!(self.goaway_sent, Goaway::Final(_))
            && self.goaway_pending.is_none()
            && self.streams.is_empty()
            && self.undelivered.is_empty()
        {
            self.close_drained();
        }
        let _ = ctx;
    }

    /// Server: ends a GOAWAY drain (finished or timed out) with
    /// `goaway_close_code`.
    fn close_drained(&mut self) {
        let code = self.goaway_close_code;
        let reason: &[u8] = if code == code::H3_NO_ERROR {
            b""
        } else {
            b"request limit reached"
        };
        self.close(CloseReason::Local { code, app: true }, true, code, reason);
    }

    /// Starts a GOAWAY. Server: announce with the maximum id now, send the
    /// real id after about one RTT, close once in-flight requests finish or
    /// `goaway_drain_timeout` passes. Client: GOAWAY(0) (no server push).
    pub(crate) fn start_goaway(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        if self.goaway_sent != Goaway::None {
            return;
        }
        if !self.is_server {
            self.goaway_sent = Goaway::Final(0);
            self.goaway_pending = Some(0);
            return;
        }
        self.goaway_sent = Goaway::Announced;
        self.goaway_pending = Some(GOAWAY_MAX_ID);
        let rtt = self.rtt().max(Duration::from_millis(1));
        self.timers.goaway_final = now.checked_add(rtt);
        self.timers.drain = now.checked_add(ctx.limits.goaway_drain_timeout);
    }

    /// Server, at the request cap: GOAWAY with the exact id at once; once
    /// the requests in flight finish (or `goaway_drain_timeout` passes) the
    /// connection closes with H3_EXCESSIVE_LOAD.
    pub(crate) fn final_goaway(&mut self, now: Instant, ctx: &mut Ctx<'_>) {
        self.goaway_close_code = code::H3_EXCESSIVE_LOAD;
        if matches!(self.goaway_sent, Goaway::Final(_)) {
            return;
        }
        let id = self.next_request_id;
        self.goaway_sent = Goaway::Final(id);
        self.goaway_pending = Some(id);
        self.timers.goaway_final = None;
        self.timers.drain.get_or_insert_with(|| {
            now.checked_add(ctx.limits.goaway_drain_timeout)
                .unwrap_or(now)
        });
    }

    /// Whether the application waits for send capacity: a stream's
    /// `Writable`, or a `send_request` refused as `Blocked`.
    fn wants_capacity(&self) -> bool {
        self.writable_waiters || self.request_blocked
    }

    /// Arms the capacity probe: two RTTs (at least 5 ms) without any packet
    /// arriving, doubled for each probe already unanswered; none after
    /// `MAX_CAPACITY_PROBES`.
    fn arm_capacity_probe(&mut self, now: Instant) {
        self.timers.capacity_probe = (self.probes_unanswered < MAX_CAPACITY_PROBES).then(|| {
            let base = (self.rtt() * 2).max(Duration::from_millis(5));
            now + base * (1 << self.probes_unanswered)
        });
    }

    pub(crate) fn rtt(&self) -> Duration {
        q!(self.q.path_stats().next().map(|p| p.rtt)).unwrap_or(Duration::from_millis(100))
    }

    /// Counts a stream that ended abnormally; past the budget, GOAWAY and
    /// close with H3_EXCESSIVE_LOAD.
    pub(crate) fn count_abnormal(&mut self, ctx: &mut Ctx<'_>) {
        if self.is_closing() {
            return;
        }
        self.abnormal += 1;
        self.stats.abnormal_streams += 1;
        if self.abnormal > ctx.limits.abnormal_stream_budget {
            if let Some(h3) = self.h3.as_mut() {
                let id = if self.is_server {
                    self.next_request_id
                } else {
                    0
                };
                let _ = q!(h3.send_goaway(&mut self.q, id));
            }
            self.protocol_error(code::H3_EXCESSIVE_LOAD, b"abnormal stream budget exceeded");
        }
    }

    /// Why the (closed) connection ended.
    pub(crate) fn close_reason(&self) -> CloseReason {
        if let Some(r) = &self.local_close {
            return r.clone();
        }
        if q!(self.q.is_timed_out()) {
            return CloseReason::IdleTimeout;
        }
        if let Some(e) = q!(self.q.peer_error()) {
            return if e.is_app {
                CloseReason::PeerApplication {
                    code: e.error_code,
                    reason: e.reason.clone(),
                }
            } else {
                CloseReason::PeerTransport {
                    code: e.error_code,
                    reason: e.reason.clone(),
                }
            };
        }
        if let Some(e) = q!(self.q.local_error()) {
            return CloseReason::Local {
                code: e.error_code,
                app: e.is_app,
            };
        }
        if !self.is_server {
            // quiche marks a client closed without error when a stateless
            // reset matched the handshake's reset token.
            return CloseReason::StatelessReset;
        }
        CloseReason::Local {
            code: 0,
            app: false,
        }
    }
}

/// Whether `id` is a client-initiated bidirectional (request) stream.
pub(crate) fn is_request_stream(id: u64) -> bool {
    id.is_multiple_of(4)
}
