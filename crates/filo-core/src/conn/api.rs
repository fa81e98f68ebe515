//! [`Conn`]: the application's commands on one connection, as a borrow
//! view of the endpoint.

use std::net::SocketAddr;
use std::time::Instant;

use super::{After, Connection, Ctx, Goaway};
use crate::alloc_audit::{Scope, q};
use crate::endpoint::Endpoint;
use crate::error::{DatagramError, H3Error, SendRequestError, StreamError, TransportError};
use crate::event::{CloseReason, ConnHandle};
use crate::stats::ConnStats;
use crate::stream::{RecvPhase, SendPhase, StreamId, StreamState};
use crate::validate::{self, MessageError, MethodKind};

/// SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114 §7.2.4.1).
const SETTINGS_MAX_FIELD_SECTION_SIZE: u64 = 0x6;
/// H3_DATAGRAM_ERROR (RFC 9297 §2.1).
const H3_DATAGRAM_ERROR: u64 = 0x33;
/// A DATA frame's type and length varints, at most.
const DATA_FRAME_OVERHEAD: usize = 1 + 8;
/// The most body capacity a `Writable` waits for: small enough that a
/// congestion window collapsed to its minimum (2 packets) still reaches it.
const WRITABLE_CHUNK: usize = 1024;

/// An upper bound of a header section's encoded size: QPACK with the
/// static table and literals never exceeds name + value + 32 per field
/// (the RFC 9114 §4.2.2 size), plus the HEADERS frame header.
/// Capacity worth waiting for to continue a body: the rest, up to a chunk,
/// plus a DATA frame header.
fn body_chunk(remaining: usize) -> usize {
    remaining.min(WRITABLE_CHUNK) + DATA_FRAME_OVERHEAD
}

fn header_bytes(section_size: u64) -> usize {
    usize::try_from(section_size)
        .unwrap_or(usize::MAX)
        .saturating_add(1 + 8)
}

/// A command view of one live connection, borrowed from the [`Endpoint`]
/// (`endpoint.conn(handle)`). Every command runs the connection's follow-up
/// work (events, timers, send queue) before it returns; drain the endpoint
/// afterwards as usual.
///
/// Headers are borrowed `(name, value)` pairs, e.g.
/// `&[(":status", "200")]` or `&[(b"x".as_slice(), value)]`.
pub struct Conn<'a> {
    ep: &'a mut Endpoint,
    slot: u32,
}

impl std::fmt::Debug for Conn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("handle", &self.handle())
            .finish()
    }
}

type Headers<'h, N, V> = &'h [(N, V)];

fn method_kind<N: AsRef<[u8]>, V: AsRef<[u8]>>(headers: &[(N, V)]) -> MethodKind {
    match headers.iter().find(|(n, _)| n.as_ref() == b":method") {
        Some((_, v)) if v.as_ref() == b"HEAD" => MethodKind::Head,
        Some((_, v)) if v.as_ref() == b"CONNECT" => MethodKind::Connect,
        _ => MethodKind::Other,
    }
}

fn is_interim<N: AsRef<[u8]>, V: AsRef<[u8]>>(headers: &[(N, V)]) -> bool {
    headers
        .iter()
        .find(|(n, _)| n.as_ref() == b":status")
        .is_some_and(|(_, v)| v.as_ref().first() == Some(&b'1'))
}

fn stream_err(e: quiche::h3::Error, id: StreamId) -> StreamError {
    use quiche::h3::Error as E;
    match e {
        E::StreamBlocked | E::Done => StreamError::Blocked,
        E::TransportError(quiche::Error::StreamStopped(c)) => StreamError::Stopped(c),
        E::TransportError(quiche::Error::InvalidStreamState(_)) => StreamError::UnknownStream(id),
        E::FrameUnexpected => StreamError::InvalidState,
        e => StreamError::H3(H3Error(e)),
    }
}

