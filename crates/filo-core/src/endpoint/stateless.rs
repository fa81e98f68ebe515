//! Packets the endpoint sends without a connection (Version Negotiation,
//! Retry, stateless reset): a bounded queue of fixed buffers, and the
//! token bucket that rate-limits resets.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Largest stateless packet: a Version Negotiation echoing two 255-byte
/// CIDs (other versions allow them).
pub(crate) const MAX_STATELESS_LEN: usize = 1 + 4 + 1 + 255 + 1 + 255 + 4;
/// Stateless packets queued at most; more are dropped (counted).
pub(crate) const STATELESS_QUEUE_LEN: usize = 32;

pub(crate) struct StatelessPacket {
    pub(crate) to: SocketAddr,
    pub(crate) from: SocketAddr,
    pub(crate) len: usize,
    pub(crate) buf: [u8; MAX_STATELESS_LEN],
}

/// What became of a stateless packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Push {
    /// Queued for `poll_transmit`.
    Queued,
    /// The queue was full: dropped.
    Full,
    /// The writer produced nothing (quiche refused the inputs).
    NotWritten,
}

/// A bounded FIFO of stateless packets. Buffers are recycled, so steady
/// state allocates nothing.
#[derive(Default)]
pub(crate) struct StatelessQueue {
    queue: VecDeque<Box<StatelessPacket>>,
    // Boxed so buffers move between `queue` and `spare` as pointers.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<StatelessPacket>>,
}

impl std::fmt::Debug for StatelessQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatelessQueue")
            .field("queued", &self.queue.len())
            .finish()
    }
}

impl StatelessQueue {
    pub(crate) fn new() -> Self {
        Self {
            queue: VecDeque::with_capacity(STATELESS_QUEUE_LEN),
            spare: Vec::with_capacity(STATELESS_QUEUE_LEN),
        }
    }

    /// Queues a packet written by `write` (which returns its length, 0 to
    /// give up).
    pub(crate) fn push(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        write: impl FnOnce(&mut [u8]) -> usize,
    ) -> Push {
        if self.queue.len() >= STATELESS_QUEUE_LEN {
            return Push::Full;
        }
        let mut p = self.spare.pop().unwrap_or_else(|| {
            Box::new(StatelessPacket {
                to,
                from,
                len: 0,
                buf: [0; MAX_STATELESS_LEN],
            })
        });
        let len = write(&mut p.buf);
        if len == 0 {
            self.spare.push(p);
            return Push::NotWritten;
        }
        p.to = to;
        p.from = from;
        p.len = len;
        self.queue.push_back(p);
        Push::Queued
    }

    /// Copies the next packet into `out`; returns `(from, to, len)`.
    pub(crate) fn pop_into(&mut self, out: &mut [u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
        let p = self.queue.pop_front()?;
        let len = p.len.min(out.len());
        out[..len].copy_from_slice(&p.buf[..len]);
        let r = (p.from, p.to, len);
        self.spare.push(p);
        Some(r)
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` banked.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: u32,
    burst: u32,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate,
            burst,
            tokens: f64::from(burst),
            last: None,
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        let elapsed = self
            .last
            .map_or(Duration::ZERO, |l| now.saturating_duration_since(l));
        self.last = Some(now);
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * f64::from(self.rate)).min(f64::from(self.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_limits_burst_and_refills() {
        let t0 = crate::test_now();
        let mut b = TokenBucket::new(10, 3);
        assert!((0..3).all(|_| b.take(t0)));
        assert!(!b.take(t0));
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
    }

    #[test]
    fn queue_is_bounded_and_recycles() {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut q = StatelessQueue::new();
        for i in 0..STATELESS_QUEUE_LEN {
            assert_eq!(
                q.push(a, a, |b| {
                    b[0] = i as u8;
                    1
                }),
                Push::Queued
            );
        }
        assert_eq!(q.push(a, a, |_| 1), Push::Full);
        let mut out = [0u8; 8];
        assert_eq!(q.pop_into(&mut out), Some((a, a, 1)));
        assert_eq!(out[0], 0);
        assert_eq!(q.push(a, a, |_| 0), Push::NotWritten);
        assert_eq!(q.push(a, a, |_| 1), Push::Queued);
    }
}
