//! Received HTTP/3: quiche's h3 events turned into filo events, with the
//! message validation, frame-order checks, limits and GOAWAY rejection
//! quiche leaves to the application.

use std::time::Instant;

use quiche::h3::Event as H3Event;

use super::{Connection, Ctx, Goaway, is_request_stream};
use crate::alloc_audit::q;
use crate::error::code;
use crate::event::{EventKind, StreamFailure};
use crate::headers::HeaderList;
use crate::stream::{RecvPhase, SendPhase, StreamId, StreamState};
use crate::validate::{self, MessageError};

/// The most send capacity a `Writable` waits for: one full packet. A
/// congestion window collapsed to its minimum (2 packets) still reaches it.
const MAX_WRITABLE_WAIT: usize = 1200;

/// The wire code for an h3 error quiche reports (its own mapping is private).
pub(crate) fn h3_wire_code(e: quiche::h3::Error) -> u64 {
    use quiche::h3::Error as E;
    match e {
        E::Done => code::H3_NO_ERROR,
        E::ExcessiveLoad => code::H3_EXCESSIVE_LOAD,
        E::IdError => 0x108,
        E::StreamCreationError => 0x103,
        E::ClosedCriticalStream => 0x104,
        E::MissingSettings => 0x10a,
        E::FrameUnexpected => code::H3_FRAME_UNEXPECTED,
        E::FrameError => 0x106,
        E::QpackDecompressionFailed => 0x200,
        E::SettingsError => 0x109,
        E::RequestRejected => code::H3_REQUEST_REJECTED,
        E::RequestCancelled => code::H3_REQUEST_CANCELLED,
        E::RequestIncomplete => code::H3_REQUEST_INCOMPLETE,
        E::MessageError => code::H3_MESSAGE_ERROR,
        E::ConnectError => 0x10f,
        E::VersionFallback => 0x110,
        _ => code::H3_INTERNAL_ERROR,
    }
}

impl Connection {
    /// Drains quiche's h3 events for this connection.
    ///
    /// With `until`, stops after that stream's first event that needs the
    /// application before quiche has more for it (`Data`: the body must be
    /// read first; `Finished`/`Reset`: the stream is done). Trailers are
    /// followed by `Finished` only on the next poll, so polling goes on
    /// past them. The caller knows no other stream can have an event (every
    /// input polled to `Done`), and the final `Done` costs quiche a pass
    /// over every readable stream.
    pub(crate) fn poll_h3(&mut self, now: Instant, until: Option<u64>, ctx: &mut Ctx<'_>) {
        loop {
            if self.is_closing() {
                return;
            }
            let Some(h3) = self.h3.as_mut() else { return };
            match q!(h3.poll(&mut self.q)) {
                Ok((id, ev)) => {
                    let stop =
                        until == Some(id) && !matches!(ev, quiche::h3::Event::Headers { .. });
                    self.on_h3_event(id, ev, now, ctx);
                    if stop {
                        return;
                    }
                }
                Err(quiche::h3::Error::Done) => return,
                Err(e) => {
                    // quiche closes the connection itself for protocol
                    // errors; make sure of it for the rest.
                    self.protocol_error(h3_wire_code(e), b"");
                    return;
                }
            }
        }
    }

    fn on_h3_event(&mut self, id: u64, ev: H3Event, now: Instant, ctx: &mut Ctx<'_>) {
        match ev {
            H3Event::Headers { list, more_frames } => {
                self.on_headers(id, HeaderList::from_quiche(list), !more_frames, now, ctx);
            }
            H3Event::Data => self.on_data(id, ctx),
            H3Event::Finished => self.on_finished(id, ctx),
            H3Event::Reset(code) => self.on_reset(id, code, ctx),
            H3Event::PriorityUpdate => {
                // Priorities are not acted on; drop the stored update so it
                // does not accumulate.
                if let Some(h3) = self.h3.as_mut() {
                    let _ = q!(h3.take_last_priority_update(id));
                }
            }
            H3Event::GoAway => self.on_goaway(id, ctx),
        }
    }