impl<'a> Conn<'a> {
    pub(crate) fn new(ep: &'a mut Endpoint, slot: u32) -> Self {
        Self { ep, slot }
    }

    fn c(&self) -> &Connection {
        // `Conn` exists only for a live slot and cannot outlive the borrow.
        match self.ep.slots[self.slot as usize].conn.as_deref() {
            Some(c) => c,
            None => unreachable!("Conn view of a freed slot"),
        }
    }

    /// Runs a command with the connection and context, then the follow-up
    /// processing.
    fn run<R>(&mut self, f: impl FnOnce(&mut Connection, &mut Ctx<'_>) -> R) -> R {
        self.run_then(|c, ctx| (f(c, ctx), Some(After::Command)))
    }

    /// Like `run`, with the follow-up processing `f` asks for (none, or a
    /// pass after a command or a read).
    fn run_then<R>(
        &mut self,
        f: impl FnOnce(&mut Connection, &mut Ctx<'_>) -> (R, Option<After>),
    ) -> R {
        let _scope = Scope::filo();
        let now = self.ep.last_now;
        let out = self.ep.with_ctx(self.slot, |c, ctx| {
            let (r, after) = f(c, ctx);
            if let (Some(now), Some(after)) = (now, after) {
                c.process(now, after, ctx);
            }
            r
        });
        self.ep.settle_command(self.slot);
        match out {
            Some(r) => r,
            None => unreachable!("Conn view of a freed slot"),
        }
    }

    /// This connection's handle.
    pub fn handle(&self) -> ConnHandle {
        self.c().handle
    }

    /// Whether this side is the server.
    pub fn is_server(&self) -> bool {
        self.c().is_server
    }

    /// Whether the handshake completed.
    pub fn is_established(&self) -> bool {
        self.c().established
    }

    /// Whether the connection is closing or draining.
    pub fn is_closing(&self) -> bool {
        self.c().is_closing()
    }

    /// The local address its datagrams arrive on.
    pub fn local_addr(&self) -> SocketAddr {
        self.c().local
    }

    /// The peer's address when the connection started.
    pub fn peer_addr(&self) -> SocketAddr {
        self.c().origin
    }

    /// The GOAWAY id received from the peer, if any.
    pub fn peer_goaway(&self) -> Option<u64> {
        self.c().peer_goaway
    }

    /// Request streams filo is tracking (not yet finished both ways).
    pub fn active_streams(&self) -> usize {
        self.c().streams.len()
    }

    /// Connection statistics.
    pub fn stats(&self) -> ConnStats {
        let c = self.c();
        let mut s = c.stats;
        let qs = q!(c.q.stats());
        s.packets_sent = qs.sent as u64;
        s.packets_recv = qs.recv as u64;
        s.packets_lost = qs.lost as u64;
        s.bytes_sent = qs.sent_bytes;
        s.bytes_recv = qs.recv_bytes;
        s.bytes_lost = qs.lost_bytes;
        if let Some(p) = q!(c.q.path_stats().next()) {
            s.rtt = p.rtt;
            s.cwnd = p.cwnd;
        }
        s.active_streams = c.streams.len() as u64;
        s
    }

    /// Client: sends a request head on a new stream; `fin` means no body.
    pub fn send_request<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        headers: Headers<'_, N, V>,
        fin: bool,
    ) -> Result<StreamId, SendRequestError> {
        self.run(|c, _| {
            if c.is_server {
                return Err(SendRequestError::NotAClient);
            }
            if c.is_closing() {
                return Err(SendRequestError::Closed);
            }
            if c.peer_goaway.is_some() {
                return Err(SendRequestError::GoingAway);
            }
            if let Some(limit) = c.peer_field_section_limit() {
                let size = validate::field_section_size(headers);
                if size > limit {
                    return Err(SendRequestError::HeadersTooLarge { size, limit });
                }
            }
            let Some(h3) = c.h3.as_mut() else {
                return Err(SendRequestError::NotEstablished);
            };
            match q!(h3.send_request(&mut c.q, headers, fin)) {
                Ok(id) => {
                    c.streams
                        .insert(id, StreamState::client(method_kind(headers), fin));
                    c.requests += 1;
                    c.stats.requests += 1;
                    Ok(StreamId(id))
                }
                Err(quiche::h3::Error::TransportError(quiche::Error::StreamLimit)) => {
                    c.request_wanted = true;
                    Err(SendRequestError::StreamLimit)
                }
                Err(quiche::h3::Error::StreamBlocked) => {
                    c.request_wanted = true;
                    c.request_blocked = true;
                    Err(SendRequestError::Blocked)
                }
                Err(quiche::h3::Error::FrameUnexpected) => Err(SendRequestError::GoingAway),
                Err(e) => Err(SendRequestError::H3(H3Error(e))),
            }
        })
    }

    /// Server: sends an interim (1xx) response; any number may precede the
    /// final response.
    pub fn send_interim<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        stream: StreamId,
        headers: Headers<'_, N, V>,
    ) -> Result<(), StreamError> {
        if !is_interim(headers) {
            return Err(StreamError::InvalidState);
        }
        self.send_head(stream, headers, false, SendPhase::Interim)
    }

