//! Transfer throughput in memory, filo-core beside the raw-quiche loop:
//! (a) 100 concurrent small GETs with 1 KiB responses, (b) one 64 MiB
//! response. Both on one connection; no sockets, no loss.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use filo_sim::{DirectPair, RawLoop, TestPki};

const SMALL: u64 = 100;
const BULK: usize = 64 << 20;

fn small_gets(c: &mut Criterion) {
    let pki = TestPki::new(&["localhost"]);
    let mut filo = DirectPair::new(&pki);
    filo.body = vec![0x61; 1024];
    let mut raw = RawLoop::new(&pki);
    let mut g = c.benchmark_group("transfer/get_1k_x100_concurrent");
    g.throughput(Throughput::Elements(SMALL));
    g.bench_function("filo-core", |b| b.iter(|| filo.requests(SMALL, SMALL)));
    g.bench_function("raw-quiche", |b| {
        b.iter(|| raw.get_many(SMALL as usize, SMALL as usize, 1024))
    });
    g.finish();
}

fn download(c: &mut Criterion) {
    let pki = TestPki::new(&["localhost"]);
    let mut filo = DirectPair::new(&pki);
    filo.body = vec![0x62; BULK];
    let mut raw = RawLoop::new(&pki);
    let mut g = c.benchmark_group("transfer/download_64mib");
    g.throughput(Throughput::Bytes(BULK as u64));
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    g.bench_function("filo-core", |b| b.iter(|| filo.requests(1, 1)));
    g.bench_function("raw-quiche", |b| b.iter(|| raw.get_many(1, 1, BULK)));
    g.finish();
}

criterion_group!(benches, small_gets, download);
criterion_main!(benches);
