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
        let mut ccfg = crate::raw::raw_config(quiche::PROTOCOL_VERSION);
        let mut scfg = crate::raw::raw_server_config(pki);
        let cid = [0xc1; 16];
        let sid = [0x5e; 16];
        let mut client = quiche::connect(
            Some("localhost"),
            &quiche::ConnectionId::from_ref(&cid),
            caddr,
            saddr,
            &mut ccfg,
        )
        .expect("connect");
        let mut buf = vec![0u8; 65536];
        let (n, _) = client.send(&mut buf).expect("first flight");
        let mut server = quiche::accept(
            &quiche::ConnectionId::from_ref(&sid),
            None,
            saddr,
            caddr,
            &mut scfg,
        )
        .expect("accept");
        server
            .recv(
                &mut buf[..n],
                quiche::RecvInfo {
                    from: caddr,
                    to: saddr,
                },
            )
            .expect("recv Initial");
        let mut datagrams = 1;
        for _ in 0..100 {
            datagrams += shuttle(&mut client, &mut server, caddr, saddr, &mut buf);
            if client.is_established() && server.is_established() {
                break;
            }
        }
        assert!(
            client.is_established() && server.is_established(),
            "raw handshake"
        );
        let h3cfg = quiche::h3::Config::new().expect("h3 config");
        let ch3 = quiche::h3::Connection::with_transport(&mut client, &h3cfg).expect("client h3");
        let sh3 = quiche::h3::Connection::with_transport(&mut server, &h3cfg).expect("server h3");
        let mut l = Self {
            client,
            server,
            ch3,
            sh3,
            caddr,
            saddr,
            buf,
            body: Vec::new(),
            datagrams,
        };
        l.flush();
        // Let both sides read the control streams.
        while l.sh3.poll(&mut l.server).is_ok() {}
        while l.ch3.poll(&mut l.client).is_ok() {}
        l.flush();
        l
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