    /// Server: sends the final response head; `fin` means no body. Use
    /// [`send_interim`](Self::send_interim) for 1xx.
    pub fn send_response<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        stream: StreamId,
        headers: Headers<'_, N, V>,
        fin: bool,
    ) -> Result<(), StreamError> {
        if is_interim(headers) {
            return Err(StreamError::InvalidState);
        }
        let next = if fin {
            SendPhase::Done
        } else {
            SendPhase::Body
        };
        self.send_head(stream, headers, fin, next)
    }

    fn send_head<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        stream: StreamId,
        headers: Headers<'_, N, V>,
        fin: bool,
        next: SendPhase,
    ) -> Result<(), StreamError> {
        let id = stream.0;
        let size = validate::field_section_size(headers);
        self.run(|c, ctx| {
            if !c.is_server {
                return Err(StreamError::InvalidState);
            }
            let phase = c.send_phase(stream)?;
            if let Some(limit) = c.peer_field_section_limit()
                && size > limit
            {
                return Err(StreamError::HeadersTooLarge { size, limit });
            }
            let h3 = c.h3.as_mut().ok_or(StreamError::InvalidState)?;
            let res = match phase {
                SendPhase::Idle => q!(h3.send_response(&mut c.q, id, headers, fin)),
                SendPhase::Interim => {
                    q!(h3.send_additional_headers(&mut c.q, id, headers, false, fin))
                }
                _ => return Err(StreamError::InvalidState),
            };
            match res {
                Ok(()) => {
                    c.set_send(id, next);
                    c.settle_stream(id);
                    Ok(())
                }
                Err(e) => Err(c.on_send_error(id, e, header_bytes(size), ctx)),
            }
        })
    }

    /// Sends body bytes; returns how many were taken (possibly fewer than
    /// `data.len()`). When short, a `Writable` event follows once capacity
    /// returns. `fin` ends the body if every byte was taken. Returns
    /// `Blocked` if nothing (not even a bare FIN) could be sent.
    pub fn send_body(
        &mut self,
        stream: StreamId,
        data: &[u8],
        fin: bool,
    ) -> Result<usize, StreamError> {
        let id = stream.0;
        self.run(|c, ctx| {
            if c.send_phase(stream)? != SendPhase::Body {
                return Err(StreamError::InvalidState);
            }
            let h3 = c.h3.as_mut().ok_or(StreamError::InvalidState)?;
            match q!(h3.send_body(&mut c.q, id, data, fin)) {
                Ok(n) => {
                    if n < data.len() {
                        c.want_writable(id, body_chunk(data.len() - n));
                    } else if fin {
                        c.set_send(id, SendPhase::Done);
                        c.settle_stream(id);
                    }
                    Ok(n)
                }
                Err(e) => Err(c.on_send_error(id, e, body_chunk(data.len()), ctx)),
            }
        })
    }

    /// Sends a trailer section and ends the stream.
    pub fn send_trailers<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        stream: StreamId,
        headers: Headers<'_, N, V>,
    ) -> Result<(), StreamError> {
        let id = stream.0;
        let size = validate::field_section_size(headers);
        self.run(|c, ctx| {
            if c.send_phase(stream)? != SendPhase::Body {
                return Err(StreamError::InvalidState);
            }
            let h3 = c.h3.as_mut().ok_or(StreamError::InvalidState)?;
            match q!(h3.send_additional_headers(&mut c.q, id, headers, true, true)) {
                Ok(()) => {
                    c.set_send(id, SendPhase::Done);
                    c.settle_stream(id);
                    Ok(())
                }
                Err(e) => Err(c.on_send_error(id, e, header_bytes(size), ctx)),
            }
        })
    }

    /// Reads body bytes into `buf`; 0 means nothing buffered now. Call it
    /// until it returns 0 after each `Data` event; the end of the body is
    /// the `Finished` event, queued by the call that returns 0 (so a read
    /// loop never sees its stream vanish).
    pub fn recv_body(&mut self, stream: StreamId, buf: &mut [u8]) -> Result<usize, StreamError> {
        let id = stream.0;
        self.run_then(|c, ctx| {
            let r = c.recv_body(id, stream, buf, ctx);
            // Once the buffered body is drained, the stream's next frame
            // (more DATA, trailers) or its end may be readable: poll it.
            let after = match r {
                Ok(n) if n > 0 => None,
                _ if q!(c.q.stream_readable(id)) || q!(c.q.stream_finished(id)) => {
                    Some(After::Read(id))
                }
                _ => Some(After::Command),
            };
            (r, after)
        })
    }
}

