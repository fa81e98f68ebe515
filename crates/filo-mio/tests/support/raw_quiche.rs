//! A plain quiche HTTP/3 server and client on mio: quiche's own API and
//! nothing of filo-core (only `filo_core::boring`, the same `boring` crate
//! quiche links, re-exported because filo-mio has no direct `boring`
//! dependency). It is the interop peer of filo-mio's tests and the
//! raw-quiche ceiling its benchmarks compare with.
//!
//! Server routes: `GET /bytes/N` answers 200 with `content-length: N` and N
//! bytes of `filo_sim::fill_pattern(seed, ..)` (seed from `x-seed`, default
//! 0), streamed as flow and congestion control allow; anything else
//! answers 404 with no body.
//!
//! Included with `#[path = "support/raw_quiche.rs"] mod raw_quiche;`, so not
//! every includer uses every item.

#![allow(dead_code)]
// Callers of quiche read the clock (quiche does too, underneath).
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::boring;
use filo_core::boring::sha::Sha256;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Registry, Token};
use quiche::h3::NameValue;

/// Length of the connection IDs the server picks (and routes by).
const CID_LEN: usize = 16;
/// Largest UDP payload sent (as filo-core's default).
const MAX_SEND_PAYLOAD: usize = 1350;
/// Receive buffer: the largest UDP payload.
const RECV_BUF: usize = 65_535;
/// Body bytes generated per `send_body` call at most.
const CHUNK: usize = 64 * 1024;
/// H3_NO_ERROR.
const H3_NO_ERROR: u64 = 0x100;
/// The byte `/stream-bytes/N` answers with (as tokio-quiche's example does).
const STREAM_BYTE: u8 = 0x57;
/// H3_INTERNAL_ERROR.
const H3_INTERNAL_ERROR: u64 = 0x102;

/// Applies the transport settings both peers use: ALPN h3, 10 MiB
/// connection and 1 MiB stream windows, 100 bidirectional streams, 30 s idle
/// timeout, 1350-byte datagrams.
pub(crate) fn configure(config: &mut quiche::Config) {
    config
        .set_application_protos(quiche::h3::APPLICATION_PROTOCOL)
        .expect("h3 ALPN");
    config.set_max_idle_timeout(30_000);
    config.set_max_recv_udp_payload_size(RECV_BUF);
    config.set_max_send_udp_payload_size(MAX_SEND_PAYLOAD);
    config.set_initial_max_data(10 << 20);
    config.set_initial_max_stream_data_bidi_local(1 << 20);
    config.set_initial_max_stream_data_bidi_remote(1 << 20);
    config.set_initial_max_stream_data_uni(1 << 20);
    config.set_initial_max_streams_bidi(100);
    config.set_initial_max_streams_uni(100);
    config.set_disable_active_migration(true);
}

/// A server configuration presenting the identity in `tls` (e.g.
/// `TestPki::server_context()`).
pub(crate) fn server_config(tls: boring::ssl::SslContextBuilder) -> quiche::Config {
    let mut config = quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, tls)
        .expect("quiche config from boring context");
    configure(&mut config);
    config
}

/// Counters of a [`RawServer`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RawStats {
    /// Connections accepted.
    pub(crate) accepted: u64,
    /// Connections closed and collected.
    pub(crate) closed: u64,
    /// Responses sent completely (FIN handed to quiche), 404s included.
    pub(crate) served: u64,
    /// Of which 404.
    pub(crate) not_found: u64,
    /// Datagrams received.
    pub(crate) datagrams_in: u64,
    /// Datagrams sent.
    pub(crate) datagrams_out: u64,
    /// Datagrams dropped (unparsable, unknown connection, short Initial,
    /// refused by quiche).
    pub(crate) dropped: u64,
    /// Version negotiation packets sent.
    pub(crate) version_negotiations: u64,
    /// Sends that hit `WouldBlock` (the packet was kept).
    pub(crate) would_block: u64,
    /// Datagrams lost to send errors other than `WouldBlock`.
    pub(crate) send_errors: u64,
}

