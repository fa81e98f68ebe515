//! Allocations per request, per datagram and per handshake in steady state:
//! filo's own code (target 0), quiche inside filo's calls, and the totals
//! beside the raw-quiche loop doing the same work. A counting allocator
//! attributes every allocation on this thread (filo-core's `alloc-audit`
//! feature marks the calls into quiche).
//!
//! `cargo bench -p filo-benches --features alloc-audit --bench allocs`

#![allow(missing_docs)]

use filo_core::{AllocCounts, CountingAlloc, measure};
use filo_sim::{DirectPair, RawHandshakes, RawLoop, TestPki};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

fn line(what: &str, per: u64, filo: AllocCounts, raw: AllocCounts) {
    let f = |c: u64| c as f64 / per as f64;
    println!(
        "| {what} | {} | {:.2} | {:.2} | {:.2} |",
        filo.filo,
        f(filo.quiche),
        f(filo.filo + filo.quiche),
        f(raw.total)
    );
}

fn main() {
    let pki = TestPki::new(&["localhost"]);
    let mut filo = DirectPair::new(&pki);
    let mut raw = RawLoop::new(&pki);
    println!(
        "| per unit (steady state) | filo's own (total) | quiche inside filo calls | filo + quiche | raw-quiche loop |"
    );
    println!("|---|---|---|---|---|");

    // Requests: 100 concurrent GETs, 1 KiB responses, after a warm-up.
    let n = 2000;
    filo.body = vec![0x61; 1024];
    filo.requests(500, 100);
    raw.get_many(500, 100, 1024);
    let ((), f) = measure(|| filo.requests(n, 100));
    let (_, r) = measure(|| raw.get_many(n as usize, 100, 1024));
    line("request (GET 1 KiB, 100 concurrent)", n, f, r);

    // Datagrams: one 64 MiB response.
    let bulk = 64 << 20;
    filo.body = vec![0x62; bulk];
    filo.requests(1, 1);
    raw.get_many(1, 1, bulk);
    let d0 = filo.datagrams;
    let ((), f) = measure(|| filo.requests(1, 1));
    let datagrams = filo.datagrams - d0;
    let r0 = raw.datagrams;
    let (_, r) = measure(|| raw.get_many(1, 1, bulk));
    let raw_datagrams = raw.datagrams - r0;
    // Per datagram on each side's own count (they are within a few %).
    let fper = |c: u64| c as f64 / datagrams as f64;
    println!(
        "| datagram (64 MiB response; filo {datagrams}, raw {raw_datagrams} datagrams) | {} | {:.2} | {:.2} | {:.2} |",
        f.filo,
        fper(f.quiche),
        fper(f.filo + f.quiche),
        r.total as f64 / raw_datagrams as f64
    );

    // Handshakes (client and server both counted).
    let n = 200;
    let mut raw_hs = RawHandshakes::new(&pki);
    filo.handshakes(20);
    raw_hs.run(20);
    let ((), f) = measure(|| filo.handshakes(n));
    let ((), r) = measure(|| raw_hs.run(n));
    line("handshake (client + server)", n, f, r);
    println!(
        "\nfilo's own allocations in handshakes are per-connection setup (slots, maps, queues); the request and datagram rows are the steady state."
    );
}
