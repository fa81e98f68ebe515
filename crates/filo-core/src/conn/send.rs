//! Building one transmit: a single datagram or a GSO batch of equal-size
//! segments to one destination, honouring quiche's release times.

use std::time::{Duration, Instant};

use super::Connection;
use crate::alloc_audit::q;
use crate::transmit::Transmit;

/// Linux GSO carries at most 64 segments and ~64 KB per send.
pub(crate) const MAX_GSO_BYTES: usize = 65_000;
pub(crate) const MAX_GSO_SEGMENTS: usize = 64;

/// What one attempt to fill a transmit from a connection produced.
#[derive(Debug)]
pub(crate) enum Batch {
    /// Packets were written; `more` says the connection may have more.
    Sent { transmit: Transmit, more: bool },
    /// Nothing to send now.
    Empty,
    /// The next packet may not leave before this instant (beyond the
    /// release horizon).
    Paced(Instant),
}

impl Connection {
    /// Writes up to `max_segments` packets into `buf`, each `send_on_path`
    /// call given a slice exactly one segment long so every segment but the
    /// last has the same size. The batch ends at the first shorter packet,
    /// at `max_segments`, at ~64 KB, at `send_quantum()` when paced, or at a
    /// packet whose release time is beyond `horizon`. (Unpaced, quiche's
    /// quantum only cut batches short: capping at it cost 15% more server
    /// CPU per GB on loopback bulk transfers.)
    pub(crate) fn build_batch(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        max_segments: usize,
        horizon: Duration,
    ) -> Batch {
        let seg = q!(self.q.max_send_udp_payload_size()).min(buf.len());
        if seg == 0 {
            return Batch::Empty;
        }
        let quantum = if self.paced {
            q!(self.q.send_quantum()).max(seg)
        } else {
            usize::MAX
        };
        let max_bytes = buf.len().min(MAX_GSO_BYTES).min(quantum);
        let max_segs = max_segments
            .clamp(1, MAX_GSO_SEGMENTS)
            .min((max_bytes / seg).max(1));
        let mut off = 0;
        let mut segments = 0;
        let mut first: Option<quiche::SendInfo> = None;
        let mut release = None;
        let mut more = true;
        while segments < max_segs {
            if let Some(decision) = q!(self.q.get_next_release_time())
                && let Some(at) = decision.time(now)
            {
                if now.checked_add(horizon).is_some_and(|h| at > h) {
                    if off == 0 {
                        return Batch::Paced(at);
                    }
                    break;
                }
                release.get_or_insert(at);
            }
            let out = &mut buf[off..off + seg];
            let res = match &first {
                None => q!(self.q.send_on_path(out, None, None)),
                Some(info) => q!(self.q.send_on_path(out, Some(info.from), Some(info.to))),
            };
            match res {
                Ok((n, info)) => {
                    off += n;
                    segments += 1;
                    first.get_or_insert(info);
                    if n < seg {
                        break;
                    }
                }
                Err(_) => {
                    // Done, or a fatal error after which quiche has closed
                    // the connection: either way nothing more now.
                    more = false;
                    break;
                }
            }
        }
        let Some(info) = first else {
            return Batch::Empty;
        };
        self.stats.datagrams_sent += segments as u64;
        Batch::Sent {
            transmit: Transmit {
                to: info.to,
                from: info.from,
                len: off,
                segment_size: if segments > 1 { seg } else { off },
                release,
            },
            more,
        }
    }
}
