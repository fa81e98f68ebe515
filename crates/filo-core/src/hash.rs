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