    fn on_headers(
        &mut self,
        id: u64,
        headers: HeaderList,
        fin: bool,
        now: Instant,
        ctx: &mut Ctx<'_>,
    ) {
        let phase = match self.streams.get(&id) {
            Some(st) => st.recv,
            None if self.is_server && is_request_stream(id) => {
                self.streams.insert(id, StreamState::server());
                RecvPhase::Head { interim: 0 }
            }
            None => return,
        };
        let size = validate::field_section_size(headers.fields());
        let limit = ctx.limits.max_field_section_size;
        match phase {
            RecvPhase::Head { .. } if self.is_server => {
                self.on_request_head(id, headers, fin, size, now, ctx);
            }
            RecvPhase::Head { interim } => {
                self.on_response_head(id, headers, fin, size, interim, ctx);
            }
            RecvPhase::Body => {
                if size > limit {
                    let reason = StreamFailure::HeadersTooLarge { size, limit };
                    self.fail_stream(id, reason, code::H3_REQUEST_CANCELLED, ctx);
                } else if let Err(e) = validate::validate_trailers(headers.fields()) {
                    self.malformed(id, e, ctx);
                } else {
                    self.set_recv(id, RecvPhase::Trailers);
                    self.emit(
                        ctx,
                        EventKind::Trailers {
                            stream: StreamId(id),
                            headers,
                        },
                    );
                }
            }
            // A header section after trailers (RFC 9114 §4.1): quiche catches
            // it on servers, nothing catches it on clients.
            RecvPhase::Trailers => {
                self.protocol_error(code::H3_FRAME_UNEXPECTED, b"HEADERS after trailers");
            }
            RecvPhase::Done => {}
        }
    }

    fn on_request_head(
        &mut self,
        id: u64,
        headers: HeaderList,
        fin: bool,
        size: u64,
        now: Instant,
        ctx: &mut Ctx<'_>,
    ) {
        self.timers.first_request = None;
        self.next_request_id = self.next_request_id.max(id + 4);
        if let Goaway::Final(limit) = self.goaway_sent
            && id >= limit
        {
            self.reject(id, ctx);
            return;
        }
        self.requests += 1;
        self.stats.requests += 1;
        if self.requests > ctx.limits.max_requests_per_connection {
            self.reject(id, ctx);
            return;
        }
        if self.requests == ctx.limits.max_requests_per_connection {
            // This is the last request served here: tell the client now.
            self.final_goaway(now, ctx);
        }
        let limit = ctx.limits.max_field_section_size;
        if size > limit {
            self.answer_431(id, size, limit, ctx);
            return;
        }
        let info = match validate::validate_request(headers.fields()) {
            Ok(info) => info,
            Err(e) => return self.malformed(id, e, ctx),
        };
        if fin && info.content_length.is_some_and(|n| n != 0) {
            return self.malformed(id, MessageError::ContentLengthMismatch, ctx);
        }
        if let Some(st) = self.streams.get_mut(&id) {
            // The method is not stored: the HEAD exemption applies to a
            // response's body, never to a request's (request smuggling).
            st.recv = RecvPhase::Body;
            st.content_length = info.content_length;
        }
        self.emit(
            ctx,
            EventKind::Request {
                stream: StreamId(id),
                headers,
                fin,
            },
        );
    }

    fn on_response_head(
        &mut self,
        id: u64,
        headers: HeaderList,
        fin: bool,
        size: u64,
        interim: u32,
        ctx: &mut Ctx<'_>,
    ) {
        let limit = ctx.limits.max_field_section_size;
        if size > limit {
            let reason = StreamFailure::HeadersTooLarge { size, limit };
            return self.fail_stream(id, reason, code::H3_REQUEST_CANCELLED, ctx);
        }
        let info = match validate::validate_response(headers.fields()) {
            Ok(info) => info,
            Err(e) => return self.malformed(id, e, ctx),
        };
        let stream = StreamId(id);
        if info.is_interim() {
            if fin {
                return self.malformed(id, MessageError::Incomplete, ctx);
            }
            if interim >= ctx.limits.max_interim_responses {
                let reason = StreamFailure::TooManyInterim;
                return self.fail_stream(id, reason, code::H3_EXCESSIVE_LOAD, ctx);
            }
            self.set_recv(
                id,
                RecvPhase::Head {
                    interim: interim + 1,
                },
            );
            self.emit(ctx, EventKind::Interim { stream, headers });
            return;
        }
        if let Some(st) = self.streams.get_mut(&id) {
            st.recv = RecvPhase::Body;
            st.status = info.status;
            st.content_length = info.content_length;
            if fin && st.checks_content_length() && info.content_length.is_some_and(|n| n != 0) {
                return self.malformed(id, MessageError::ContentLengthMismatch, ctx);
            }
        }
        self.emit(
            ctx,
            EventKind::Response {
                stream,
                headers,
                fin,
            },
        );
    }

