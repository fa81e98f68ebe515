//! A seeded, lossy link: the seed fixes every drop, duplicate, reorder and
//! corruption decision, datagram by datagram.

use std::time::Duration;

/// SplitMix64: small, fast and good enough to drive fault decisions.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
}

/// Faults and timing of a link, applied to every datagram crossing it.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram is held back behind up to `reorder_depth`
    /// later ones.
    pub reorder: f64,
    /// How many later datagrams a reordered one may fall behind.
    pub reorder_depth: u64,
    /// Probability one byte of a datagram is flipped.
    pub corrupt: f64,
    /// One-way delay.
    pub delay: Duration,
    /// Extra random delay, uniform in `0..jitter`.
    pub jitter: Duration,
    /// Datagrams longer than this are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    /// A perfect link: no faults, no delay, MTU 1500.
    fn default() -> Self {
        Self {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_depth: 4,
            corrupt: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            mtu: 1500,
        }
    }
}

impl LinkConfig {
    /// A link that drops `loss`, and duplicates and reorders half as often.
    pub fn lossy(loss: f64) -> Self {
        Self {
            loss,
            duplicate: loss / 2.0,
            reorder: loss / 2.0,
            ..Self::default()
        }
    }
}

/// What the link decided for one datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fate {
    /// Copies to deliver (0 = lost, 2 = duplicated).
    pub copies: u8,
    /// Extra ordering slots the datagram falls behind.
    pub reorder_by: u64,
    /// Byte to flip, if corrupted.
    pub corrupt_at: Option<usize>,
    /// Delay before delivery.
    pub delay: Duration,
}

impl LinkConfig {
    /// Decides a datagram's fate.
    pub fn decide(&self, rng: &mut Rng, len: usize) -> Fate {
        if len > self.mtu || rng.chance(self.loss) {
            return Fate::default();
        }
        let copies = if rng.chance(self.duplicate) { 2 } else { 1 };
        let reorder_by = if rng.chance(self.reorder) {
            1 + rng.below(self.reorder_depth.max(1))
        } else {
            0
        };
        let corrupt_at = rng
            .chance(self.corrupt)
            .then(|| rng.below(len as u64) as usize);
        let jitter = if self.jitter.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rng.below(self.jitter.as_nanos() as u64))
        };
        Fate {
            copies,
            reorder_by,
            corrupt_at,
            delay: self.delay + jitter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let link = LinkConfig::lossy(0.2);
        let run = |seed| {
            let mut r = Rng::new(seed);
            (0..200)
                .map(|_| link.decide(&mut r, 1200))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let lost = run(7).iter().filter(|f| f.copies == 0).count();
        assert!((10..80).contains(&lost), "{lost}");
    }

    #[test]
    fn mtu_drops() {
        let link = LinkConfig {
            mtu: 1200,
            ..LinkConfig::default()
        };
        let mut r = Rng::new(1);
        assert_eq!(link.decide(&mut r, 1201).copies, 0);
        assert_eq!(link.decide(&mut r, 1200).copies, 1);
    }
}
