//! filo's benchmarks.
//!
//! - `cargo bench -p filo-benches` runs the criterion benches in `benches/`
//!   (`transfer`, `handshake`, `micro`: filo-core beside a raw-quiche loop
//!   doing the same work in memory, and filo's own hot paths) and `ratios`,
//!   which interleaves filo-core and raw-quiche rounds and prints
//!   **filo-core / raw quiche** per workload (median and spread).
//! - `cargo bench -p filo-benches --features alloc-audit --bench allocs`
//!   counts allocations per request, per datagram and per handshake.
//! - The `compare` binary (`make compare`) runs real servers on loopback
//!   sockets against a neutral load generator; see `docs/performance.md`.
//!
//! This library holds what those share: the in-memory fixtures and the
//! interleaved-rounds statistics.

pub mod fixtures;
pub mod procstat;
pub mod rounds;