    fn on_data(&mut self, id: u64, ctx: &mut Ctx<'_>) {
        let Some(st) = self.streams.get(&id) else {
            return;
        };
        match st.recv {
            RecvPhase::Body => self.emit(
                ctx,
                EventKind::Data {
                    stream: StreamId(id),
                },
            ),
            // DATA before the (final) response head, or after trailers.
            RecvPhase::Head { .. } => {
                self.protocol_error(code::H3_FRAME_UNEXPECTED, b"DATA before HEADERS");
            }
            RecvPhase::Trailers => {
                self.protocol_error(code::H3_FRAME_UNEXPECTED, b"DATA after trailers");
            }
            RecvPhase::Done => {}
        }
    }

    fn on_finished(&mut self, id: u64, ctx: &mut Ctx<'_>) {
        let Some(st) = self.streams.get(&id).copied() else {
            // A request stream that ended without a complete HEADERS frame
            // (empty, or truncated): H3_REQUEST_INCOMPLETE (RFC 9114 §4.1).
            if self.is_server && is_request_stream(id) && id >= self.next_request_id {
                self.next_request_id = id + 4;
                let _ = q!(self.q.stream_shutdown(
                    id,
                    quiche::Shutdown::Write,
                    code::H3_REQUEST_INCOMPLETE
                ));
                self.stats.incomplete_requests += 1;
                self.count_abnormal(ctx);
            }
            return;
        };
        match st.recv {
            RecvPhase::Head { .. } => {
                let code = if self.is_server {
                    code::H3_REQUEST_INCOMPLETE
                } else {
                    code::H3_MESSAGE_ERROR
                };
                self.fail_stream(id, StreamFailure::Incomplete, code, ctx);
            }
            RecvPhase::Body | RecvPhase::Trailers => {
                if st.checks_content_length() && st.content_length.is_some_and(|n| n != st.received)
                {
                    return self.malformed(id, MessageError::ContentLengthMismatch, ctx);
                }
                self.set_recv(id, RecvPhase::Done);
                self.emit(
                    ctx,
                    EventKind::Finished {
                        stream: StreamId(id),
                    },
                );
                self.settle_stream(id);
            }
            RecvPhase::Done => {}
        }
    }

    fn on_reset(&mut self, id: u64, err: u64, ctx: &mut Ctx<'_>) {
        let Some(st) = self.streams.get_mut(&id) else {
            // A request stream reset before its HEADERS were read (open,
            // reset, repeat: rapid reset). It never reaches the application
            // but quiche keeps state for it: count it.
            if self.is_server && is_request_stream(id) {
                self.next_request_id = self.next_request_id.max(id + 4);
                let _ = q!(self.q.stream_shutdown(
                    id,
                    quiche::Shutdown::Write,
                    code::H3_REQUEST_CANCELLED
                ));
                self.count_abnormal(ctx);
            }
            return;
        };
        if st.recv == RecvPhase::Done {
            return;
        }
        st.recv = RecvPhase::Done;
        let send_open = st.send != SendPhase::Done;
        st.send = SendPhase::Done;
        if send_open {
            let _ =
                q!(self
                    .q
                    .stream_shutdown(id, quiche::Shutdown::Write, code::H3_REQUEST_CANCELLED));
        }
        let stream = StreamId(id);
        if !self.is_server && err == code::H3_REQUEST_REJECTED {
            self.emit(ctx, EventKind::NotProcessed { stream });
        } else {
            self.emit(ctx, EventKind::Reset { stream, code: err });
            self.count_abnormal_stream(id, ctx);
        }
        self.settle_stream(id);
    }

    fn on_goaway(&mut self, id: u64, ctx: &mut Ctx<'_>) {
        self.peer_goaway = Some(self.peer_goaway.map_or(id, |p| p.min(id)));
        self.emit(ctx, EventKind::GoAway { id });
        if self.is_server {
            return;
        }
        // Client: requests at or above the id were not processed.
        let conn = self.handle;
        let q = &mut self.q;
        let events = &mut *ctx.events;
        self.streams.retain(|&sid, st| {
            if sid < id || st.recv == RecvPhase::Done {
                return true;
            }
            let _ = q!(q.stream_shutdown(sid, quiche::Shutdown::Read, code::H3_REQUEST_CANCELLED));
            let _ = q!(q.stream_shutdown(sid, quiche::Shutdown::Write, code::H3_REQUEST_CANCELLED));
            events.push_back(crate::event::Event {
                conn,
                kind: EventKind::NotProcessed {
                    stream: StreamId(sid),
                },
            });
            false
        });
    }

