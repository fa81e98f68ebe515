//! filo-core / raw quiche on each in-memory workload, as ratios measured in
//! the same run: for every workload, rounds of filo-core and of the
//! raw-quiche loop alternate (which goes first alternates too), and the
//! table reports each side's median rate and the ratio's median and spread.
//!
//! `cargo bench -p filo-benches --bench ratios`; `FILO_BENCH_ROUNDS`
//! (default 9) sets the rounds. The table is printed and written, with a
//! JSON copy, to `$FILO_BENCH_OUT` (default: cargo's bench tmp dir).

// A harness reads the clock.
#![allow(clippy::disallowed_methods, missing_docs)]

use std::path::PathBuf;

use filo_benches::rounds::{Row, interleave, json, markdown};
use filo_sim::{DirectPair, RawHandshakes, RawLoop, TestPki};

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`)
    // does not, and gets one quick round.
    let benching = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("FILO_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if benching { 9 } else { 1 });
    let scale = if benching { 1 } else { 16 };
    let pki = TestPki::new(&["localhost"]);
    let mut rows = Vec::new();

    // (a) 100 concurrent small GETs, 1 KiB responses; 2000 per round.
    let n = 2000 / scale as u64;
    let mut filo = DirectPair::new(&pki);
    filo.body = vec![0x61; 1024];
    let mut raw = RawLoop::new(&pki);
    let r = interleave(
        1,
        rounds,
        || filo.requests(n, 100),
        || {
            raw.get_many(n as usize, 100, 1024);
        },
    );
    rows.extend(Row::from_rounds(
        "GET 1 KiB x100 concurrent",
        " req/s",
        n as f64,
        &r,
    ));

    // (b) one 64 MiB response per round.
    let bulk = (64 << 20) / scale;
    filo.body = vec![0x62; bulk];
    let r = interleave(
        1,
        rounds,
        || filo.requests(1, 1),
        || {
            raw.get_many(1, 1, bulk);
        },
    );
    rows.extend(Row::from_rounds(
        "one 64 MiB response",
        "bit/s",
        bulk as f64 * 8.0,
        &r,
    ));

    // (c) full handshakes, 200 per round.
    let n = 200 / scale as u64;
    let mut raw_hs = RawHandshakes::new(&pki);
    let r = interleave(1, rounds, || filo.handshakes(n), || raw_hs.run(n));
    rows.extend(Row::from_rounds("handshakes", " hs/s", n as f64, &r));

    let md = markdown(&rows, "filo-core", "raw quiche");
    println!("\nfilo-core / raw quiche, in memory ({rounds} interleaved rounds):\n\n{md}");
    let out = std::env::var_os("FILO_BENCH_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    let written = std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(out.join("ratios.md"), &md))
        .and_then(|()| {
            std::fs::write(
                out.join("ratios.json"),
                json(&rows, "filo-core", "raw quiche"),
            )
        });
    match written {
        Ok(()) => println!("written to {}", out.join("ratios.{md,json}").display()),
        Err(e) => eprintln!("ratios: cannot write to {}: {e}", out.display()),
    }
}