/// A response being streamed.
struct Response {
    stream: u64,
    /// The head, while quiche refuses it (`StreamBlocked`).
    head: Option<Vec<quiche::h3::Header>>,
    seed: u64,
    /// `/stream-bytes/N`: the body is `0x57` bytes, not the seeded pattern.
    constant: bool,
    len: u64,
    sent: u64,
    not_found: bool,
}

/// One server connection.
struct Conn {
    quic: quiche::Connection,
    h3: Option<quiche::h3::Connection>,
    responses: Vec<Response>,
}

/// A datagram `send_to` refused with `WouldBlock`: it stays in the output
/// buffer and goes out before anything else.
#[derive(Clone, Copy, Debug)]
struct Held {
    len: usize,
    to: SocketAddr,
}

/// The raw quiche HTTP/3 server: one mio UDP socket, connections routed by
/// DCID in a map.
pub(crate) struct RawServer {
    socket: UdpSocket,
    local: SocketAddr,
    config: quiche::Config,
    h3_config: quiche::h3::Config,
    /// HMAC key deriving a new connection's SCID from the client's original
    /// DCID, so a retransmitted Initial finds the same connection.
    cid_key: [u8; 32],
    conns: HashMap<[u8; CID_LEN], Conn>,
    rx: Vec<u8>,
    tx: Vec<u8>,
    held: Option<Held>,
    chunk: Vec<u8>,
    stats: RawStats,
}

impl RawServer {
    /// Binds at `addr`, registers the socket under `token`, and serves with
    /// the identity in `tls`.
    pub(crate) fn new(
        registry: &Registry,
        addr: SocketAddr,
        token: Token,
        tls: boring::ssl::SslContextBuilder,
    ) -> io::Result<Self> {
        Self::with_config(registry, addr, token, server_config(tls))
    }

    /// Binds at `addr`, registers the socket under `token`, and serves with
    /// a ready quiche configuration (identity and transport settings; see
    /// [`configure`]).
    pub(crate) fn with_config(
        registry: &Registry,
        addr: SocketAddr,
        token: Token,
        config: quiche::Config,
    ) -> io::Result<Self> {
        let mut socket = UdpSocket::bind(addr)?;
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        let local = socket.local_addr()?;
        let mut cid_key = [0u8; 32];
        boring::rand::rand_bytes(&mut cid_key).map_err(io::Error::other)?;
        Ok(Self {
            socket,
            local,
            config,
            h3_config: quiche::h3::Config::new().map_err(io::Error::other)?,
            cid_key,
            conns: HashMap::new(),
            rx: vec![0; RECV_BUF],
            tx: vec![0; MAX_SEND_PAYLOAD],
            held: None,
            chunk: vec![0; CHUNK],
            stats: RawStats::default(),
        })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Counters.
    pub(crate) fn stats(&self) -> RawStats {
        self.stats
    }

    /// Responses sent completely.
    pub(crate) fn served(&self) -> u64 {
        self.stats.served
    }

    /// Live connections.
    pub(crate) fn connections(&self) -> usize {
        self.conns.len()
    }

    /// Deregisters the socket.
    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(&mut self.socket)
    }

