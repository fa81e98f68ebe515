//! filo benchmarks. `cargo bench -p filo-benches` runs the criterion
//! benches in `benches/`: filo-core beside a raw-quiche loop doing the same
//! work in memory, and micro-benchmarks of filo's own hot paths.
