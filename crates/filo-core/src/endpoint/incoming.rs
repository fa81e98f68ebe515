//! Received datagrams: routing by DCID, and the stateless answers to
//! datagrams no connection owns (Version Negotiation, Retry, stateless
//! reset), plus accepting new connections under the caps.

use std::net::SocketAddr;
use std::time::Instant;

use super::Endpoint;
use super::stateless::Push;
use crate::alloc_audit::{Scope, q};
use crate::cid::CidKey;
use crate::config::{RetryMode, Role};
use crate::event::{Event, EventKind};
use crate::packet::{
    Header, LongType, MIN_INITIAL_DATAGRAM, MIN_RESET_LEN, RESET_TOKEN_LEN, VERSION_1,
    write_stateless_reset,
};
use crate::retry::{MAX_TOKEN_LEN, RetryTokens, TokenError};
use crate::transmit::RecvMeta;

/// Largest stateless reset filo sends (it is also always shorter than the
/// packet that triggered it).
const MAX_RESET_LEN: usize = 64;

/// A new client's Initial, copied out of the datagram so the buffer can be
/// handed to quiche.
struct NewInitial {
    dcid: CidKey,
    scid: CidKey,
    token: [u8; MAX_TOKEN_LEN],
    token_len: usize,
    token_too_long: bool,
}

impl Endpoint {
    /// Handles one received UDP payload, or a GRO batch of them split by
    /// `meta.segment_size`. Each datagram is routed by its own DCID and
    /// decrypted in place in `data`. Datagrams no connection can use are
    /// dropped and counted in [`stats`](Self::stats); some are answered
    /// statelessly (Version Negotiation, Retry, stateless reset).
    ///
    /// The datagram goes to quiche at once; filo processes the connection
    /// (HTTP/3 events, timers, validation) once for all the datagrams it
    /// received, at the next output call (`poll_transmit`, `poll_event`,
    /// `handle_timeout`) or command (`conn`, `connect`). A receive batch
    /// therefore costs one pass per connection, not one per datagram.
    pub fn handle_datagram(&mut self, now: Instant, meta: RecvMeta, data: &mut [u8]) {
        let _scope = Scope::filo();
        self.note_now(now);
        match meta.segment_size {
            Some(stride) if stride > 0 && stride < data.len() => {
                for segment in data.chunks_mut(stride) {
                    self.handle_one(now, meta.local, meta.peer, segment);
                }
            }
            _ => self.handle_one(now, meta.local, meta.peer, data),
        }
    }

    /// Marks `slot` as having received datagrams not yet processed.
    fn defer_processing(&mut self, slot: u32, now: Instant) {
        let s = &mut self.slots[slot as usize];
        let generation = s.generation;
        let Some(conn) = s.conn.as_deref_mut() else {
            return;
        };
        if !conn.recv_pending {
            conn.recv_pending = true;
            self.recv_pending.push((slot, generation));
            self.recv_pending_since.get_or_insert(now);
        }
    }

    /// Processes every connection that received datagrams since the last
    /// output call, in the order they first received one.
    pub(crate) fn flush_recv(&mut self, now: Instant) {
        if self.recv_pending.is_empty() {
            return;
        }
        let mut list = std::mem::take(&mut self.recv_pending);
        for &(slot, generation) in &list {
            let Some(s) = self.slots.get_mut(slot as usize) else {
                continue;
            };
            let Some(conn) = s.conn.as_deref_mut() else {
                continue;
            };
            if s.generation != generation || !conn.recv_pending {
                continue;
            }
            conn.recv_pending = false;
            self.with_ctx(slot, |c, ctx| c.on_datagram(now, ctx));
            self.settle(slot);
        }
        list.clear();
        self.recv_pending = list;
        self.recv_pending_since = None;
    }