    /// Reads every waiting datagram (until `WouldBlock`) into its
    /// connection and queues responses to the requests that arrived (call
    /// [`send_all`](Self::send_all) next). quiche reads its own clock;
    /// `_now` keeps the call shaped like filo-mio's driver.
    pub(crate) fn handle_readable(&mut self, _now: Instant) {
        let mut errors = 0;
        loop {
            let (len, from) = match self.socket.recv_from(&mut self.rx) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Errors queued on the socket (ICMP) surface once each: read
                // on, but never spin on a broken socket.
                Err(_) if errors < 16 => {
                    errors += 1;
                    continue;
                }
                Err(_) => return,
            };
            self.stats.datagrams_in += 1;
            self.handle_datagram(len, from);
        }
    }

    fn handle_datagram(&mut self, len: usize, from: SocketAddr) {
        let Some(key) = self.route(len, from) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        let info = quiche::RecvInfo {
            from,
            to: self.local,
        };
        if conn.quic.recv(&mut self.rx[..len], info).is_err() {
            self.stats.dropped += 1;
            return;
        }
        if conn.h3.is_none() && (conn.quic.is_established() || conn.quic.is_in_early_data()) {
            match quiche::h3::Connection::with_transport(&mut conn.quic, &self.h3_config) {
                Ok(h3) => conn.h3 = Some(h3),
                Err(_) => {
                    let _ = conn.quic.close(true, H3_INTERNAL_ERROR, b"h3 setup");
                    return;
                }
            }
        }
        Self::poll_h3(conn, &mut self.chunk);
    }

    /// Finds (or creates) the connection of the datagram in `rx[..len]`;
    /// answers version negotiation.
    fn route(&mut self, len: usize, from: SocketAddr) -> Option<[u8; CID_LEN]> {
        let hdr = match quiche::Header::from_slice(&mut self.rx[..len], CID_LEN) {
            Ok(h) => h,
            Err(_) => {
                self.stats.dropped += 1;
                return None;
            }
        };
        if let Ok(key) = <[u8; CID_LEN]>::try_from(&hdr.dcid[..])
            && self.conns.contains_key(&key)
        {
            return Some(key);
        }
        // Not one of our CIDs: a client's first flight, keyed by the HMAC of
        // its original DCID (the SCID we chose for it).
        let mac = boring::hash::hmac_sha256(&self.cid_key, &hdr.dcid).expect("hmac");
        let mut key = [0u8; CID_LEN];
        key.copy_from_slice(&mac[..CID_LEN]);
        if self.conns.contains_key(&key) {
            return Some(key);
        }
        if hdr.ty == quiche::Type::VersionNegotiation {
            self.stats.dropped += 1;
            return None;
        }
        if !quiche::version_is_supported(hdr.version) {
            // Only for datagrams that could carry a client Initial (RFC 9000
            // §6.1), and best effort: a send that would block is dropped.
            // (`tx` may hold a refused datagram: then no VN.)
            if len >= 1200
                && self.held.is_none()
                && let Ok(n) = quiche::negotiate_version(&hdr.scid, &hdr.dcid, &mut self.tx)
                && self.socket.send_to(&self.tx[..n], from).is_ok()
            {
                self.stats.version_negotiations += 1;
                self.stats.datagrams_out += 1;
            } else {
                self.stats.dropped += 1;
            }
            return None;
        }
        if hdr.ty != quiche::Type::Initial || len < 1200 {
            self.stats.dropped += 1;
            return None;
        }
        drop(hdr);
        let scid = quiche::ConnectionId::from_ref(&key);
        match quiche::accept(&scid, None, self.local, from, &mut self.config) {
            Ok(quic) => {
                self.stats.accepted += 1;
                self.conns.insert(
                    key,
                    Conn {
                        quic,
                        h3: None,
                        responses: Vec::new(),
                    },
                );
                Some(key)
            }
            Err(_) => {
                self.stats.dropped += 1;
                None
            }
        }
    }

    /// Handles the connection's HTTP/3 events: new requests get a response
    /// queued, streamed by [`send_all`](Self::send_all) (once per turn, not
    /// per datagram).
    fn poll_h3(conn: &mut Conn, chunk: &mut [u8]) {
        let Some(h3) = conn.h3.as_mut() else {
            return;
        };
        loop {
            match h3.poll(&mut conn.quic) {
                Ok((stream, quiche::h3::Event::Headers { list, .. })) => {
                    conn.responses.push(response_for(stream, &list));
                }
                Ok((stream, quiche::h3::Event::Data)) => {
                    // Request bodies are not used: read and drop them.
                    while matches!(h3.recv_body(&mut conn.quic, stream, chunk), Ok(n) if n > 0) {}
                }
                Ok(_) => {}
                Err(quiche::h3::Error::Done) => break,
                Err(_) => {
                    // quiche closes the connection on HTTP/3 connection
                    // errors; make sure of it.
                    let _ = conn.quic.close(true, H3_INTERNAL_ERROR, b"");
                    break;
                }
            }
        }
    }

    /// Writes response heads and bodies as far as quiche takes them (the
    /// stream's capacity is checked on every turn, so nothing waits for a
    /// writability notification).
    fn pump(conn: &mut Conn, chunk: &mut [u8], stats: &mut RawStats) {
        let Conn {
            quic,
            h3,
            responses,
        } = conn;
        let Some(h3) = h3.as_mut() else {
            return;
        };
        responses.retain_mut(|r| {
            if let Some(head) = &r.head {
                match h3.send_response(quic, r.stream, head, r.len == 0) {
                    Ok(()) => r.head = None,
                    Err(quiche::h3::Error::StreamBlocked) => return true,
                    // The stream is gone (reset, stopped, connection closing).
                    Err(_) => return false,
                }
                if r.len == 0 {
                    stats.served += 1;
                    stats.not_found += u64::from(r.not_found);
                    return false;
                }
            }
            while r.sent < r.len {
                let cap = match quic.stream_capacity(r.stream) {
                    Ok(c) => c,
                    Err(_) => return false,
                };
                if cap == 0 {
                    return true;
                }
                let n = ((r.len - r.sent) as usize).min(cap).min(chunk.len());
                if r.constant {
                    chunk[..n].fill(STREAM_BYTE);
                } else {
                    filo_sim::fill_pattern(r.seed, r.sent, &mut chunk[..n]);
                }
                let fin = r.sent + n as u64 == r.len;
                match h3.send_body(quic, r.stream, &chunk[..n], fin) {
                    Ok(w) => {
                        r.sent += w as u64;
                        if w < n {
                            return true;
                        }
                    }
                    Err(quiche::h3::Error::Done) => return true,
                    Err(_) => return false,
                }
            }
            stats.served += 1;
            false
        });
    }

    /// Sends every connection's packets with `send_to`, one datagram each,
    /// until quiche has nothing more or the socket answers `WouldBlock`
    /// (then the packet is kept and goes out first next time). Streams
    /// responses first, and collects closed connections.
    pub(crate) fn send_all(&mut self) {
        if !send_held(&self.socket, &self.tx, &mut self.held, &mut self.stats) {
            return;
        }
        for conn in self.conns.values_mut() {
            Self::pump(conn, &mut self.chunk, &mut self.stats);
            if !send_conn(
                &self.socket,
                &mut conn.quic,
                &mut self.tx,
                &mut self.held,
                &mut self.stats,
            ) {
                return;
            }
        }
        self.collect();
    }

    /// How long until the earliest connection timer.
    pub(crate) fn timeout(&self) -> Option<Duration> {
        self.conns.values().filter_map(|c| c.quic.timeout()).min()
    }

    /// Fires the connection timers that are due (call [`send_all`]
    /// afterwards).
    ///
    /// [`send_all`]: Self::send_all
    pub(crate) fn on_timeout(&mut self) {
        let now = Instant::now();
        for c in self.conns.values_mut() {
            if c.quic.timeout_instant().is_some_and(|t| t <= now) {
                c.quic.on_timeout();
            }
        }
        self.collect();
    }

    fn collect(&mut self) {
        let before = self.conns.len();
        self.conns.retain(|_, c| !c.quic.is_closed());
        self.stats.closed += (before - self.conns.len()) as u64;
    }
}