impl Connection {
    /// [`Conn::recv_body`] without the follow-up processing.
    fn recv_body(
        &mut self,
        id: u64,
        stream: StreamId,
        buf: &mut [u8],
        ctx: &mut Ctx<'_>,
    ) -> Result<usize, StreamError> {
        let st = self
            .streams
            .get(&id)
            .ok_or(StreamError::UnknownStream(stream))?;
        if st.recv != RecvPhase::Body {
            return Ok(0);
        }
        let h3 = self.h3.as_mut().ok_or(StreamError::InvalidState)?;
        match q!(h3.recv_body(&mut self.q, id, buf)) {
            Ok(n) => {
                let Some(st) = self.streams.get_mut(&id) else {
                    return Ok(n);
                };
                st.received += n as u64;
                if st.checks_content_length()
                    && st.content_length.is_some_and(|cl| st.received > cl)
                {
                    let e = MessageError::ContentLengthMismatch;
                    self.malformed(id, e, ctx);
                    return Err(StreamError::Malformed(e));
                }
                Ok(n)
            }
            Err(quiche::h3::Error::Done) => Ok(0),
            Err(e) => Err(stream_err(e, stream)),
        }
    }
}

impl Conn<'_> {
    /// Resets our send side with `code` (RESET_STREAM).
    pub fn reset_stream(&mut self, stream: StreamId, code: u64) -> Result<(), StreamError> {
        let id = stream.0;
        self.run(|c, _| {
            if c.send_phase(stream)? == SendPhase::Done {
                return Ok(());
            }
            let _ = q!(c.q.stream_shutdown(id, quiche::Shutdown::Write, code));
            c.set_send(id, SendPhase::Done);
            c.settle_stream(id);
            Ok(())
        })
    }

    /// Asks the peer to stop sending with `code` (STOP_SENDING) and discards
    /// what arrives.
    pub fn stop_sending(&mut self, stream: StreamId, code: u64) -> Result<(), StreamError> {
        let id = stream.0;
        self.run(|c, _| {
            let st = c
                .streams
                .get_mut(&id)
                .ok_or(StreamError::UnknownStream(stream))?;
            if st.recv == RecvPhase::Done {
                return Ok(());
            }
            st.recv = RecvPhase::Done;
            let _ = q!(c.q.stream_shutdown(id, quiche::Shutdown::Read, code));
            c.settle_stream(id);
            Ok(())
        })
    }

    /// Starts a graceful shutdown. Server: GOAWAY with the maximum id now,
    /// the real first-unprocessed id about one RTT later, then close when
    /// in-flight requests finish or `goaway_drain_timeout` passes. Client:
    /// GOAWAY(0).
    pub fn goaway(&mut self, now: Instant) {
        self.run(|c, ctx| c.start_goaway(now, ctx));
    }

    /// The GOAWAY this side sent, if any: `Some(id)` once the final id is
    /// out.
    pub fn sent_goaway(&self) -> Option<u64> {
        match self.c().goaway_sent {
            Goaway::Final(id) => Some(id),
            _ => None,
        }
    }

    /// Closes the connection with an application (HTTP/3) error `code`.
    pub fn close(&mut self, code: u64, reason: &[u8]) {
        self.run(|c, _| c.close(CloseReason::Local { code, app: true }, true, code, reason));
    }

    /// Sends an HTTP/3 DATAGRAM (RFC 9297) for request `stream`.
    pub fn send_datagram(&mut self, stream: StreamId, payload: &[u8]) -> Result<(), DatagramError> {
        self.run(|c, ctx| {
            // quiche checks only the peer's offer; with our queues at 0 it
            // would report a full queue instead.
            if ctx.limits.datagram_queues.is_none() {
                return Err(DatagramError::Disabled);
            }
            let mut buf = [0u8; 1500];
            let prefix = write_varint(&mut buf, stream.0 / 4);
            let total = prefix + payload.len();
            if total > buf.len() {
                return Err(DatagramError::TooLarge);
            }
            buf[prefix..total].copy_from_slice(payload);
            match q!(c.q.dgram_send(&buf[..total])) {
                Ok(()) => Ok(()),
                Err(quiche::Error::InvalidState) => Err(DatagramError::Disabled),
                Err(quiche::Error::BufferTooShort) => Err(DatagramError::TooLarge),
                Err(quiche::Error::Done) => Err(DatagramError::QueueFull),
                Err(e) => Err(DatagramError::Transport(TransportError(e))),
            }
        })
    }

    /// Takes the next received HTTP/3 DATAGRAM into `buf`: its request
    /// stream and payload length, or `None` when the queue is empty. A
    /// datagram longer than `buf` stays queued (`TooLarge`).
    pub fn recv_datagram(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Option<(StreamId, usize)>, DatagramError> {
        self.run(|c, ctx| {
            if ctx.limits.datagram_queues.is_none() {
                return Err(DatagramError::Disabled);
            }
            loop {
                // Check the size first: quiche drops a datagram it cannot
                // copy out.
                match q!(c.q.dgram_recv_front_len()) {
                    None => {
                        c.dgram_signalled = false;
                        return Ok(None);
                    }
                    Some(len) if len > buf.len() => return Err(DatagramError::TooLarge),
                    Some(_) => {}
                }
                match q!(c.q.dgram_recv(buf)) {
                    Ok(n) => match read_varint(&buf[..n]) {
                        // RFC 9297 §2.1: a quarter stream id >= 2^60 is a
                        // connection error H3_DATAGRAM_ERROR.
                        Some((qsid, _)) if qsid >= 1 << 60 => {
                            c.protocol_error(H3_DATAGRAM_ERROR, b"quarter stream id too large");
                            return Err(DatagramError::Closed);
                        }
                        Some((qsid, used)) => {
                            buf.copy_within(used..n, 0);
                            return Ok(Some((StreamId(qsid * 4), n - used)));
                        }
                        // Empty datagram: no quarter stream id; dropped.
                        None => {}
                    },
                    Err(quiche::Error::Done) => {
                        c.dgram_signalled = false;
                        return Ok(None);
                    }
                    Err(quiche::Error::InvalidState) => return Err(DatagramError::Disabled),
                    Err(quiche::Error::BufferTooShort) => return Err(DatagramError::TooLarge),
                    Err(e) => return Err(DatagramError::Transport(TransportError(e))),
                }
            }
        })
    }
}

