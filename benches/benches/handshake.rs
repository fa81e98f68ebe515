//! Full handshakes per second in memory (connect, TLS 1.3 with ECDSA P-256,
//! HTTP/3 set up on both sides, close), filo-core beside raw quiche.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use filo_sim::{DirectPair, RawHandshakes, TestPki};

fn handshakes(c: &mut Criterion) {
    let pki = TestPki::new(&["localhost"]);
    let mut filo = DirectPair::new(&pki);
    let mut raw = RawHandshakes::new(&pki);
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("filo-core", |b| b.iter(|| filo.handshakes(1)));
    g.bench_function("raw-quiche", |b| b.iter(|| raw.run(1)));
    g.finish();
}

criterion_group!(benches, handshakes);
criterion_main!(benches);