    /// After network input, reports returning capacity on streams the
    /// application waits on.
    pub(crate) fn drain_writable(&mut self, after_input: bool, ctx: &mut Ctx<'_>) {
        // Capacity returns with ACKs, MAX_DATA and loss recovery, i.e. after
        // datagrams and timeouts. Not checking after commands keeps a retry
        // that is refused again from spinning within one drain.
        if !(after_input && self.writable_waiters) {
            return;
        }
        self.writable_waiters = false;
        let conn = self.handle;
        let q = &mut self.q;
        let mut stopped = None;
        let mut waiters = false;
        let mut progress = false;
        for (&id, st) in self
            .streams
            .iter_mut()
            .filter(|(_, st)| st.writable_need > 0 && st.send != SendPhase::Done)
        {
            match q!(q.stream_capacity(id)) {
                // Capped so a need above the congestion window (a large
                // header block) still wakes the application to retry.
                Ok(cap) if cap >= (st.writable_need as usize).min(MAX_WRITABLE_WAIT) => {
                    st.writable_need = 0;
                    progress = true;
                    ctx.events.push_back(crate::event::Event {
                        conn,
                        kind: EventKind::Writable {
                            stream: StreamId(id),
                        },
                    });
                }
                Err(quiche::Error::StreamStopped(err)) => stopped = Some((id, err)),
                Ok(_) => waiters = true,
                Err(_) => st.writable_need = 0,
            }
        }
        self.writable_waiters = waiters;
        if progress {
            self.probes_unanswered = 0;
        }
        if let Some((id, err)) = stopped {
            // One per pass; the others are found on later passes.
            self.writable_waiters = true;
            self.on_stopped(id, err, ctx);
        }
    }

    fn on_stopped(&mut self, id: u64, err: u64, ctx: &mut Ctx<'_>) {
        let Some(st) = self.streams.get_mut(&id) else {
            return;
        };
        st.stop_seen = true;
        if st.send == SendPhase::Done {
            return;
        }
        st.send = SendPhase::Done;
        st.stopped = Some(err);
        st.writable_need = 0;
        self.emit(
            ctx,
            EventKind::StopSending {
                stream: StreamId(id),
                code: err,
            },
        );
        // A server may stop a request body with H3_NO_ERROR once it has
        // answered (RFC 9114 §4.1.1); a client stopping a response it is
        // still sent is cancelling it, whatever the code, and quiche's h3
        // layer keeps that stream's state: count it.
        if self.is_server || err != code::H3_NO_ERROR {
            self.count_abnormal_stream(id, ctx);
        }
        self.settle_stream(id);
    }

    /// Counts a tracked stream against the budget, once however many
    /// abnormal things happen to it (RESET_STREAM and STOP_SENDING both).
    pub(crate) fn count_abnormal_stream(&mut self, id: u64, ctx: &mut Ctx<'_>) {
        if let Some(st) = self.streams.get_mut(&id) {
            if st.abnormal {
                return;
            }
            st.abnormal = true;
        }
        self.count_abnormal(ctx);
    }

    fn set_recv(&mut self, id: u64, phase: RecvPhase) {
        if let Some(st) = self.streams.get_mut(&id) {
            st.recv = phase;
        }
    }

    /// Drops filo's entry once both directions are over. A server keeps
    /// the id until quiche has delivered it, so a GOAWAY drain does not
    /// close under data still in flight.
    pub(crate) fn settle_stream(&mut self, id: u64) {
        if self.streams.get(&id).is_some_and(StreamState::is_over) {
            self.streams.remove(&id);
            if self.is_server {
                self.note_undelivered(id);
            }
        }
    }

    fn note_undelivered(&mut self, id: u64) {
        // Pruned here when no drain is running (amortised), else on every
        // input by `advance_goaway`.
        if self.undelivered.len() >= self.undelivered.capacity().max(64) {
            let q = &mut self.q;
            self.undelivered.retain(|&s| {
                !matches!(
                    q!(q.stream_capacity(s)),
                    Err(quiche::Error::InvalidStreamState(_))
                )
            });
        }
        self.undelivered.push(id);
    }