    /// `flush_recv` for calls that take no time: the last time seen.
    pub(crate) fn flush_recv_now(&mut self) {
        if self.recv_pending.is_empty() {
            return;
        }
        if let Some(now) = self.last_now {
            self.flush_recv(now);
        }
    }

    fn handle_one(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, buf: &mut [u8]) {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += buf.len() as u64;
        let is_server = self.cfg.role == Role::Server;
        let cid_len = self.cfg.cid_gen.cid_len();
        let Ok(hdr) = Header::parse(buf, cid_len) else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let len = buf.len();
        let route = self.routes.get(hdr.dcid());
        match hdr {
            Header::Long { version: 0, .. } => {
                // Version Negotiation: only a client that sent an Initial to
                // this CID may use it; never answered.
                match route {
                    Some(slot) if !is_server => self.recv_on(slot, now, local, peer, buf),
                    _ => self.stats.dropped.version_negotiation += 1,
                }
                return;
            }
            Header::Long {
                version,
                dcid,
                scid,
                ..
            } if version != VERSION_1 => {
                if is_server && len >= MIN_INITIAL_DATAGRAM {
                    self.send_version_negotiation(local, peer, scid, dcid);
                } else {
                    self.stats.dropped.unsupported_version += 1;
                }
                return;
            }
            Header::Long {
                ty: LongType::Initial,
                ..
            } if is_server && len < MIN_INITIAL_DATAGRAM => {
                // quiche does not enforce RFC 9000 §14.1 on receive.
                self.stats.dropped.short_initial += 1;
                return;
            }
            _ => {}
        }
        if let Some(slot) = route {
            self.recv_on(slot, now, local, peer, buf);
            return;
        }
        match hdr {
            Header::Short { .. } if self.reset_target(buf).is_some() => {
                // A stateless reset from a client connection's server: quiche
                // checks the token and closes the connection. Never answered.
                if let Some(slot) = self.reset_target(buf) {
                    self.stats.stateless_resets_received += 1;
                    self.recv_on(slot, now, local, peer, buf);
                }
            }
            Header::Short { dcid } => {
                self.stats.dropped.unknown_cid += 1;
                if let Some(key) = CidKey::new(dcid) {
                    self.maybe_reset(now, local, peer, key, len);
                }
            }
            Header::Long {
                ty: LongType::Initial,
                dcid,
                scid,
                token,
                ..
            } if is_server => {
                let token = token.unwrap_or(&[]);
                let (Some(dcid), Some(scid)) = (CidKey::new(dcid), CidKey::new(scid)) else {
                    self.stats.dropped.malformed += 1;
                    return;
                };
                let mut init = NewInitial {
                    dcid,
                    scid,
                    token: [0; MAX_TOKEN_LEN],
                    token_len: token.len().min(MAX_TOKEN_LEN),
                    token_too_long: token.len() > MAX_TOKEN_LEN,
                };
                init.token[..init.token_len].copy_from_slice(&token[..init.token_len]);
                self.on_new_initial(now, local, peer, init, buf);
            }
            Header::Long { .. } if !is_server => self.stats.dropped.not_a_server += 1,
            Header::Long { .. } => self.stats.dropped.unknown_cid += 1,
        }
    }

    /// Feeds a datagram to a connection; filo processes the connection once
    /// its datagrams in this batch are all in (`finish_recv`).
    fn recv_on(
        &mut self,
        slot: u32,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        buf: &mut [u8],
    ) {
        self.defer_processing(slot, now);
        self.with_ctx(slot, |c, _| {
            let info = quiche::RecvInfo {
                from: peer,
                to: local,
            };
            if q!(c.q.recv(buf, info)).is_err() {
                c.stats.recv_errors += 1;
            }
        });
    }

