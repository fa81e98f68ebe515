//! The [`Endpoint`]: every connection of one role behind the five calls of
//! the sans-IO loop.

mod incoming;
mod stateless;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::alloc_audit::{Scope, q};
use crate::cid::{CidKey, CidTable};
use crate::config::{Config, Role};
use crate::conn::{Batch, Conn, Connection, Ctx};
use crate::error::{ConnectError, TransportError};
use crate::event::{ConnHandle, Event, EventKind};
use crate::hash::{Map, map_with_capacity};
use crate::packet::MAX_CID_LEN;
use crate::retry::RetryTokens;
use crate::stats::EndpointStats;
use crate::timer::TimerQueue;
use crate::transmit::Transmit;

use stateless::{StatelessQueue, TokenBucket};

/// Options for one outgoing connection.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectOptions {
    /// Overrides `Limits::keep_alive` for this connection.
    pub keep_alive: Option<Duration>,
}

pub(crate) struct Slot {
    pub(crate) generation: u32,
    pub(crate) conn: Option<Box<Connection>>,
    /// Server: counted in `pending_handshakes`.
    pub(crate) pending: bool,
}

/// A QUIC + HTTP/3 endpoint: a server accepting connections, or a client
/// making them, driven entirely by the caller.
///
/// Inputs: [`handle_datagram`](Self::handle_datagram),
/// [`handle_timeout`](Self::handle_timeout), and commands on a connection
/// through [`conn`](Self::conn). Outputs: [`poll_transmit`](Self::poll_transmit),
/// [`poll_event`](Self::poll_event), [`poll_timeout`](Self::poll_timeout).
///
/// **Drain contract.** After any input or command, call `poll_transmit`
/// until it returns `None` (sending each transmit), `poll_event` until it
/// returns `None` (handling each event, which may issue more commands), and
/// then read `poll_timeout` afresh and call `handle_timeout` when it passes.
/// Skipping a drain delays packets; it never loses them.
pub struct Endpoint {
    pub(crate) cfg: Config,
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
    pub(crate) routes: CidTable,
    /// Client: server reset tokens -> slot (see `Ctx::reset_tokens`).
    reset_tokens: Map<[u8; 16], u32>,
    timers: TimerQueue,
    send_queue: VecDeque<u32>,
    pub(crate) events: VecDeque<Event>,
    stateless: StatelessQueue,
    retry: RetryTokens,
    resets: TokenBucket,
    per_ip: Map<IpAddr, u32>,
    pending_handshakes: usize,
    epoch: Option<Instant>,
    pub(crate) last_now: Option<Instant>,
    /// Connections that closed during a `Conn` command: freed at the next
    /// endpoint call, never under a live view.
    closed_pending: Vec<u32>,
    /// Connections (slot, generation) that received datagrams filo has not
    /// processed yet, in arrival order: every datagram of a receive batch
    /// goes to quiche first, and each connection is processed once, by the
    /// next output call or command (see `flush_recv`).
    pub(crate) recv_pending: Vec<(u32, u32)>,
    /// When the oldest of `recv_pending` arrived (what `poll_timeout`
    /// answers while processing waits).
    pub(crate) recv_pending_since: Option<Instant>,
    stats: EndpointStats,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("role", &self.cfg.role)
            .field("connections", &self.live)
            .field("events", &self.events.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// An endpoint with this configuration (its role comes from the config).
    pub fn new(cfg: Config) -> Self {
        let l = &cfg.limits;
        let conns = l.max_connections.min(1024);
        let retry = RetryTokens::new(cfg.keys.retry, l.retry_token_lifetime.as_millis() as u64);
        let resets = TokenBucket::new(l.stateless_reset_rate, l.stateless_reset_burst);
        Self {
            slots: Vec::with_capacity(conns),
            free: Vec::with_capacity(conns),
            live: 0,
            routes: CidTable::with_capacity(conns * 4),
            reset_tokens: map_with_capacity(if cfg.role == Role::Client { conns } else { 0 }),
            timers: TimerQueue::with_capacity(conns * 2),
            send_queue: VecDeque::with_capacity(conns),
            events: VecDeque::with_capacity(1024),
            stateless: StatelessQueue::new(),
            retry,
            resets,
            per_ip: map_with_capacity(conns),
            pending_handshakes: 0,
            epoch: None,
            last_now: None,
            closed_pending: Vec::with_capacity(16),
            recv_pending: Vec::with_capacity(64),
            recv_pending_since: None,
            stats: EndpointStats::default(),
            cfg,
        }
    }

    /// Ends the endpoint and gives its configuration back (TLS context
    /// included), e.g. to build a fresh endpoint without rebuilding TLS.
    /// Live connections are dropped without a word to their peers.
    pub fn into_config(self) -> Config {
        self.cfg
    }

    /// Whether this endpoint accepts or makes connections.
    pub fn role(&self) -> Role {
        self.cfg.role
    }

    /// The configuration's limits.
    pub fn limits(&self) -> &crate::config::Limits {
        &self.cfg.limits
    }

    /// Connections currently held (any state).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// Endpoint counters, with connections by state counted now.
    pub fn stats(&self) -> EndpointStats {
        let mut s = self.stats;
        s.handshaking = 0;
        s.established = 0;
        s.closing = 0;
        for c in self.slots.iter().filter_map(|s| s.conn.as_deref()) {
            if c.is_closing() {
                s.closing += 1;
            } else if c.established {
                s.established += 1;
            } else {
                s.handshaking += 1;
            }
        }
        s
    }

    /// A command view of a live connection; `None` once it has closed.
    pub fn conn(&mut self, handle: ConnHandle) -> Option<Conn<'_>> {
        self.flush_recv_now();
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation || slot.conn.is_none() {
            return None;
        }
        Some(Conn::new(self, handle.index))
    }

