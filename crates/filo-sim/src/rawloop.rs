//! The baseline: a minimal HTTP/3 client and server written directly
//! against `quiche::Connection` + `quiche::h3::Connection`, exchanging
//! datagrams in memory. It is the ceiling for anything built on quiche and
//! what filo's allocation and speed figures are compared with.

use std::net::SocketAddr;

use quiche::h3::NameValue;

use crate::certs::TestPki;

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:443";

/// A raw quiche client and server, connected, with HTTP/3 up.
pub struct RawLoop {
    client: quiche::Connection,
    server: quiche::Connection,
    ch3: quiche::h3::Connection,
    sh3: quiche::h3::Connection,
    caddr: SocketAddr,
    saddr: SocketAddr,
    buf: Vec<u8>,
    body: Vec<u8>,
    /// Datagrams moved so far (both directions).
    pub datagrams: u64,
}

impl std::fmt::Debug for RawLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLoop")
            .field("datagrams", &self.datagrams)
            .finish_non_exhaustive()
    }
}

impl RawLoop {
    /// Connects a client and a server and sets up HTTP/3.
    pub fn new(pki: &TestPki) -> Self {
        let caddr: SocketAddr = CLIENT.parse().expect("addr");
        let saddr: SocketAddr = SERVER.parse().expect("addr");
        let mut ccfg = crate::raw::raw_client_config(pki);
        let mut scfg = crate::raw::raw_server_config(pki);
        let mut buf = vec![0u8; 65536];
        let h3cfg = quiche::h3::Config::new().expect("h3 config");
        let hs = handshake(&mut ccfg, &mut scfg, &h3cfg, caddr, saddr, 0, &mut buf);
        Self {
            client: hs.client,
            server: hs.server,
            ch3: hs.ch3,
            sh3: hs.sh3,
            caddr,
            saddr,
            buf,
            body: Vec::new(),
            datagrams: hs.datagrams,
        }
    }

    /// Moves datagrams both ways until neither side has anything to send.
    pub fn flush(&mut self) {
        self.datagrams += shuttle(
            &mut self.client,
            &mut self.server,
            self.caddr,
            self.saddr,
            &mut self.buf,
        );
    }

    /// `n` GETs, `concurrency` at a time, each answered with `body_len`
    /// bytes; returns the body bytes the client received.
    pub fn get_many(&mut self, n: usize, concurrency: usize, body_len: usize) -> u64 {
        self.body.resize(body_len, 0x61);
        let req = [
            quiche::h3::HeaderRef::new(b":method", b"GET"),
            quiche::h3::HeaderRef::new(b":scheme", b"https"),
            quiche::h3::HeaderRef::new(b":authority", b"localhost"),
            quiche::h3::HeaderRef::new(b":path", b"/"),
        ];
        let len = body_len.to_string();
        let resp = [
            quiche::h3::HeaderRef::new(b":status", b"200"),
            quiche::h3::HeaderRef::new(b"content-length", len.as_bytes()),
        ];
        let mut sent = 0;
        let mut done = 0;
        let mut received = 0u64;
        let mut pending: Vec<(u64, usize)> = Vec::with_capacity(concurrency);
        let mut chunk = vec![0u8; 16384];
        while done < n {
            while sent < n && sent - done < concurrency {
                match self.ch3.send_request(&mut self.client, &req, true) {
                    Ok(_) => sent += 1,
                    Err(_) => break,
                }
            }
            self.flush();
            while let Ok((id, ev)) = self.sh3.poll(&mut self.server) {
                if let quiche::h3::Event::Headers { .. } = ev {
                    let _ = self.sh3.send_response(&mut self.server, id, &resp, false);
                    pending.push((id, 0));
                }
            }
            pending.retain_mut(|(id, off)| {
                if let Ok(w) = self
                    .sh3
                    .send_body(&mut self.server, *id, &self.body[*off..], true)
                {
                    *off += w;
                }
                *off < self.body.len()
            });
            self.flush();
            while let Ok((id, ev)) = self.ch3.poll(&mut self.client) {
                match ev {
                    quiche::h3::Event::Data => {
                        while let Ok(r) = self.ch3.recv_body(&mut self.client, id, &mut chunk) {
                            received += r as u64;
                        }
                    }
                    quiche::h3::Event::Finished => done += 1,
                    quiche::h3::Event::Headers { list, .. } => {
                        debug_assert_eq!(list[0].value(), b"200");
                    }
                    _ => {}
                }
            }
            self.flush();
            // Timers: ACK delays and loss recovery read the real clock.
            for c in [&mut self.client, &mut self.server] {
                if c.timeout().is_some_and(|t| t.is_zero()) {
                    c.on_timeout();
                }
            }
        }
        received
    }
}

