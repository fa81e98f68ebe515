//! filo-core's own hot paths: routing a datagram among 10,000 connections,
//! `poll_transmit` GSO batching, draining events, header validation.

// criterion's macros generate undocumented items.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use filo_benches::fixtures::{EventBurst, ManyConns};
use filo_core::validate::validate_request;
use filo_sim::{DirectPair, TestPki};

fn routing(c: &mut Criterion) {
    let pki = TestPki::new(&["localhost"]);
    let mut g = c.benchmark_group("micro/route_datagram");
    g.throughput(Throughput::Elements(1));
    for n in [1, 10_000] {
        let mut f = ManyConns::new(&pki, n);
        g.bench_with_input(BenchmarkId::new("connections", n), &n, |b, _| {
            b.iter(|| f.route_one())
        });
        if n == 10_000 {
            g.bench_function("unknown_cid", |b| b.iter(|| f.route_unknown()));
        }
    }
    g.finish();
}

fn batching(c: &mut Criterion) {
    const BODY: usize = 4 << 20;
    let pki = TestPki::new(&["localhost"]);
    let mut g = c.benchmark_group("micro/poll_transmit_4mib");
    g.throughput(Throughput::Bytes(BODY as u64));
    g.sample_size(20);
    for segments in [1, 16] {
        let mut p = DirectPair::new(&pki);
        p.body = vec![0x63; BODY];
        p.max_segments = segments;
        g.bench_with_input(
            BenchmarkId::new("max_segments", segments),
            &segments,
            |b, _| b.iter(|| p.requests(1, 1)),
        );
    }
    g.finish();
}

fn event_drain(c: &mut Criterion) {
    const N: usize = 100;
    let pki = TestPki::new(&["localhost"]);
    let mut f = EventBurst::new(&pki);
    let mut g = c.benchmark_group("micro/event_drain");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("requests_100", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| f.burst(N)).sum::<Duration>())
    });
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
    c.bench_function("micro/validate_request_8_fields", |b| {
        b.iter(|| validate_request(std::hint::black_box(&req)))
    });
}

criterion_group!(benches, routing, batching, event_drain, validation);
criterion_main!(benches);
