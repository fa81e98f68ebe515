//! A peer written against quiche's raw API (no filo), for tests that need a
//! misbehaving or independent peer: hand-made frames on request streams,
//! header sections quiche's encoder would not produce (uppercase names),
//! unknown QUIC versions. [`exchange`] shuttles datagrams between it and a
//! filo [`Endpoint`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{Endpoint, Event, RecvMeta};

/// Encodes a QPACK field section using only literal field lines with
/// literal names (no Huffman, no table), exactly as given: names keep
/// their case.
pub fn qpack_literal(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![0x00, 0x00]; // Required Insert Count 0, Base 0
    for (name, value) in fields {
        prefixed_int(&mut out, 0x20, 3, name.len() as u64);
        out.extend_from_slice(name);
        prefixed_int(&mut out, 0x00, 7, value.len() as u64);
        out.extend_from_slice(value);
    }
    out
}

fn prefixed_int(out: &mut Vec<u8>, flags: u8, prefix: u32, v: u64) {
    let max = (1u64 << prefix) - 1;
    if v < max {
        out.push(flags | v as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = v - max;
    while rest >= 128 {
        out.push((rest % 128) as u8 | 0x80);
        rest /= 128;
    }
    out.push(rest as u8);
}

/// Appends a QUIC variable-length integer.
pub fn varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=63 => out.push(v as u8),
        64..=16_383 => out.extend_from_slice(&((v as u16) | 0x4000).to_be_bytes()),
        16_384..=1_073_741_823 => out.extend_from_slice(&((v as u32) | 0x8000_0000).to_be_bytes()),
        _ => out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes()),
    }
}

/// An HTTP/3 frame: type, length, payload.
pub fn frame(ty: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    varint(&mut out, ty);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A HEADERS frame carrying `fields` literally.
pub fn headers_frame(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    frame(0x01, &qpack_literal(fields))
}

/// A DATA frame.
pub fn data_frame(payload: &[u8]) -> Vec<u8> {
    frame(0x00, payload)
}

/// A quiche connection (and its h3 layer once established) at `local`.
pub struct RawPeer {
    /// The QUIC connection.
    pub q: quiche::Connection,
    /// The HTTP/3 layer, created by [`RawPeer::ensure_h3`].
    pub h3: Option<quiche::h3::Connection>,
    /// This peer's address.
    pub local: SocketAddr,
    /// HTTP/3 events polled so far (stream id, event).
    pub events: Vec<(u64, quiche::h3::Event)>,
}

impl std::fmt::Debug for RawPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawPeer")
            .field("local", &self.local)
            .field("established", &self.q.is_established())
            .field("closed", &self.q.is_closed())
            .finish_non_exhaustive()
    }
}

/// A quiche config for raw client peers: h3 ALPN, no verification, and
/// filo's default windows and limits (so baselines compare like with like).
pub fn raw_config(version: u32) -> quiche::Config {
    let mut c = quiche::Config::new(version).expect("quiche config");
    apply_raw_settings(&mut c);
    c
}

/// A raw quiche server config presenting `pki`'s server identity, with the
/// same settings as [`raw_config`].
pub fn raw_server_config(pki: &crate::certs::TestPki) -> quiche::Config {
    let mut c =
        quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, pki.server_context())
            .expect("raw server config");
    apply_raw_settings(&mut c);
    c
}

/// A raw quiche client config that verifies the server against `pki`'s CA
/// (as filo's clients in the benchmarks do), with the same settings as
/// [`raw_config`].
pub fn raw_client_config(pki: &crate::certs::TestPki) -> quiche::Config {
    let mut c =
        quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, pki.client_context())
            .expect("raw client config");
    apply_raw_settings(&mut c);
    c.verify_peer(true);
    c
}

fn apply_raw_settings(c: &mut quiche::Config) {
    c.set_application_protos(quiche::h3::APPLICATION_PROTOCOL)
        .expect("alpn");
    c.verify_peer(false);
    c.set_initial_rtt(Duration::from_millis(10));
    c.set_max_idle_timeout(30_000);
    c.set_max_send_udp_payload_size(1350);
    c.set_initial_max_data(10 << 20);
    c.set_initial_max_stream_data_bidi_local(1 << 20);
    c.set_initial_max_stream_data_bidi_remote(1 << 20);
    c.set_initial_max_stream_data_uni(64 << 10);
    c.set_initial_max_streams_bidi(100);
    c.set_initial_max_streams_uni(16);
}

