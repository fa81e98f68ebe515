//! In-memory benchmarks: filo-core vs the raw-quiche baseline loop on the
//! same workload, and header validation.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use filo_core::validate::validate_request;
use filo_sim::{DirectPair, RawLoop, TestPki};

fn small_gets(c: &mut Criterion) {
    let pki = TestPki::new(&["localhost"]);
    let mut filo = DirectPair::new(&pki);
    filo.body = vec![0x61; 1024];
    let mut raw = RawLoop::new(&pki);
    let mut g = c.benchmark_group("get_1k_x100");
    g.throughput(Throughput::Elements(100));
    g.bench_function("filo-core", |b| b.iter(|| filo.requests(100, 10)));
    g.bench_function("raw-quiche", |b| b.iter(|| raw.get_many(100, 10, 1024)));
    g.finish();
}

fn validation(c: &mut Criterion) {
    let req = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/index.html?q=1"),
        ("user-agent", "filo-bench/1.0"),
        ("accept", "text/html,application/xhtml+xml"),
        ("accept-encoding", "gzip, br"),
        ("te", "trailers"),
    ];
    c.bench_function("validate_request_8_fields", |b| {
        b.iter(|| validate_request(std::hint::black_box(&req)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default();
    targets = small_gets, validation
}
criterion_main!(benches);
