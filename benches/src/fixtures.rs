//! In-memory fixtures for the micro-benchmarks: a server endpoint holding
//! many established connections (routing), and a request burst whose events
//! are drained on their own (event drain).

// A harness reads the clock.
#![allow(clippy::disallowed_methods)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use filo_core::{Config, ConnectOptions, Endpoint, EventKind, Limits, RecvMeta, RetryMode};
use filo_sim::{DirectPair, TestPki, test_limits};

/// Length of the CIDs filo's default generator issues.
const CID_LEN: usize = 16;
/// Size of the datagrams fed to the routing benchmark.
const ROUTE_DATAGRAM: usize = 1200;

/// A server endpoint with `n` established, idle connections, and for each
/// one a client address and a CID the server routes to it.
pub struct ManyConns {
    /// The server endpoint.
    pub server: Endpoint,
    /// The server's address.
    pub server_addr: SocketAddr,
    /// `(client address, a DCID the server routes)` per connection.
    pub peers: Vec<(SocketAddr, [u8; CID_LEN])>,
    buf: Vec<u8>,
    template: Vec<u8>,
    next: usize,
}

impl std::fmt::Debug for ManyConns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManyConns")
            .field("connections", &self.peers.len())
            .finish_non_exhaustive()
    }
}

/// Server limits that let `n` connections from one address stay open and
/// idle for the length of a benchmark.
fn roomy_limits(n: usize) -> Limits {
    let mut l = test_limits();
    l.max_connections = n + 16;
    l.max_connections_per_ip = usize::MAX;
    l.max_pending_handshakes = n + 16;
    l.retry = RetryMode::Never;
    l.idle_timeout = Duration::from_secs(3600);
    l.first_request_timeout = None;
    l
}

impl ManyConns {
    /// Connects `n` clients (in batches of 256) to a new server endpoint,
    /// then drops the clients: the server keeps `n` established
    /// connections that nothing times out during a benchmark.
    pub fn new(pki: &TestPki, n: usize) -> Self {
        let server_addr: SocketAddr = "10.0.0.2:443".parse().expect("addr");
        let mut server = Endpoint::new(
            Config::server(pki.server_tls(), roomy_limits(n)).expect("server config"),
        );
        let mut client = Endpoint::new(
            Config::client(pki.client_tls(), roomy_limits(n)).expect("client config"),
        );
        let mut buf = vec![0u8; 65536];
        let mut cids: Vec<Option<[u8; CID_LEN]>> = vec![None; n];
        let addr_of = |i: usize| {
            let ip = Ipv4Addr::new(10, 1, (i / 200) as u8, (i % 200) as u8 + 1);
            SocketAddr::new(IpAddr::V4(ip), 40_000)
        };
        let index_of = |a: SocketAddr| match a.ip() {
            IpAddr::V4(ip) => {
                let o = ip.octets();
                Some(o[2] as usize * 200 + o[3] as usize - 1)
            }
            IpAddr::V6(_) => None,
        };
        let mut connected = 0;
        for start in (0..n).step_by(256) {
            let end = (start + 256).min(n);
            for i in start..end {
                client
                    .connect(
                        Instant::now(),
                        addr_of(i),
                        server_addr,
                        "localhost",
                        ConnectOptions::default(),
                    )
                    .expect("connect");
            }
            for _ in 0..1000 {
                let now = Instant::now();
                let mut moved = false;
                while let Some(t) = client.poll_transmit(now, &mut buf, 16) {
                    moved = true;
                    // Short-header packets carry the DCID the server routes.
                    if buf[0] & 0x80 == 0
                        && let Some(i) = index_of(t.from)
                        && let Some(slot) = cids.get_mut(i)
                    {
                        let mut cid = [0u8; CID_LEN];
                        cid.copy_from_slice(&buf[1..=CID_LEN]);
                        *slot = Some(cid);
                    }
                    let meta = RecvMeta {
                        local: t.to,
                        peer: t.from,
                        segment_size: Some(t.segment_size),
                    };
                    server.handle_datagram(now, meta, &mut buf[..t.len]);
                }
                while let Some(t) = server.poll_transmit(now, &mut buf, 16) {
                    moved = true;
                    let meta = RecvMeta {
                        local: t.to,
                        peer: t.from,
                        segment_size: Some(t.segment_size),
                    };
                    client.handle_datagram(now, meta, &mut buf[..t.len]);
                }
                while let Some(ev) = client.poll_event() {
                    moved = true;
                    if matches!(ev.kind, EventKind::Connected) {
                        connected += 1;
                    }
                }
                while server.poll_event().is_some() {
                    moved = true;
                }
                for ep in [&mut client, &mut server] {
                    if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                        ep.handle_timeout(Instant::now());
                    }
                }
                if !moved && connected >= end {
                    break;
                }
            }
        }
        assert_eq!(connected, n, "not every connection was established");
        assert_eq!(server.connection_count(), n);
        let peers = cids
            .into_iter()
            .enumerate()
            .map(|(i, c)| (addr_of(i), c.expect("a short-header packet per connection")))
            .collect();
        // Garbage after the header: routed, then refused by quiche (it
        // cannot be decrypted), as a forged or corrupted packet would be.
        let mut template = vec![0u8; ROUTE_DATAGRAM];
        for (i, b) in template.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(31).wrapping_add(7);
        }
        template[0] = 0x41;
        Self {
            server,
            server_addr,
            peers,
            buf: vec![0u8; 65536],
            template,
            next: 0,
        }
    }

    /// Feeds one short-header datagram for the next connection (round
    /// robin) through `handle_datagram`, then follows the drain contract
    /// (transmits, events, timeout). The packet is routed by its DCID and
    /// refused by quiche (it does not decrypt).
    pub fn route_one(&mut self) {
        let (peer, cid) = self.peers[self.next];
        self.next = (self.next + 1) % self.peers.len();
        let now = Instant::now();
        let d = &mut self.buf[..ROUTE_DATAGRAM];
        d.copy_from_slice(&self.template);
        d[1..=CID_LEN].copy_from_slice(&cid);
        let meta = RecvMeta {
            local: self.server_addr,
            peer,
            segment_size: None,
        };
        self.server.handle_datagram(now, meta, d);
        while self.server.poll_transmit(now, &mut self.buf, 16).is_some() {}
        while self.server.poll_event().is_some() {}
        std::hint::black_box(self.server.poll_timeout());
    }

    /// Feeds one short-header datagram whose DCID no connection has (the
    /// stateless-reset path, rate-limited), then drains as
    /// [`route_one`](Self::route_one).
    pub fn route_unknown(&mut self) {
        let now = Instant::now();
        let d = &mut self.buf[..ROUTE_DATAGRAM];
        d.copy_from_slice(&self.template);
        let meta = RecvMeta {
            local: self.server_addr,
            peer: self.peers[0].0,
            segment_size: None,
        };
        self.server.handle_datagram(now, meta, d);
        while self.server.poll_transmit(now, &mut self.buf, 16).is_some() {}
        while self.server.poll_event().is_some() {}
        std::hint::black_box(self.server.poll_timeout());
    }
}

