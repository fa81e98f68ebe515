//! Two filo endpoints exchanging datagrams directly (no link, no apps),
//! with the smallest possible HTTP application on each side: the
//! counterpart of [`RawLoop`](crate::RawLoop) for measuring filo-core
//! itself (allocation audits, benchmarks).

// A harness is a caller of filo-core: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Instant;

use filo_core::{
    Config, ConnHandle, ConnectOptions, Endpoint, EventKind, RecvMeta, StreamError, StreamId,
};

use crate::certs::TestPki;
use crate::pair::test_limits;

const CLIENT: &str = "10.0.0.1:40000";
const CLIENT_IP: [u8; 4] = [10, 0, 0, 1];
const SERVER: &str = "10.0.0.2:443";

/// Two endpoints; the server answers every request with `body`, the client
/// reads responses and counts them.
pub struct DirectPair {
    /// The client endpoint.
    pub client: Endpoint,
    /// The server endpoint.
    pub server: Endpoint,
    /// The client's connection.
    pub conn: ConnHandle,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    /// The response body the server sends.
    pub body: Vec<u8>,
    /// `content-length` of `body`, as sent.
    content_length: String,
    /// Segments per `poll_transmit` (GSO batch size). Default 16.
    pub max_segments: usize,
    /// Server streams whose body is not fully sent: (conn, stream, offset).
    sending: Vec<(ConnHandle, StreamId, usize)>,
    connected: bool,
    /// The client port of the last connection [`handshakes`] made.
    ///
    /// [`handshakes`]: Self::handshakes
    next_port: u16,
    /// Responses the client saw finish.
    pub finished: u64,
    /// `Connected` events the client saw (one per handshake).
    pub connected_count: u64,
    /// Body bytes the client received.
    pub received: u64,
    /// Datagrams moved (GSO segments counted one by one).
    pub datagrams: u64,
}

impl std::fmt::Debug for DirectPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectPair")
            .field("finished", &self.finished)
            .field("received", &self.received)
            .field("datagrams", &self.datagrams)
            .finish_non_exhaustive()
    }
}

impl DirectPair {
    /// Connected endpoints (handshake done). The request cap is lifted so
    /// one connection serves any number of requests (steady state), and
    /// the per-address cap so [`handshakes`](Self::handshakes) can run with
    /// closed connections still draining.
    pub fn new(pki: &TestPki) -> Self {
        let mut limits = test_limits();
        limits.max_requests_per_connection = u64::MAX;
        limits.max_connections_per_ip = usize::MAX;
        let server =
            Endpoint::new(Config::server(pki.server_tls(), limits).expect("server config"));
        let mut client =
            Endpoint::new(Config::client(pki.client_tls(), test_limits()).expect("client"));
        let (c, s): (SocketAddr, SocketAddr) =
            (CLIENT.parse().expect("addr"), SERVER.parse().expect("addr"));
        let conn = client
            .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
            .expect("connect");
        let mut h = Self {
            client,
            server,
            conn,
            buf: vec![0; 65536],
            chunk: vec![0; 65536],
            body: Vec::new(),
            content_length: "0".to_owned(),
            max_segments: 16,
            sending: Vec::with_capacity(256),
            connected: false,
            next_port: 40000,
            finished: 0,
            connected_count: 0,
            received: 0,
            datagrams: 0,
        };
        for _ in 0..1000 {
            h.pump();
            if h.connected {
                break;
            }
        }
        assert!(h.connected, "handshake");
        h
    }

