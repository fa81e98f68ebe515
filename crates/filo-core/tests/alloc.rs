//! Allocation audit: filo's own code makes zero heap allocations per request
//! and per datagram in steady state. A counting allocator attributes every
//! allocation on the measuring thread to filo's code, to quiche (calls into
//! quiche are marked by filo-core's `alloc-audit` feature) or to the
//! harness. The totals are printed beside a minimal raw-quiche loop's.
//!
//! Run with `cargo test -p filo-core --features alloc-audit --test alloc -- --nocapture`.

use filo_core::{CountingAlloc, measure};
use filo_sim::{DirectPair, RawLoop, TestPki};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

#[test]
fn zero_filo_allocations_per_request_and_datagram() {
    let pki = TestPki::new(&["localhost"]);

    // --- filo: small GETs with 1 KiB responses ---
    let mut h = DirectPair::new(&pki);
    h.body = vec![0x61; 1024];
    h.requests(300, 10); // warm-up: maps, queues and buffers reach size
    let n = 1000;
    let ((), filo) = measure(|| h.requests(n, 10));
    assert_eq!(h.finished, 1300);

    // --- filo: bulk, one 8 MiB response ---
    h.body = vec![0x62; 8 << 20];
    let d0 = h.datagrams;
    let r0 = h.received;
    let ((), bulk) = measure(|| h.requests(1, 1));
    let datagrams = h.datagrams - d0;
    assert_eq!(h.received - r0, 8 << 20);

    // --- raw quiche: the same small GETs ---
    let mut raw = RawLoop::new(&pki);
    raw.get_many(300, 10, 1024);
    let (got, rawc) = measure(|| raw.get_many(n as usize, 10, 1024));
    assert_eq!(got, n * 1024);

    let per = |c: u64, d: u64| c as f64 / d as f64;
    println!("allocations per request (GET, 1 KiB response, 10 in flight, {n} requests):");
    println!(
        "  filo's own code: {} total = {:.3}/request",
        filo.filo,
        per(filo.filo, n)
    );
    println!(
        "  filo + quiche inside filo calls: {:.1}/request (quiche {:.1}, harness {:.1})",
        per(filo.filo + filo.quiche, n),
        per(filo.quiche, n),
        per(filo.total - filo.filo - filo.quiche, n)
    );
    println!("  raw quiche loop: {:.1}/request", per(rawc.total, n));
    println!("allocations per datagram (8 MiB response, {datagrams} datagrams):");
    println!(
        "  filo's own code: {} total; quiche inside filo calls {:.2}/datagram",
        bulk.filo,
        per(bulk.quiche, datagrams)
    );
    assert_eq!(
        filo.filo, 0,
        "filo's own code allocated in steady state (requests)"
    );
    assert_eq!(
        bulk.filo, 0,
        "filo's own code allocated in steady state (bulk)"
    );
    // The counter must see quiche's allocations, or the zero means nothing.
    assert!(
        filo.quiche > n,
        "counting allocator saw no quiche allocations"
    );
}