/// Moves datagrams both ways until neither side sends; returns how many.
fn shuttle(
    client: &mut quiche::Connection,
    server: &mut quiche::Connection,
    caddr: SocketAddr,
    saddr: SocketAddr,
    buf: &mut [u8],
) -> u64 {
    let mut moved = 0;
    loop {
        let before = moved;
        while let Ok((n, _)) = client.send(buf) {
            let _ = server.recv(
                &mut buf[..n],
                quiche::RecvInfo {
                    from: caddr,
                    to: saddr,
                },
            );
            moved += 1;
        }
        while let Ok((n, _)) = server.send(buf) {
            let _ = client.recv(
                &mut buf[..n],
                quiche::RecvInfo {
                    from: saddr,
                    to: caddr,
                },
            );
            moved += 1;
        }
        if moved == before {
            return moved;
        }
    }
}

/// A connected raw pair, HTTP/3 set up and SETTINGS exchanged.
struct Handshake {
    client: quiche::Connection,
    server: quiche::Connection,
    ch3: quiche::h3::Connection,
    sh3: quiche::h3::Connection,
    datagrams: u64,
}

/// One full handshake between a raw client and server (`n` makes the
/// connection IDs unique), then HTTP/3 on both sides with the control
/// streams read.
fn handshake(
    ccfg: &mut quiche::Config,
    scfg: &mut quiche::Config,
    h3cfg: &quiche::h3::Config,
    caddr: SocketAddr,
    saddr: SocketAddr,
    n: u64,
    buf: &mut [u8],
) -> Handshake {
    let mut cid = [0xc1; 16];
    let mut sid = [0x5e; 16];
    cid[..8].copy_from_slice(&n.to_be_bytes());
    sid[..8].copy_from_slice(&n.to_be_bytes());
    let mut client = quiche::connect(
        Some("localhost"),
        &quiche::ConnectionId::from_ref(&cid),
        caddr,
        saddr,
        ccfg,
    )
    .expect("connect");
    let (len, _) = client.send(buf).expect("first flight");
    let mut server = quiche::accept(
        &quiche::ConnectionId::from_ref(&sid),
        None,
        saddr,
        caddr,
        scfg,
    )
    .expect("accept");
    server
        .recv(
            &mut buf[..len],
            quiche::RecvInfo {
                from: caddr,
                to: saddr,
            },
        )
        .expect("recv Initial");
    let mut datagrams = 1;
    for _ in 0..100 {
        datagrams += shuttle(&mut client, &mut server, caddr, saddr, buf);
        if client.is_established() && server.is_established() {
            break;
        }
    }
    assert!(
        client.is_established() && server.is_established(),
        "raw handshake"
    );
    let mut ch3 = quiche::h3::Connection::with_transport(&mut client, h3cfg).expect("client h3");
    let mut sh3 = quiche::h3::Connection::with_transport(&mut server, h3cfg).expect("server h3");
    datagrams += shuttle(&mut client, &mut server, caddr, saddr, buf);
    // Let both sides read the control streams.
    while sh3.poll(&mut server).is_ok() {}
    while ch3.poll(&mut client).is_ok() {}
    datagrams += shuttle(&mut client, &mut server, caddr, saddr, buf);
    Handshake {
        client,
        server,
        ch3,
        sh3,
        datagrams,
    }
}

/// Full raw-quiche handshakes, one after another: the counterpart of
/// [`DirectPair::handshakes`](crate::DirectPair::handshakes).
pub struct RawHandshakes {
    ccfg: quiche::Config,
    scfg: quiche::Config,
    h3cfg: quiche::h3::Config,
    buf: Vec<u8>,
    /// Handshakes completed so far.
    pub done: u64,
}

impl std::fmt::Debug for RawHandshakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHandshakes")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl RawHandshakes {
    /// Configurations as [`RawLoop`]'s.
    pub fn new(pki: &TestPki) -> Self {
        Self {
            ccfg: crate::raw::raw_client_config(pki),
            scfg: crate::raw::raw_server_config(pki),
            h3cfg: quiche::h3::Config::new().expect("h3 config"),
            buf: vec![0u8; 65536],
            done: 0,
        }
    }

    /// `n` handshakes: connect, handshake, HTTP/3 on both sides, then the
    /// client closes (H3_NO_ERROR) and the close is delivered.
    pub fn run(&mut self, n: u64) {
        let caddr: SocketAddr = CLIENT.parse().expect("addr");
        let saddr: SocketAddr = SERVER.parse().expect("addr");
        for _ in 0..n {
            let mut hs = handshake(
                &mut self.ccfg,
                &mut self.scfg,
                &self.h3cfg,
                caddr,
                saddr,
                self.done,
                &mut self.buf,
            );
            let _ = hs.client.close(true, 0x100, b"");
            shuttle(&mut hs.client, &mut hs.server, caddr, saddr, &mut self.buf);
            self.done += 1;
        }
    }
}
