//! The hasher of filo's maps. SipHash under a per-process random key
//! (`RandomState`) so peers cannot aim collisions at tables keyed by their
//! bytes; in `fuzz` builds a fixed key, so map iteration (and with it the
//! order of some events) replays exactly.

#[cfg(not(feature = "fuzz"))]
pub(crate) type MapHasher = std::hash::RandomState;

#[cfg(feature = "fuzz")]
pub(crate) type MapHasher = std::hash::BuildHasherDefault<std::hash::DefaultHasher>;

/// A map with filo's hasher.
pub(crate) type Map<K, V> = std::collections::HashMap<K, V, MapHasher>;

/// An empty map with room for `n` entries.
pub(crate) fn map_with_capacity<K, V>(n: usize) -> Map<K, V> {
    Map::with_capacity_and_hasher(n, MapHasher::default())
}

/// Hashes a stream id (the only key it takes): a multiply and a fold, no
/// key. Peers cannot aim collisions with it: the ids they may use are
/// bounded by the stream limits (at most `max_streams_bidi` open plus the
/// abnormal-stream budget), so a map keyed by them stays small whatever
/// ids arrive. SipHash was 2% of a small-request workload.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamIdHasher(u64);

impl std::hash::Hasher for StreamIdHasher {
    fn finish(&self) -> u64 {
        // Stream ids step by 4; spread them over the low bits (bucket
        // index) and the high bits (hashbrown's tag) alike.
        let h = (self.0 >> 2).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        h ^ (h >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; kept total for any other key.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// A map keyed by stream id.
pub(crate) type StreamMap<V> =
    std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<StreamIdHasher>>;

/// An empty stream map with room for `n` entries.
pub(crate) fn stream_map_with_capacity<V>(n: usize) -> StreamMap<V> {
    StreamMap::with_capacity_and_hasher(n, Default::default())
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::StreamIdHasher;

    #[test]
    fn stream_ids_spread_over_buckets_and_tags() {
        let b = BuildHasherDefault::<StreamIdHasher>::default();
        let hashes: Vec<u64> = (0..256u64).map(|i| b.hash_one(i * 4)).collect();
        let low: std::collections::HashSet<u64> = hashes.iter().map(|h| h & 255).collect();
        let tags: std::collections::HashSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(
            low.len() > 150,
            "bucket bits: {} distinct of 256",
            low.len()
        );
        assert!(tags.len() > 64, "tag bits: {} distinct of 128", tags.len());
    }
}