    /// Moves datagrams and handles events until both sides are quiet, then
    /// fires due timers.
    pub fn pump(&mut self) {
        let now = Instant::now();
        loop {
            let mut moved = false;
            while let Some(t) = self
                .client
                .poll_transmit(now, &mut self.buf, self.max_segments)
            {
                self.datagrams += t.segments() as u64;
                let meta = RecvMeta {
                    local: t.to,
                    peer: t.from,
                    segment_size: Some(t.segment_size),
                };
                self.server
                    .handle_datagram(now, meta, &mut self.buf[..t.len]);
                moved = true;
            }
            while let Some(t) = self
                .server
                .poll_transmit(now, &mut self.buf, self.max_segments)
            {
                self.datagrams += t.segments() as u64;
                let meta = RecvMeta {
                    local: t.to,
                    peer: t.from,
                    segment_size: Some(t.segment_size),
                };
                self.client
                    .handle_datagram(now, meta, &mut self.buf[..t.len]);
                moved = true;
            }
            while let Some(ev) = self.server.poll_event() {
                moved = true;
                let Some(mut c) = self.server.conn(ev.conn) else {
                    continue;
                };
                match ev.kind {
                    EventKind::Request { stream, .. } => {
                        let head = [
                            (":status", "200"),
                            ("content-length", self.content_length.as_str()),
                        ];
                        c.send_response(stream, &head, false).expect("response");
                        self.sending.push((ev.conn, stream, 0));
                    }
                    EventKind::Writable { .. } => {}
                    _ => {}
                }
            }
            let server = &mut self.server;
            let body = &self.body;
            self.sending.retain_mut(|(conn, stream, off)| {
                let Some(mut c) = server.conn(*conn) else {
                    return false;
                };
                match c.send_body(*stream, &body[*off..], true) {
                    Ok(n) => *off += n,
                    Err(StreamError::Blocked) => {}
                    Err(e) => panic!("send_body: {e}"),
                }
                *off < body.len()
            });
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                match ev.kind {
                    EventKind::Connected => {
                        self.connected = true;
                        self.connected_count += 1;
                    }
                    EventKind::Data { stream } => {
                        let mut c = self.client.conn(ev.conn).expect("conn");
                        loop {
                            let n = c.recv_body(stream, &mut self.chunk).expect("recv_body");
                            if n == 0 {
                                break;
                            }
                            self.received += n as u64;
                        }
                    }
                    EventKind::Finished { .. } => self.finished += 1,
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                ep.handle_timeout(Instant::now());
            }
        }
    }

    /// `n` GETs, `concurrency` in flight, each answered with `body`.
    pub fn requests(&mut self, n: u64, concurrency: u64) {
        const REQ: [(&str, &str); 4] = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "localhost"),
            (":path", "/"),
        ];
        if self.content_length.parse() != Ok(self.body.len()) {
            self.content_length = self.body.len().to_string();
        }
        let target = self.finished + n;
        let mut sent = self.finished;
        while self.finished < target {
            while sent < target && sent - self.finished < concurrency {
                let mut c = self.client.conn(self.conn).expect("conn");
                if c.send_request(&REQ, true).is_err() {
                    break;
                }
                sent += 1;
            }
            self.pump();
        }
    }

    /// `n` full handshakes, one after another, each on a new connection
    /// from a new client port: connect, run the handshake until the client
    /// sees `Connected` (HTTP/3 set up on both sides), then close it
    /// (H3_NO_ERROR). Closed connections drain in the background.
    pub fn handshakes(&mut self, n: u64) {
        let server: SocketAddr = SERVER.parse().expect("addr");
        for _ in 0..n {
            self.next_port = self.next_port.wrapping_add(1).max(1024);
            let local = SocketAddr::new(CLIENT_IP.into(), self.next_port);
            let target = self.connected_count + 1;
            let conn = self
                .client
                .connect(
                    Instant::now(),
                    local,
                    server,
                    "localhost",
                    ConnectOptions::default(),
                )
                .expect("connect");
            for _ in 0..1000 {
                self.pump();
                if self.connected_count >= target {
                    break;
                }
            }
            assert!(self.connected_count >= target, "handshake");
            if let Some(mut c) = self.client.conn(conn) {
                c.close(filo_core::code::H3_NO_ERROR, b"");
            }
            self.pump();
        }
    }
}
