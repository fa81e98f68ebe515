//! filo benchmarks.