/// A connected pair for timing the server's event drain alone: each burst
/// sends `n` requests, delivers them to the server untimed, times draining
/// the server's events, then answers and completes them untimed.
#[derive(Debug)]
pub struct EventBurst {
    pair: DirectPair,
    buf: Vec<u8>,
    requests: Vec<(filo_core::ConnHandle, filo_core::StreamId)>,
}

impl EventBurst {
    /// A connected pair.
    pub fn new(pki: &TestPki) -> Self {
        Self {
            pair: DirectPair::new(pki),
            buf: vec![0u8; 65536],
            requests: Vec::with_capacity(128),
        }
    }

    /// One burst of `n` requests (at most the stream limit, 100); returns
    /// the time spent draining the server's events.
    pub fn burst(&mut self, n: usize) -> Duration {
        const REQ: [(&str, &str); 5] = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "localhost"),
            (":path", "/index.html"),
            ("user-agent", "filo-bench"),
        ];
        let p = &mut self.pair;
        let mut c = p.client.conn(p.conn).expect("client conn");
        for _ in 0..n {
            c.send_request(&REQ, true).expect("send_request");
        }
        let now = Instant::now();
        while let Some(t) = p.client.poll_transmit(now, &mut self.buf, 16) {
            let meta = RecvMeta {
                local: t.to,
                peer: t.from,
                segment_size: Some(t.segment_size),
            };
            p.server.handle_datagram(now, meta, &mut self.buf[..t.len]);
        }
        // Timed: the drain.
        let start = Instant::now();
        while let Some(ev) = p.server.poll_event() {
            if let EventKind::Request {
                stream, headers, ..
            } = ev.kind
            {
                std::hint::black_box(headers.get(b":path"));
                self.requests.push((ev.conn, stream));
            }
        }
        let drained = start.elapsed();
        assert_eq!(self.requests.len(), n, "every request surfaced");
        let done = p.finished + n as u64;
        for (conn, stream) in self.requests.drain(..) {
            let mut c = p.server.conn(conn).expect("server conn");
            c.send_response(stream, &[(":status", "204")], true)
                .expect("response");
        }
        for _ in 0..1000 {
            p.pump();
            if p.finished >= done {
                break;
            }
        }
        assert!(p.finished >= done, "responses completed");
        drained
    }
}