/// The response to a request head: `/bytes/N` or 404.
fn response_for(stream: u64, list: &[quiche::h3::Header]) -> Response {
    let mut path: &[u8] = b"";
    let mut method: &[u8] = b"";
    let mut seed = 0u64;
    for h in list {
        match h.name() {
            b":path" => path = h.value(),
            b":method" => method = h.value(),
            b"x-seed" => {
                seed = std::str::from_utf8(h.value())
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
    }
    let constant = path.starts_with(b"/stream-bytes/");
    let len = (method == b"GET")
        .then(|| {
            path.strip_prefix(b"/bytes/")
                .or_else(|| path.strip_prefix(b"/stream-bytes/"))
        })
        .flatten()
        .and_then(|n| std::str::from_utf8(n).ok()?.parse::<u64>().ok());
    let not_found = len.is_none();
    let (status, len): (&[u8], u64) = match len {
        Some(n) => (b"200", n),
        None => (b"404", 0),
    };
    let head = vec![
        quiche::h3::Header::new(b":status", status),
        quiche::h3::Header::new(b"content-length", len.to_string().as_bytes()),
    ];
    Response {
        stream,
        head: Some(head),
        seed,
        constant,
        len,
        sent: 0,
        not_found,
    }
}

/// Sends the held datagram, if any; false if it is still refused.
fn send_held(socket: &UdpSocket, tx: &[u8], held: &mut Option<Held>, stats: &mut RawStats) -> bool {
    let Some(h) = *held else { return true };
    match socket.send_to(&tx[..h.len], h.to) {
        Ok(_) => stats.datagrams_out += 1,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            stats.would_block += 1;
            return false;
        }
        Err(_) => stats.send_errors += 1,
    }
    *held = None;
    true
}

/// Sends `quic`'s packets until quiche has none (true) or the socket would
/// block (false; the packet is held in `tx`).
fn send_conn(
    socket: &UdpSocket,
    quic: &mut quiche::Connection,
    tx: &mut [u8],
    held: &mut Option<Held>,
    stats: &mut RawStats,
) -> bool {
    loop {
        let (len, info) = match quic.send(tx) {
            Ok(v) => v,
            Err(quiche::Error::Done) => return true,
            Err(_) => {
                let _ = quic.close(false, 0x1, b"send failed");
                return true;
            }
        };
        match socket.send_to(&tx[..len], info.to) {
            Ok(_) => stats.datagrams_out += 1,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                stats.would_block += 1;
                *held = Some(Held { len, to: info.to });
                return false;
            }
            Err(_) => stats.send_errors += 1,
        }
    }
}

