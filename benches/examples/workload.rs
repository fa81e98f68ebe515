//! Runs one in-memory workload on one side, for a profiler:
//!
//! ```text
//! cargo build --release -p filo-benches --example workload
//! perf record -g target/release/examples/workload small filo 20000
//! ```
//!
//! Workloads: `small` (GETs with 1 KiB responses, 100 concurrent; COUNT
//! requests), `bulk` (COUNT MiB in one response), `handshake` (COUNT
//! handshakes). Sides: `filo`, `raw`. Prints the rate and datagrams moved.

#![allow(clippy::disallowed_methods, missing_docs)]

use std::process::ExitCode;
use std::time::Instant;

use filo_sim::{DirectPair, RawHandshakes, RawLoop, TestPki};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(workload), Some(side)) = (args.first(), args.get(1)) else {
        eprintln!("usage: workload small|bulk|handshake filo|raw [COUNT]");
        return ExitCode::from(2);
    };
    let count: u64 = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(1000);
    let pki = TestPki::new(&["localhost"]);
    let start = Instant::now();
    let datagrams = match (workload.as_str(), side.as_str()) {
        ("small", "filo") => {
            let mut p = DirectPair::new(&pki);
            p.body = vec![0x61; 1024];
            let d0 = p.datagrams;
            p.requests(count, 100);
            p.datagrams - d0
        }
        ("small", "raw") => {
            let mut r = RawLoop::new(&pki);
            let d0 = r.datagrams;
            r.get_many(count as usize, 100, 1024);
            r.datagrams - d0
        }
        ("bulk", "filo") => {
            let mut p = DirectPair::new(&pki);
            p.body = vec![0x62; (count as usize) << 20];
            let d0 = p.datagrams;
            p.requests(1, 1);
            p.datagrams - d0
        }
        ("bulk", "raw") => {
            let mut r = RawLoop::new(&pki);
            let d0 = r.datagrams;
            r.get_many(1, 1, (count as usize) << 20);
            r.datagrams - d0
        }
        ("handshake", "filo") => {
            let mut p = DirectPair::new(&pki);
            let d0 = p.datagrams;
            p.handshakes(count);
            p.datagrams - d0
        }
        ("handshake", "raw") => {
            let mut r = RawHandshakes::new(&pki);
            r.run(count);
            0
        }
        _ => {
            eprintln!("unknown workload or side");
            return ExitCode::from(2);
        }
    };
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{workload} {side}: {count} in {secs:.3} s ({:.0}/s), {datagrams} datagrams",
        count as f64 / secs
    );
    ExitCode::SUCCESS
}