impl RawPeer {
    /// A raw client connecting from `local` to `server`.
    pub fn client(config: &mut quiche::Config, local: SocketAddr, server: SocketAddr) -> Self {
        let mut scid = [0u8; 16];
        filo_core::boring::rand::rand_bytes(&mut scid).expect("rand");
        let scid = quiche::ConnectionId::from_ref(&scid);
        let q = quiche::connect(Some("localhost"), &scid, local, server, config).expect("connect");
        Self {
            q,
            h3: None,
            local,
            events: Vec::new(),
        }
    }

    /// A raw server answering the first datagram `ep` (a filo client at
    /// `ep_addr`) sends towards `local`.
    pub fn server_for(config: &mut quiche::Config, local: SocketAddr, ep: &mut Endpoint) -> Self {
        let mut buf = vec![0u8; 65536];
        let now = Instant::now();
        let t = ep.poll_transmit(now, &mut buf, 1).expect("client Initial");
        let mut scid = [0u8; 16];
        filo_core::boring::rand::rand_bytes(&mut scid).expect("rand");
        let scid = quiche::ConnectionId::from_ref(&scid);
        let mut q = quiche::accept(&scid, None, local, t.from, config).expect("accept");
        let info = quiche::RecvInfo {
            from: t.from,
            to: local,
        };
        q.recv(&mut buf[..t.len], info).expect("recv Initial");
        Self {
            q,
            h3: None,
            local,
            events: Vec::new(),
        }
    }

    /// Creates the h3 layer once the handshake is done; true if present.
    pub fn ensure_h3(&mut self) -> bool {
        if self.h3.is_none() && self.q.is_established() {
            let cfg = quiche::h3::Config::new().expect("h3 config");
            self.h3 = quiche::h3::Connection::with_transport(&mut self.q, &cfg).ok();
        }
        self.h3.is_some()
    }

    /// Polls h3 events into `events`.
    pub fn poll(&mut self) {
        if let Some(h3) = self.h3.as_mut() {
            while let Ok(ev) = h3.poll(&mut self.q) {
                self.events.push(ev);
            }
        }
    }

    /// Writes raw bytes on a stream (frames of your making).
    pub fn stream_send(&mut self, id: u64, bytes: &[u8], fin: bool) {
        self.q.stream_send(id, bytes, fin).expect("stream_send");
    }
}

/// Shuttles datagrams between `ep` (at `ep_addr`) and `raw` for up to
/// `limit` of wall time or until `done`, collecting `ep`'s events.
pub fn exchange(
    ep: &mut Endpoint,
    ep_addr: SocketAddr,
    raw: &mut RawPeer,
    events: &mut Vec<Event>,
    limit: Duration,
    mut done: impl FnMut(&mut RawPeer, &[Event]) -> bool,
) -> bool {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 65536];
    loop {
        let now = Instant::now();
        let mut progress = false;
        while let Ok((n, info)) = raw.q.send(&mut buf) {
            progress = true;
            if info.to == ep_addr {
                ep.handle_datagram(now, RecvMeta::new(info.to, info.from), &mut buf[..n]);
            }
        }
        while let Some(t) = ep.poll_transmit(now, &mut buf, 1) {
            progress = true;
            if t.to == raw.local {
                let info = quiche::RecvInfo {
                    from: t.from,
                    to: t.to,
                };
                let _ = raw.q.recv(&mut buf[..t.len], info);
            }
        }
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
        if raw.q.timeout_instant().is_some_and(|t| t <= now) {
            raw.q.on_timeout();
        }
        raw.ensure_h3();
        raw.poll();
        while let Some(ev) = ep.poll_event() {
            progress = true;
            events.push(ev);
        }
        if done(raw, events) {
            return true;
        }
        if now >= deadline {
            return false;
        }
        if !progress {
            let next = [ep.poll_timeout(), raw.q.timeout_instant(), Some(deadline)]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(deadline);
            let wait = next.saturating_duration_since(Instant::now());
            std::thread::sleep(wait.min(Duration::from_millis(20)));
        }
    }
}