    /// Finds streams the peer sent STOP_SENDING on. quiche re-lists a
    /// stopped stream for `stream_writable_next` only if it had no send
    /// capacity, so filo watches quiche's counter instead and scans its
    /// streams when it moves. Stops on streams filo does not track (never
    /// opened with HEADERS, or already finished) count as abnormal.
    pub(crate) fn detect_stop_sending(&mut self, ctx: &mut Ctx<'_>) {
        let total = q!(self.q.stats()).stopped_stream_count_remote;
        if total <= self.peer_stops {
            return;
        }
        let mut new = total - self.peer_stops;
        self.peer_stops = total;
        let q = &mut self.q;
        let mut found: smallvec::SmallVec<[(u64, u64); 8]> = smallvec::SmallVec::new();
        for (&id, st) in self.streams.iter_mut().filter(|(_, st)| !st.stop_seen) {
            if let Err(quiche::Error::StreamStopped(err)) = q!(q.stream_capacity(id)) {
                st.stop_seen = true;
                found.push((id, err));
            }
        }
        new = new.saturating_sub(found.len() as u64);
        for (id, err) in found {
            if self.is_closing() {
                break;
            }
            self.on_stopped(id, err, ctx);
        }
        // Stops on streams filo does not track are not counted: without
        // HEADERS quiche's h3 layer holds no state for them, and the QUIC
        // stream stays open (holding the peer's stream credit) until the
        // peer ends its side, so the stream limit bounds them.
        self.stats.untracked_stops += new;
    }

    /// Ends both directions of a stream with `err` (no event).
    pub(crate) fn abort_stream(&mut self, id: u64, err: u64) {
        if let Some(st) = self.streams.get_mut(&id) {
            if st.recv != RecvPhase::Done {
                let _ = q!(self.q.stream_shutdown(id, quiche::Shutdown::Read, err));
            }
            if st.send != SendPhase::Done {
                let _ = q!(self.q.stream_shutdown(id, quiche::Shutdown::Write, err));
            }
            st.recv = RecvPhase::Done;
            st.send = SendPhase::Done;
        }
        self.streams.remove(&id);
    }

    /// A malformed message: stream error H3_MESSAGE_ERROR.
    pub(crate) fn malformed(&mut self, id: u64, e: MessageError, ctx: &mut Ctx<'_>) {
        self.fail_stream(id, StreamFailure::Malformed(e), e.wire_code(), ctx);
    }

    /// Refuses a received message: ends the stream with `err`, tells the
    /// application, counts it against the abnormal-stream budget.
    pub(crate) fn fail_stream(
        &mut self,
        id: u64,
        reason: StreamFailure,
        err: u64,
        ctx: &mut Ctx<'_>,
    ) {
        // Counted before the entry goes, so a stream already counted (say,
        // stopped by the peer) is not counted twice.
        self.count_abnormal_stream(id, ctx);
        self.abort_stream(id, err);
        self.emit(
            ctx,
            EventKind::StreamFailed {
                stream: StreamId(id),
                reason,
            },
        );
    }

    /// Server: a request at or above our GOAWAY id, or past the request cap.
    /// A client can have at most one window of stream credit in flight when
    /// our GOAWAY reaches it; one that keeps sending past that (past the
    /// request cap, or past any GOAWAY) is closed with H3_EXCESSIVE_LOAD.
    fn reject(&mut self, id: u64, ctx: &mut Ctx<'_>) {
        self.count_abnormal_stream(id, ctx);
        self.abort_stream(id, code::H3_REQUEST_REJECTED);
        self.stats.rejected_requests += 1;
        if self.stats.rejected_requests > ctx.limits.max_streams_bidi {
            self.protocol_error(code::H3_EXCESSIVE_LOAD, b"requests past GOAWAY");
        }
    }

    /// Server: a request head over filo's soft limit gets 431 without
    /// reaching the application; the rest of the request is refused with
    /// STOP_SENDING(H3_NO_ERROR) (RFC 9114 §4.1.1).
    fn answer_431(&mut self, id: u64, size: u64, limit: u64, ctx: &mut Ctx<'_>) {
        self.count_abnormal_stream(id, ctx);
        let sent = self.h3.as_mut().is_some_and(|h3| {
            q!(h3.send_response(&mut self.q, id, &[(b":status", b"431")], true)).is_ok()
        });
        if sent {
            if let Some(st) = self.streams.get_mut(&id) {
                st.send = SendPhase::Done;
            }
            let _ = q!(self
                .q
                .stream_shutdown(id, quiche::Shutdown::Read, code::H3_NO_ERROR));
            if let Some(st) = self.streams.get_mut(&id) {
                st.recv = RecvPhase::Done;
            }
            self.streams.remove(&id);
        } else {
            self.abort_stream(id, code::H3_REQUEST_REJECTED);
        }
        let reason = StreamFailure::HeadersTooLarge { size, limit };
        self.emit(
            ctx,
            EventKind::StreamFailed {
                stream: StreamId(id),
                reason,
            },
        );
    }
}
