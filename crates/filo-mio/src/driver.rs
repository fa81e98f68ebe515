//! The driver: UDP sockets registered on the user's `mio::Registry`, and a
//! filo-core `Endpoint` fed from them.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{ConnHandle, ConnectOptions, Endpoint, Event, RecvMeta, Transmit};
use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use quinn_udp::{BATCH_SIZE, UdpSockRef};

use crate::socket::Socket;

/// Bytes per receive buffer: a full GRO batch (the kernel coalesces up to
/// 64 segments, at most 64 KiB).
const RX_BUF: usize = 64 * 1024;
/// Receive buffers read per `handle_readable` by default (see
/// `Driver::set_recv_budget`).
const RECV_BUDGET: usize = 4;
/// `run`: consecutive turns that read on without polling the OS.
const MAX_SKIPPED_POLLS: u32 = 16;
/// Bytes of the transmit buffer: a full GSO batch.
const TX_BUF: usize = 64 * 1024;
/// GSO segments asked of the endpoint at most.
const MAX_SEGMENTS: usize = 64;

/// I/O counters of a [`Driver`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// `recvmmsg`/`recvmsg` calls that returned data.
    pub recv_calls: u64,
    /// Receive buffers filled (each may hold a GRO batch).
    pub recv_buffers: u64,
    /// Datagrams received (GRO segments counted one by one).
    pub datagrams_received: u64,
    /// Receive buffers holding more than one datagram (GRO at work).
    pub gro_batches: u64,
    /// `sendmsg` calls that succeeded.
    pub send_calls: u64,
    /// Datagrams sent (GSO segments counted one by one).
    pub datagrams_sent: u64,
    /// Transmits with more than one segment sent in one call (GSO).
    pub gso_batches: u64,
    /// Sends that hit `WouldBlock` (the transmit was kept).
    pub would_block: u64,
    /// GSO batches the kernel refused, resent as single datagrams.
    pub gso_fallbacks: u64,
    /// Transmits dropped on a send error other than `WouldBlock` (UDP is
    /// lossy; QUIC recovers).
    pub send_errors: u64,
    /// Receive errors other than `WouldBlock`.
    pub recv_errors: u64,
    /// Transmits whose source address matched no socket (dropped).
    pub no_socket: u64,
}

/// [`Driver::connect`] failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No socket of the remote address's family.
    #[error("no socket of the address family of {0}")]
    NoSocket(SocketAddr),
    /// The endpoint refused.
    #[error(transparent)]
    Endpoint(#[from] filo_core::ConnectError),
}

/// A transmit the socket refused with `WouldBlock`: its bytes stay in the
/// transmit buffer until it is sent, and nothing else is sent before it.
#[derive(Clone, Copy, Debug)]
struct Pending {
    socket: usize,
    transmit: Transmit,
    /// Segments already sent one by one after a GSO refusal.
    sent_segments: usize,
    /// Send one datagram per call (GSO refused).
    single: bool,
}