    /// A server's answer to an Initial for an unknown CID: caps, then Retry
    /// or token check, then a new connection.
    fn on_new_initial(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        init: NewInitial,
        buf: &mut [u8],
    ) {
        let l = &self.cfg.limits;
        if self.live >= l.max_connections {
            self.stats.dropped.connection_limit += 1;
            return;
        }
        if self.per_ip.get(&peer.ip()).copied().unwrap_or(0) as usize >= l.max_connections_per_ip {
            self.stats.dropped.per_ip_limit += 1;
            return;
        }
        let token = &init.token[..init.token_len];
        let checked = if init.token_too_long || !RetryTokens::is_filo_shaped(token) {
            Err(TokenError::Foreign)
        } else if init.dcid.as_slice().len() != self.cfg.cid_gen.cid_len() {
            // Our Retry SCIDs have our CID length: not an answer to one.
            Err(TokenError::Invalid)
        } else {
            self.retry
                .validate(self.millis(now), token, init.dcid.as_slice(), peer)
        };
        let odcid = match checked {
            // The Initial answers our Retry: its DCID is the Retry's SCID.
            Ok(odcid) => Some(odcid),
            Err(TokenError::Invalid) => {
                self.stats.dropped.invalid_token += 1;
                return;
            }
            Err(TokenError::Expired) => {
                self.stats.dropped.expired_token += 1;
                return;
            }
            Err(TokenError::Foreign) => {
                // No token, or one another server minted (RFC 9000
                // §8.1.3: proceed as if there were none).
                if init.token_len > 0 || init.token_too_long {
                    self.stats.foreign_tokens += 1;
                }
                let retry = match l.retry {
                    RetryMode::Never => false,
                    RetryMode::Always => true,
                    RetryMode::AboveHandshakes(n) => self.pending_handshakes >= n,
                };
                if retry {
                    self.send_retry(now, local, peer, &init);
                    return;
                }
                None
            }
        };
        if self.pending_handshakes >= self.cfg.limits.max_pending_handshakes {
            self.stats.dropped.handshake_limit += 1;
            return;
        }
        self.accept(now, local, peer, &init, odcid, buf);
    }

    fn accept(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        init: &NewInitial,
        odcid: Option<CidKey>,
        buf: &mut [u8],
    ) {
        // After a Retry the connection keeps the Retry's SCID (the DCID of
        // this Initial): quiche uses `scid` as the retry source CID.
        let (scid_key, client_dcid) = match odcid {
            Some(_) => (init.dcid, None),
            None => match self.fresh_cid() {
                Some(key) => (key, Some(init.dcid)),
                None => {
                    self.stats.dropped.cid_exhausted += 1;
                    return;
                }
            },
        };
        let scid = quiche::ConnectionId::from_ref(scid_key.as_slice());
        let token = u128::from_be_bytes(self.cfg.keys.reset_token(scid_key.as_slice()));
        self.cfg.quic.set_stateless_reset_token(Some(token));
        let odcid_ref = odcid
            .as_ref()
            .map(|k| quiche::ConnectionId::from_ref(k.as_slice()));
        let created = q!(quiche::accept(
            &scid,
            odcid_ref.as_ref(),
            local,
            peer,
            &mut self.cfg.quic
        ));
        let Ok(qconn) = created else {
            self.stats.dropped.malformed += 1;
            return;
        };
        let slot = self.insert(qconn, local, peer, now);
        // Feed the Initial; keep no state if it did not decrypt.
        let processed = self
            .with_ctx(slot, |c, _| {
                let info = quiche::RecvInfo {
                    from: peer,
                    to: local,
                };
                let _ = q!(c.q.recv(buf, info));
                q!(c.q.stats()).recv > 0 && !q!(c.q.is_closed())
            })
            .unwrap_or(false);
        if !processed {
            self.discard(slot);
            self.stats.dropped.undecryptable_initial += 1;
            return;
        }
        self.routes.insert(scid_key, slot);
        let mut dcid_routed = false;
        if let Some(d) = client_dcid {
            dcid_routed = self.routes.insert(d, slot);
        }
        *self.per_ip.entry(peer.ip()).or_insert(0) += 1;
        self.pending_handshakes += 1;
        self.stats.connections_opened += 1;
        let handle = self.handle_of(slot);
        let s = &mut self.slots[slot as usize];
        s.pending = true;
        if let Some(c) = s.conn.as_deref_mut() {
            c.routed.push(scid_key);
            if dcid_routed {
                c.client_dcid = client_dcid;
            }
            c.surfaced = true;
        }
        self.events.push_back(Event {
            conn: handle,
            kind: EventKind::Accepted,
        });
        self.defer_processing(slot, now);
    }