/// One response as [`raw_fetch`] saw it: status (0 if no response head
/// arrived), body length, body SHA-256.
pub(crate) type Fetched = (u16, u64, [u8; 32]);

/// Fetches `paths` (GET, seed 0) from `server` with a raw quiche client on
/// its own mio loop bound at `local`; see [`raw_fetch_seeded`].
pub(crate) fn raw_fetch(
    local: SocketAddr,
    server: SocketAddr,
    paths: &[&str],
    limit: Duration,
) -> Vec<Fetched> {
    let reqs: Vec<(&str, u64)> = paths.iter().map(|p| (*p, 0)).collect();
    raw_fetch_seeded(local, server, &reqs, limit)
}

/// Per-request state of the raw client.
struct Fetch {
    status: u16,
    len: u64,
    hash: Option<Sha256>,
    sha256: [u8; 32],
    done: bool,
}

/// Fetches each `(path, seed)` (GET, `x-seed` sent when the seed is not 0)
/// over one connection to `server` (certificate not verified), as many at
/// once as the server's stream limit allows, and returns one entry per
/// request in order. Gives up after `limit`: unfinished requests keep what
/// arrived (status 0 if no head). Closes the connection with H3_NO_ERROR
/// at the end.
pub(crate) fn raw_fetch_seeded(
    local: SocketAddr,
    server: SocketAddr,
    reqs: &[(&str, u64)],
    limit: Duration,
) -> Vec<Fetched> {
    let deadline = Instant::now() + limit;
    let mut poll = Poll::new().expect("mio poll");
    let mut events = Events::with_capacity(64);
    let mut socket = UdpSocket::bind(local).expect("bind client socket");
    poll.registry()
        .register(
            &mut socket,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .expect("register client socket");
    let local = socket.local_addr().expect("client local addr");
    let mut config = quiche::Config::new(quiche::PROTOCOL_VERSION).expect("client config");
    configure(&mut config);
    config.verify_peer(false);
    let mut scid = [0u8; CID_LEN];
    boring::rand::rand_bytes(&mut scid).expect("random scid");
    let mut quic = quiche::connect(
        Some("localhost"),
        &quiche::ConnectionId::from_ref(&scid),
        local,
        server,
        &mut config,
    )
    .expect("quiche connect");
    let h3_config = quiche::h3::Config::new().expect("h3 config");
    let mut h3: Option<quiche::h3::Connection> = None;

    let mut fetches: Vec<Fetch> = reqs
        .iter()
        .map(|_| Fetch {
            status: 0,
            len: 0,
            hash: Some(Sha256::new()),
            sha256: [0; 32],
            done: false,
        })
        .collect();
    let mut by_stream: HashMap<u64, usize> = HashMap::new();
    let mut next = 0;
    let mut rx = vec![0u8; RECV_BUF];
    let mut tx = vec![0u8; MAX_SEND_PAYLOAD];
    let mut body = vec![0u8; CHUNK];
    let mut held = None;
    let mut stats = RawStats::default();

    loop {
        // Requests, as stream credit allows.
        if let Some(h3) = h3.as_mut() {
            while next < reqs.len() {
                let (path, seed) = reqs[next];
                let seed_s = seed.to_string();
                let mut head = vec![
                    quiche::h3::HeaderRef::new(b":method", b"GET"),
                    quiche::h3::HeaderRef::new(b":scheme", b"https"),
                    quiche::h3::HeaderRef::new(b":authority", b"localhost"),
                    quiche::h3::HeaderRef::new(b":path", path.as_bytes()),
                ];
                if seed != 0 {
                    head.push(quiche::h3::HeaderRef::new(b"x-seed", seed_s.as_bytes()));
                }
                match h3.send_request(&mut quic, &head, true) {
                    Ok(stream) => {
                        by_stream.insert(stream, next);
                        next += 1;
                    }
                    // Stream limit or no room for the head: next turn.
                    Err(_) => break,
                }
            }
        }
        if send_held(&socket, &tx, &mut held, &mut stats) {
            send_conn(&socket, &mut quic, &mut tx, &mut held, &mut stats);
        }
        let all_done = fetches.iter().all(|f| f.done);
        let now = Instant::now();
        if all_done || quic.is_closed() || now >= deadline {
            break;
        }
        let wait = quic
            .timeout()
            .map_or(deadline - now, |t| t.min(deadline - now));
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("poll: {e}"),
        }
        loop {
            let (len, from) = match socket.recv_from(&mut rx) {
                Ok(v) => v,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock, or an error: read again next turn (every turn
                // reads, whatever the events).
                Err(_) => break,
            };
            let _ = quic.recv(&mut rx[..len], quiche::RecvInfo { from, to: local });
        }
        if quic.timeout().is_some_and(|t| t.is_zero()) {
            quic.on_timeout();
        }
        if h3.is_none() && quic.is_established() {
            h3 = Some(
                quiche::h3::Connection::with_transport(&mut quic, &h3_config)
                    .expect("client h3 setup"),
            );
        }
        let Some(h3) = h3.as_mut() else { continue };
        loop {
            let (stream, ev) = match h3.poll(&mut quic) {
                Ok(v) => v,
                Err(quiche::h3::Error::Done) => break,
                Err(_) => break,
            };
            let Some(f) = by_stream.get(&stream).map(|&i| &mut fetches[i]) else {
                continue;
            };
            match ev {
                quiche::h3::Event::Headers { list, .. } => {
                    if let Some(s) = list.iter().find(|h| h.name() == b":status") {
                        f.status = std::str::from_utf8(s.value())
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                    }
                }
                quiche::h3::Event::Data => {
                    while let Ok(n) = h3.recv_body(&mut quic, stream, &mut body) {
                        if n == 0 {
                            break;
                        }
                        f.len += n as u64;
                        if let Some(h) = f.hash.as_mut() {
                            h.update(&body[..n]);
                        }
                    }
                }
                quiche::h3::Event::Finished | quiche::h3::Event::Reset(_) => {
                    f.done = true;
                    if let Some(h) = f.hash.take() {
                        f.sha256 = h.finish();
                    }
                }
                _ => {}
            }
        }
    }
    // Goodbye, so the server collects the connection now.
    if !quic.is_closed() {
        let _ = quic.close(true, H3_NO_ERROR, b"");
        if send_held(&socket, &tx, &mut held, &mut stats) {
            send_conn(&socket, &mut quic, &mut tx, &mut held, &mut stats);
        }
    }
    fetches
        .into_iter()
        .map(|mut f| {
            if let Some(h) = f.hash.take() {
                f.sha256 = h.finish();
            }
            (f.status, f.len, f.sha256)
        })
        .collect()
}