/// Drives a filo-core [`Endpoint`] from UDP sockets registered on a
/// `mio::Registry` the caller owns, with tokens the caller chose.
///
/// Call [`handle_event`](Self::handle_event) for readiness on the driver's
/// tokens, [`handle_timeout`](Self::handle_timeout) when
/// [`timeout`](Self::timeout) expires, handle the endpoint's events through
/// [`endpoint`](Self::endpoint), then [`flush`](Self::flush). Each readable
/// turn reads up to the receive budget
/// ([`set_recv_budget`](Self::set_recv_budget)); while datagrams are known
/// to wait, `timeout` answers zero and `handle_timeout` reads on, until
/// `WouldBlock` (edge-triggered). Nothing blocks, no thread is spawned, and
/// buffers are reused (no allocation per datagram).
pub struct Driver {
    endpoint: Endpoint,
    sockets: Vec<Socket>,
    rx: Vec<u8>,
    rx_meta: [quinn_udp::RecvMeta; BATCH_SIZE],
    tx: Vec<u8>,
    pending: Option<Pending>,
    max_segments: usize,
    /// Receive buffers read per `handle_readable` before the turn ends.
    recv_budget: usize,
    /// `run`'s scratch: sockets read in the current turn.
    turn_reads: Vec<Token>,
    stats: DriverStats,
    /// Test seam: every n-th send reports `WouldBlock` without sending.
    inject_would_block: Option<(u32, u32)>,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("endpoint", &self.endpoint)
            .field("sockets", &self.sockets)
            .field("pending", &self.pending)
            .field("max_segments", &self.max_segments)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Driver {
    /// A driver for `endpoint`, with no sockets yet.
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            endpoint,
            sockets: Vec::new(),
            rx: vec![0; RX_BUF * BATCH_SIZE],
            rx_meta: [quinn_udp::RecvMeta::default(); BATCH_SIZE],
            tx: vec![0; TX_BUF],
            pending: None,
            max_segments: MAX_SEGMENTS,
            turn_reads: Vec::with_capacity(4),
            recv_budget: RECV_BUDGET,
            stats: DriverStats::default(),
            inject_would_block: None,
        }
    }

    /// Test seam: makes every `every`-th send report `WouldBlock` without
    /// sending (loopback UDP never fills a send buffer, so tests need this
    /// to exercise the blocked path). The caller must then deliver the
    /// writable edge itself (`handle_writable`). `0` turns it off.
    #[doc(hidden)]
    pub fn inject_would_block(&mut self, every: u32) {
        self.inject_would_block = (every > 0).then_some((every, 0));
    }

    /// Whether a send is held back waiting for writability.
    pub fn is_blocked(&self) -> bool {
        self.pending.is_some()
    }

    fn injected_would_block(&mut self) -> bool {
        injected(&mut self.inject_would_block, &mut self.stats)
    }

    /// Registers `socket` under `token` (readable and writable,
    /// edge-triggered) and uses it for the endpoint's traffic. quinn-udp turns
    /// GRO and packet-info on where the platform has them.
    pub fn add_socket(
        &mut self,
        registry: &Registry,
        mut socket: UdpSocket,
        token: Token,
    ) -> io::Result<SocketAddr> {
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        let s = Socket::new(socket, token)?;
        let bound = s.bound;
        self.max_segments = self.max_segments.min(s.state.max_gso_segments().max(1));
        self.sockets.push(s);
        Ok(bound)
    }

    /// Binds a UDP socket at `addr` and adds it (see
    /// [`add_socket`](Self::add_socket)); returns the bound address.
    pub fn bind(
        &mut self,
        registry: &Registry,
        addr: SocketAddr,
        token: Token,
    ) -> io::Result<SocketAddr> {
        let socket = UdpSocket::bind(addr)?;
        self.add_socket(registry, socket, token)
    }

    /// Deregisters every socket.
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        for s in &mut self.sockets {
            registry.deregister(&mut s.io)?;
        }
        Ok(())
    }

    /// Whether `token` is one of the driver's.
    pub fn owns(&self, token: Token) -> bool {
        self.sockets.iter().any(|s| s.token == token)
    }

    /// The endpoint: events (`poll_event`) and commands (`conn`).
    pub fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// The addresses the sockets are bound to.
    pub fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.sockets.iter().map(|s| s.bound)
    }

    /// I/O counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// GSO segments per send in use (lowered when the kernel refuses GSO).
    pub fn max_segments(&self) -> usize {
        self.max_segments
    }

    /// Caps GSO segments per send; 1 turns GSO off.
    pub fn set_max_segments(&mut self, n: usize) {
        self.max_segments = n.clamp(1, MAX_SEGMENTS);
    }

    /// How many receive buffers (one datagram, or one GRO batch of a
    /// flow's datagrams) `handle_readable` reads before it returns; the rest
    /// wait for the next turn ([`timeout`](Self::timeout) answers zero and
    /// [`handle_timeout`](Self::handle_timeout) reads on).
    ///
    /// Default 4: a few datagrams are processed and answered before more are
    /// read, so a burst of handshakes from many clients is answered as it
    /// is read instead of all at the end, and peers and server work in
    /// parallel. Measured on loopback (docs/performance.md), server side,
    /// 16 `tquic_client` connections handshaking at once: reading until
    /// `WouldBlock` gave ~2,500 new connections/s, 4 gave ~3,800, 1 gave
    /// ~4,100. But 1 costs bulk transfers: one buffer of ACKs per turn made
    /// a 256 MiB download 20% slower, the sender's CPU per GB 15% higher
    /// and its peak RSS twice as high, and a receiving client as slow; from
    /// 4 up, bulk matched reading until `WouldBlock`. Small-request rates
    /// did not move measurably with the budget.
    pub fn set_recv_budget(&mut self, buffers: usize) {
        self.recv_budget = buffers.max(1);
    }

    /// Opens a client connection to `remote` from the first socket of the
    /// same address family. A wildcard-bound socket's source IP is the one
    /// the OS routes to `remote` from.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        server_name: &str,
        options: ConnectOptions,
    ) -> Result<ConnHandle, ConnectError> {
        let local = self
            .sockets
            .iter()
            .find(|s| s.bound.is_ipv4() == remote.is_ipv4())
            .map(|s| {
                if s.is_wildcard() {
                    SocketAddr::new(route_source(remote).unwrap_or(s.bound.ip()), s.bound.port())
                } else {
                    s.bound
                }
            })
            .ok_or(ConnectError::NoSocket(remote))?;
        Ok(self
            .endpoint
            .connect(now, local, remote, server_name, options)?)
    }

    /// How long the caller may block in `mio::Poll::poll` (mio rounds it up
    /// to whole milliseconds). `None`: no deadline.
    pub fn timeout(&self, now: Instant) -> Option<Duration> {
        if self.sockets.iter().any(|s| s.more_to_read.is_some()) {
            return Some(Duration::ZERO);
        }
        self.endpoint
            .poll_timeout()
            .map(|t| t.saturating_duration_since(now))
    }

    /// The absolute deadline for [`handle_timeout`](Self::handle_timeout)
    /// (already passed while datagrams left by the receive budget wait).
    pub fn next_timeout(&self) -> Option<Instant> {
        let reads = self.sockets.iter().filter_map(|s| s.more_to_read).min();
        match (reads, self.endpoint.poll_timeout()) {
            (Some(r), Some(t)) => Some(r.min(t)),
            (r, t) => r.or(t),
        }
    }

    /// Handles a readiness event for one of the driver's tokens (others are
    /// ignored): reads (up to the receive budget) when readable, resumes a
    /// blocked send when writable.
    pub fn handle_event(&mut self, event: &mio::event::Event, now: Instant) {
        if event.is_readable() {
            self.handle_readable(event.token(), now);
        }
        if event.is_writable() {
            self.handle_writable(event.token(), now);
        }
    }

    /// Reads the datagrams waiting on the socket of `token` into the
    /// endpoint: until `WouldBlock`, or until the receive budget (see
    /// [`set_recv_budget`](Self::set_recv_budget)) is spent; then the rest
    /// waits for the next turn ([`timeout`](Self::timeout) answers zero and
    /// [`handle_timeout`](Self::handle_timeout) reads on).
    pub fn handle_readable(&mut self, token: Token, now: Instant) {
        let Some(idx) = self.sockets.iter().position(|s| s.token == token) else {
            return;
        };
        let Driver {
            endpoint,
            sockets,
            rx,
            rx_meta,
            stats,
            recv_budget,
            ..
        } = self;
        let sock = &mut sockets[idx];
        sock.more_to_read = None;
        let mut budget = *recv_budget;
        loop {
            if budget == 0 {
                sock.more_to_read = Some(now);
                return;
            }
            let n = {
                let mut chunks = rx.chunks_mut(RX_BUF);
                let mut iovs: [IoSliceMut<'_>; BATCH_SIZE] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                let take = budget.min(BATCH_SIZE);
                match sock
                    .state
                    .recv(UdpSockRef::from(&sock.io), &mut iovs[..take], rx_meta)
                {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        // ICMP errors (e.g. port unreachable) surface here:
                        // nothing to do but read on.
                        stats.recv_errors += 1;
                        continue;
                    }
                }
            };
            stats.recv_calls += 1;
            budget = budget.saturating_sub(n);
            for (i, meta) in rx_meta.iter().enumerate().take(n) {
                let start = i * RX_BUF;
                let data = &mut rx[start..start + meta.len.min(RX_BUF)];
                let stride = meta.stride.max(1);
                let segments = data.len().div_ceil(stride);
                stats.recv_buffers += 1;
                stats.datagrams_received += segments as u64;
                if segments > 1 {
                    stats.gro_batches += 1;
                }
                let m = RecvMeta {
                    local: sock.local_for(meta.dst_ip),
                    peer: meta.addr,
                    segment_size: (segments > 1).then_some(stride),
                };
                endpoint.handle_datagram(now, m, data);
            }
        }
    }

    /// The socket of `token` became writable: resumes sending.
    pub fn handle_writable(&mut self, token: Token, now: Instant) {
        if self.owns(token) {
            self.flush(now);
        }
    }

    /// Fires the endpoint's timers if due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.continue_reads(now, None);
        self.fire_timers(now);
    }

    /// Reads on from sockets a budget stopped, except `skip` (read in this
    /// turn already).
    fn continue_reads(&mut self, now: Instant, skip: Option<&[Token]>) {
        for i in 0..self.sockets.len() {
            let token = self.sockets[i].token;
            if self.sockets[i].more_to_read.is_some() && !skip.is_some_and(|s| s.contains(&token)) {
                self.handle_readable(token, now);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
    }

    /// Sends everything the endpoint has to send, until it has nothing or
    /// a socket answers `WouldBlock` (then the transmit is kept, and sending
    /// resumes on writability, in order).
    pub fn flush(&mut self, now: Instant) {
        loop {
            if let Some(p) = self.pending.take()
                && let Err(p) = self.send(p)
            {
                self.pending = Some(p);
                return;
            }
            let Some(t) = self
                .endpoint
                .poll_transmit(now, &mut self.tx, self.max_segments)
            else {
                return;
            };
            // The core hands out only transmits due within its release
            // horizon (pacing); they go out at once.
            let Some(socket) = self.socket_for(t.from) else {
                self.stats.no_socket += 1;
                continue;
            };
            self.pending = Some(Pending {
                socket,
                transmit: t,
                sent_segments: 0,
                single: false,
            });
        }
    }

    fn socket_for(&self, from: SocketAddr) -> Option<usize> {
        let (idx, score) = self
            .sockets
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.send_match(from)))
            .max_by_key(|(_, score)| *score)?;
        (score > 0).then_some(idx)
    }

    /// Sends a transmit; `Err` gives it back on `WouldBlock`.
    fn send(&mut self, mut p: Pending) -> Result<(), Pending> {
        if self.injected_would_block() {
            return Err(p);
        }
        let sock = &self.sockets[p.socket];
        let t = p.transmit;
        let src_ip = sock.is_wildcard().then_some(t.from.ip());
        if !p.single {
            let segments = t.segments();
            let qt = quinn_udp::Transmit {
                destination: t.to,
                ecn: None,
                contents: &self.tx[..t.len],
                segment_size: (segments > 1).then_some(t.segment_size),
                src_ip,
            };
            match sock.state.try_send(UdpSockRef::from(&sock.io), &qt) {
                Ok(()) => {
                    self.stats.send_calls += 1;
                    self.stats.datagrams_sent += segments as u64;
                    if segments > 1 {
                        self.stats.gso_batches += 1;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.would_block += 1;
                    return Err(p);
                }
                Err(e)
                    if segments > 1
                        && matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) =>
                {
                    // EIO / EINVAL: the device refused GSO. quinn-udp lowered
                    // its own limit; resend this batch datagram by datagram.
                    self.stats.gso_fallbacks += 1;
                    self.max_segments = sock.state.max_gso_segments().max(1);
                    p.single = true;
                }
                Err(_) => {
                    self.stats.send_errors += 1;
                    return Ok(());
                }
            }
        }
        let seg = t.segment_size.max(1);
        while p.sent_segments * seg < t.len {
            let start = p.sent_segments * seg;
            let end = (start + seg).min(t.len);
            let qt = quinn_udp::Transmit {
                destination: t.to,
                ecn: None,
                contents: &self.tx[start..end],
                segment_size: None,
                src_ip,
            };
            match sock.state.try_send(UdpSockRef::from(&sock.io), &qt) {
                Ok(()) => {
                    self.stats.send_calls += 1;
                    self.stats.datagrams_sent += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.would_block += 1;
                    return Err(p);
                }
                Err(_) => self.stats.send_errors += 1,
            }
            p.sent_segments += 1;
            if p.sent_segments * seg < t.len
                && injected(&mut self.inject_would_block, &mut self.stats)
            {
                return Err(p);
            }
        }
        Ok(())
    }
}