impl Connection {
    fn send_phase(&self, stream: StreamId) -> Result<SendPhase, StreamError> {
        if self.is_closing() {
            return Err(StreamError::Closed);
        }
        let st = self
            .streams
            .get(&stream.0)
            .ok_or(StreamError::UnknownStream(stream))?;
        match st.stopped {
            // The application may not have seen the `StopSending` event
            // yet: tell it why the send side is gone.
            Some(code) => Err(StreamError::Stopped(code)),
            None => Ok(st.send),
        }
    }

    fn set_send(&mut self, id: u64, phase: SendPhase) {
        if let Some(st) = self.streams.get_mut(&id) {
            st.send = phase;
            if phase == SendPhase::Done {
                // A send side that is over waits for nothing: no `Writable`.
                st.writable_need = 0;
            }
        }
    }

    /// Records that the application waits for `len` bytes of capacity.
    /// filo checks waiting streams itself after every datagram and timeout
    /// (see `drain_writable`): quiche's own watermark cannot be relied on,
    /// because one above the congestion window never fires.
    fn want_writable(&mut self, id: u64, len: usize) {
        if let Some(st) = self.streams.get_mut(&id) {
            st.writable_need = u32::try_from(len.max(1)).unwrap_or(u32::MAX);
            self.writable_waiters = true;
        }
    }