    /// Handles of every live connection.
    pub fn handles(&self) -> impl Iterator<Item = ConnHandle> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.conn.as_ref().map(|_| ConnHandle {
                index: i as u32,
                generation: s.generation,
            })
        })
    }

    /// Opens a client connection from `local` to `remote`, verifying the
    /// server's certificate for `server_name` (also sent as SNI).
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        server_name: &str,
        options: ConnectOptions,
    ) -> Result<ConnHandle, ConnectError> {
        let _scope = Scope::filo();
        self.note_now(now);
        self.flush_recv(now);
        if self.cfg.role != Role::Client {
            return Err(ConnectError::NotAClient);
        }
        if self.live >= self.cfg.limits.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        if server_name.is_empty() || server_name.len() > 255 {
            return Err(ConnectError::InvalidServerName);
        }
        let key = self.fresh_cid().ok_or(ConnectError::CidExhausted)?;
        let scid = quiche::ConnectionId::from_ref(key.as_slice());
        let q = q!(quiche::connect(
            Some(server_name),
            &scid,
            local,
            remote,
            &mut self.cfg.quic
        ))
        .map_err(|e| ConnectError::Transport(TransportError(e)))?;
        let slot = self.insert(q, local, remote, now);
        let conn = self
            .conn_mut(slot)
            .ok_or(ConnectError::TooManyConnections)?;
        conn.keep_alive = options.keep_alive.or(conn.keep_alive);
        conn.routed.push(key);
        self.routes.insert(key, slot);
        let handle = self.handle_of(slot);
        self.stats.connections_opened += 1;
        self.settle(slot);
        Ok(handle)
    }

    /// Handles expired timers: only connections whose deadline passed are
    /// touched.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _scope = Scope::filo();
        self.note_now(now);
        self.flush_recv(now);
        // Entries re-pushed while we work (a deadline quiche's own clock
        // has not reached yet) wait for the next call.
        let mut budget = self.timers.len();
        while budget > 0 {
            budget -= 1;
            let Some(e) = self.timers.pop_due(now) else {
                break;
            };
            let Some(slot) = self.slots.get_mut(e.slot as usize) else {
                continue;
            };
            if slot.generation != e.generation {
                continue;
            }
            let Some(conn) = slot.conn.as_deref_mut() else {
                continue;
            };
            if conn.scheduled != Some(e.at) {
                continue; // stale: an earlier entry superseded it
            }
            conn.scheduled = None;
            if conn.deadline().is_some_and(|d| d <= now) {
                self.with_ctx(e.slot, |c, ctx| c.on_timeout(now, ctx));
            }
            self.settle(e.slot);
        }
        self.compact_timers();
    }

    /// The next instant `handle_timeout` must be called (absolute). Re-read
    /// it after every drain: any input or command can move it. (Received
    /// datagrams not yet processed, because no output was polled since,
    /// make it the time they arrived.)
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timer = self.timers.next_deadline();
        match (self.recv_pending_since, timer) {
            (Some(r), Some(t)) => Some(r.min(t)),
            (r, t) => r.or(t),
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.flush_recv_now();
        if !self.closed_pending.is_empty() {
            self.finalize_pending();
        }
        self.events.pop_front()
    }

    /// Writes the next datagram or GSO batch into `buf` (make it at least
    /// `max_segments` x `max_udp_payload` bytes for full batches) and
    /// describes it. `max_segments = 1` turns batching off.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        max_segments: usize,
    ) -> Option<Transmit> {
        let _scope = Scope::filo();
        self.note_now(now);
        self.flush_recv(now);
        if let Some((from, to, len)) = self.stateless.pop_into(buf) {
            self.stats.datagrams_out += 1;
            self.stats.bytes_out += len as u64;
            return Some(Transmit {
                to,
                from,
                len,
                segment_size: len,
                release: None,
            });
        }
        let horizon = self.cfg.limits.pacing_horizon;
        while let Some(&slot) = self.send_queue.front() {
            let Some(conn) = self.slots[slot as usize].conn.as_deref_mut() else {
                self.send_queue.pop_front();
                continue;
            };
            if !conn.in_send_queue {
                self.send_queue.pop_front();
                continue;
            }
            let batch = conn.build_batch(now, buf, max_segments, horizon);
            self.send_queue.pop_front();
            match batch {
                Batch::Sent { transmit, more } => {
                    if more {
                        // Round-robin: others get a turn before its next batch.
                        self.send_queue.push_back(slot);
                    } else {
                        conn.in_send_queue = false;
                    }
                    self.stats.datagrams_out += transmit.segments() as u64;
                    self.stats.bytes_out += transmit.len as u64;
                    self.settle_after_send(slot);
                    return Some(transmit);
                }
                Batch::Empty => {
                    conn.in_send_queue = false;
                    self.settle_after_send(slot);
                }
                Batch::Paced(at) => {
                    conn.in_send_queue = false;
                    conn.timers.pace = Some(at);
                    self.settle_after_send(slot);
                }
            }
        }
        None
    }

    // ---- internals ----

    fn note_now(&mut self, now: Instant) {
        self.epoch.get_or_insert(now);
        self.last_now = Some(now);
        self.finalize_pending();
    }

    /// Frees connections that closed during a `Conn` command.
    fn finalize_pending(&mut self) {
        while let Some(slot) = self.closed_pending.pop() {
            if self.conn_mut(slot).is_some_and(|c| c.is_closed()) {
                self.finalize(slot);
            }
        }
    }

    /// Milliseconds since the endpoint's first input (Retry token clock).
    pub(crate) fn millis(&self, now: Instant) -> u64 {
        self.epoch
            .map_or(0, |e| now.saturating_duration_since(e).as_millis() as u64)
    }

    /// Client: the connection whose server announced this stateless reset
    /// token, if the datagram ends with one.
    pub(crate) fn reset_target(&self, datagram: &[u8]) -> Option<u32> {
        if datagram.len() < crate::packet::MIN_RESET_LEN || self.reset_tokens.is_empty() {
            return None;
        }
        let mut token = [0u8; 16];
        token.copy_from_slice(&datagram[datagram.len() - 16..]);
        self.reset_tokens.get(&token).copied()
    }

    pub(crate) fn conn_mut(&mut self, slot: u32) -> Option<&mut Connection> {
        self.slots.get_mut(slot as usize)?.conn.as_deref_mut()
    }

    pub(crate) fn handle_of(&self, slot: u32) -> ConnHandle {
        ConnHandle {
            index: slot,
            generation: self.slots.get(slot as usize).map_or(0, |s| s.generation),
        }
    }

    /// A fresh CID from the generator that routes nowhere yet.
    /// A fresh CID from the generator that routes nowhere yet; `None` if
    /// the generator keeps producing routed ones (a broken generator).
    pub(crate) fn fresh_cid(&mut self) -> Option<CidKey> {
        let len = self.cfg.cid_gen.cid_len();
        let mut buf = [0u8; MAX_CID_LEN];
        for _ in 0..16 {
            self.cfg.cid_gen.generate(&mut buf[..len]);
            if let Some(key) = CidKey::new(&buf[..len])
                && self.routes.get(key.as_slice()).is_none()
            {
                return Some(key);
            }
        }
        None
    }

    /// Stores a new connection; returns its slot.
    pub(crate) fn insert(
        &mut self,
        q: quiche::Connection,
        local: SocketAddr,
        peer: SocketAddr,
        now: Instant,
    ) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    conn: None,
                    pending: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let handle = self.handle_of(slot);
        let conn = Connection::new(q, handle, local, peer, now, &self.cfg.limits);
        let s = &mut self.slots[slot as usize];
        s.conn = Some(Box::new(conn));
        s.pending = false;
        self.live += 1;
        slot
    }

    /// Runs `f` on a connection with the endpoint-wide context.
    pub(crate) fn with_ctx<R>(
        &mut self,
        slot: u32,
        f: impl FnOnce(&mut Connection, &mut Ctx<'_>) -> R,
    ) -> Option<R> {
        let Endpoint {
            cfg,
            slots,
            routes,
            events,
            reset_tokens,
            ..
        } = self;
        let conn = slots.get_mut(slot as usize)?.conn.as_deref_mut()?;
        let mut ctx = Ctx {
            events,
            routes,
            cid_gen: &mut *cfg.cid_gen,
            keys: &cfg.keys,
            limits: &cfg.limits,
            h3_config: &cfg.h3,
            reset_tokens,
        };
        Some(f(conn, &mut ctx))
    }

    /// After any work on a connection: free it if it closed, otherwise
    /// reschedule its timer and queue it for sending.
    pub(crate) fn settle(&mut self, slot: u32) {
        self.settle_inner(slot, true, true);
    }

    /// `settle` for a `Conn` command: a connection that closed is freed at
    /// the next endpoint call, so the view stays valid.
    pub(crate) fn settle_command(&mut self, slot: u32) {
        self.settle_inner(slot, true, false);
    }

    fn settle_after_send(&mut self, slot: u32) {
        self.settle_inner(slot, false, true);
    }

    fn settle_inner(&mut self, slot: u32, queue: bool, free_now: bool) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let generation = s.generation;
        let Some(conn) = s.conn.as_deref_mut() else {
            return;
        };
        if conn.is_closed() {
            if free_now {
                self.finalize(slot);
            } else if !self.closed_pending.contains(&slot) {
                self.closed_pending.push(slot);
            }
            return;
        }
        if s.pending && conn.established {
            s.pending = false;
            self.pending_handshakes = self.pending_handshakes.saturating_sub(1);
        }
        let deadline = conn.deadline();
        self.timers
            .schedule(&mut conn.scheduled, slot, generation, deadline);
        if queue && !conn.in_send_queue {
            conn.in_send_queue = true;
            self.send_queue.push_back(slot);
        }
    }

    /// Frees a closed connection: unroutes its CIDs, releases its caps and
    /// reports `Closed` (if the application ever saw it).
    fn finalize(&mut self, slot: u32) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        let Some(conn) = s.conn.take() else { return };
        let handle = ConnHandle {
            index: slot,
            generation: s.generation,
        };
        s.generation = s.generation.wrapping_add(1);
        if std::mem::take(&mut s.pending) {
            self.pending_handshakes = self.pending_handshakes.saturating_sub(1);
        }
        for key in &conn.routed {
            self.routes.remove(key, slot);
        }
        if let Some(key) = &conn.client_dcid {
            self.routes.remove(key, slot);
        }
        if let Some(token) = &conn.peer_reset_token
            && self.reset_tokens.get(token) == Some(&slot)
        {
            self.reset_tokens.remove(token);
        }
        if conn.is_server {
            let ip = conn.origin.ip();
            if let Some(n) = self.per_ip.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_ip.remove(&ip);
                }
            }
        }
        self.live -= 1;
        self.free.push(slot);
        self.stats.connections_closed += 1;
        if conn.surfaced {
            self.events.push_back(Event {
                conn: handle,
                kind: EventKind::Closed {
                    reason: conn.close_reason(),
                },
            });
        }
    }

    fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.live + 64 {
            return;
        }
        let slots = &self.slots;
        self.timers.compact(|e| {
            slots.get(e.slot as usize).is_some_and(|s| {
                s.generation == e.generation
                    && s.conn.as_ref().is_some_and(|c| c.scheduled == Some(e.at))
            })
        });
    }
}