impl Driver {
    /// A ready loop for callers without one: polls `poll`, feeds the driver,
    /// hands every endpoint event to `on_event` (which may issue commands
    /// through the endpoint), and returns once `done` says so or `poll`
    /// fails. Both closures get the application's `state`.
    ///
    /// `done` is checked after every turn. With no connection deadline
    /// pending the loop sleeps in `poll` until the next readiness event: to
    /// stop it from another thread, register a `mio::Waker` on the same
    /// `Poll` and wake it after setting whatever `done` reads.
    pub fn run<S>(
        &mut self,
        poll: &mut mio::Poll,
        state: &mut S,
        mut on_event: impl FnMut(&mut S, &mut Endpoint, Event),
        mut done: impl FnMut(&mut S, &mut Endpoint) -> bool,
    ) -> io::Result<()> {
        let mut events = mio::Events::with_capacity(256);
        let mut skipped_polls = 0;
        loop {
            self.flush(Instant::now());
            if done(state, &mut self.endpoint) {
                return Ok(());
            }
            // While datagrams left by the receive budget wait, read them
            // without an `epoll_wait` (a syscall per turn cost ~1 µs per
            // small request), but poll (zero timeout) every
            // `MAX_SKIPPED_POLLS` turns so other sockets and wakers are
            // never starved.
            if self.sockets.iter().any(|s| s.more_to_read.is_some())
                && skipped_polls < MAX_SKIPPED_POLLS
            {
                skipped_polls += 1;
                events.clear();
            } else {
                skipped_polls = 0;
                let timeout = self.timeout(Instant::now());
                match poll.poll(&mut events, timeout) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            let now = Instant::now();
            let mut read = std::mem::take(&mut self.turn_reads);
            read.clear();
            for ev in events.iter() {
                if ev.is_readable() {
                    read.push(ev.token());
                }
                self.handle_event(ev, now);
            }
            self.continue_reads(now, Some(&read));
            self.turn_reads = read;
            self.fire_timers(now);
            while let Some(ev) = self.endpoint.poll_event() {
                on_event(state, &mut self.endpoint, ev);
            }
        }
    }
}

/// The test seam's counter: true every n-th call while injection is on.
fn injected(inject: &mut Option<(u32, u32)>, stats: &mut DriverStats) -> bool {
    let Some((every, n)) = inject.as_mut() else {
        return false;
    };
    *n += 1;
    if (*n).is_multiple_of(*every) {
        stats.would_block += 1;
        return true;
    }
    false
}

/// The source IP the OS would use towards `remote` (a connected UDP socket
/// learns it without sending anything).
fn route_source(remote: SocketAddr) -> Option<std::net::IpAddr> {
    let any: SocketAddr = if remote.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any).ok()?;
    s.connect(remote).ok()?;
    Some(s.local_addr().ok()?.ip())
}