    /// Maps a send failure; a stopped stream's send side is over. `needed`
    /// is an upper bound of the bytes the refused write needs.
    fn on_send_error(
        &mut self,
        id: u64,
        e: quiche::h3::Error,
        needed: usize,
        ctx: &mut Ctx<'_>,
    ) -> StreamError {
        let err = stream_err(e, StreamId(id));
        match err {
            StreamError::Stopped(_) | StreamError::UnknownStream(_) => {
                // quiche knew before filo did (a STOP_SENDING not yet seen):
                // the stream ended abnormally all the same.
                if self.is_server {
                    self.count_abnormal_stream(id, ctx);
                }
                self.set_send(id, SendPhase::Done);
                self.settle_stream(id);
            }
            StreamError::Blocked => self.want_writable(id, needed),
            _ => {}
        }
        err
    }

    /// The peer's SETTINGS_MAX_FIELD_SECTION_SIZE, if it sent one (quiche
    /// does not check it before sending).
    fn peer_field_section_limit(&self) -> Option<u64> {
        let h3 = self.h3.as_ref()?;
        q!(h3.peer_settings_raw())?
            .iter()
            .find(|(id, _)| *id == SETTINGS_MAX_FIELD_SECTION_SIZE)
            .map(|(_, v)| *v)
    }
}

fn write_varint(out: &mut [u8], v: u64) -> usize {
    let (len, tag) = match v {
        0..=63 => (1, 0u8),
        64..=16_383 => (2, 0x40),
        16_384..=1_073_741_823 => (4, 0x80),
        _ => (8, 0xc0),
    };
    let bytes = v.to_be_bytes();
    out[..len].copy_from_slice(&bytes[8 - len..]);
    out[0] |= tag;
    len
}

fn read_varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(..len)?;
    let mut v = u64::from(first & 0x3f);
    for &x in &bytes[1..] {
        v = (v << 8) | u64::from(x);
    }
    Some((v, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip() {
        for v in [0, 63, 64, 16_383, 16_384, 1 << 30, (1 << 62) - 1] {
            let mut b = [0u8; 8];
            let n = write_varint(&mut b, v);
            assert_eq!(read_varint(&b[..n]), Some((v, n)));
        }
        assert_eq!(read_varint(&[0x40]), None);
    }
}