    /// Drops a connection that never surfaced (no event).
    fn discard(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        if s.conn.take().is_some() {
            s.generation = s.generation.wrapping_add(1);
            self.live -= 1;
            self.free.push(slot);
        }
    }

    fn send_version_negotiation(
        &mut self,
        local: SocketAddr,
        peer: SocketAddr,
        scid: &[u8],
        dcid: &[u8],
    ) {
        let pushed = self.stateless.push(local, peer, |out| {
            let s = quiche::ConnectionId::from_ref(scid);
            let d = quiche::ConnectionId::from_ref(dcid);
            q!(quiche::negotiate_version(&s, &d, out)).unwrap_or(0)
        });
        match pushed {
            Push::Queued => self.stats.version_negotiations += 1,
            Push::Full => self.stats.dropped.stateless_queue_full += 1,
            Push::NotWritten => {}
        }
    }

    fn send_retry(&mut self, now: Instant, local: SocketAddr, peer: SocketAddr, init: &NewInitial) {
        let Some(new_scid) = self.fresh_cid() else {
            self.stats.dropped.cid_exhausted += 1;
            return;
        };
        let mut token = [0u8; MAX_TOKEN_LEN];
        let n = self.retry.mint(
            self.millis(now),
            init.dcid.as_slice(),
            new_scid.as_slice(),
            peer,
            &mut token,
        );
        let pushed = self.stateless.push(local, peer, |out| {
            let scid = quiche::ConnectionId::from_ref(init.scid.as_slice());
            let dcid = quiche::ConnectionId::from_ref(init.dcid.as_slice());
            let new = quiche::ConnectionId::from_ref(new_scid.as_slice());
            q!(quiche::retry(
                &scid,
                &dcid,
                &new,
                &token[..n],
                VERSION_1,
                out
            ))
            .unwrap_or(0)
        });
        match pushed {
            Push::Queued => self.stats.retries += 1,
            Push::Full => self.stats.dropped.stateless_queue_full += 1,
            Push::NotWritten => {}
        }
    }

    /// Answers a short-header packet for an unknown CID with a stateless
    /// reset: only if it could carry a CID we issued, always shorter than
    /// it, at least 21 bytes, within the rate limit.
    fn maybe_reset(
        &mut self,
        now: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        dcid: CidKey,
        trigger: usize,
    ) {
        let cid_len = self.cfg.cid_gen.cid_len();
        // Smallest packet that could carry our CID: first byte, CID, a
        // 1-byte packet number, 4 bytes of payload and a 16-byte tag
        // (RFC 9000 §10.3: the reset must be smaller than the trigger).
        if trigger < (1 + cid_len + 1 + 4 + 16).max(MIN_RESET_LEN + 1) {
            return;
        }
        if !self.resets.take(now) {
            self.stats.resets_rate_limited += 1;
            return;
        }
        let token: [u8; RESET_TOKEN_LEN] = self.cfg.keys.reset_token(dcid.as_slice());
        let len = (trigger - 1).min(MAX_RESET_LEN);
        let pushed = self
            .stateless
            .push(local, peer, |out| write_stateless_reset(out, len, &token));
        match pushed {
            Push::Queued => self.stats.resets_sent += 1,
            Push::Full => self.stats.dropped.stateless_queue_full += 1,
            Push::NotWritten => {}
        }
    }
}
