//! filo's demo: 1000 HTTP/3 requests between a filo client and a filo
//! server over a lossy in-memory link, then throughput, loss and RTT.
//!
//! Options (environment): `FILO_DEMO_REQUESTS` (1000), `FILO_DEMO_LOSS`
//! (0.01), `FILO_DEMO_DELAY_MS` (1), `FILO_DEMO_SEED` (1).

// The demo is a caller of filo-core: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use filo_sim::{LinkConfig, Pair, PairConfig, RequestSpec, pattern_sha256};

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let requests: usize = env("FILO_DEMO_REQUESTS", 1000);
    let loss: f64 = env("FILO_DEMO_LOSS", 0.01);
    let delay_ms: u64 = env("FILO_DEMO_DELAY_MS", 1);
    let seed: u64 = env("FILO_DEMO_SEED", 1);
    let link = LinkConfig {
        loss,
        duplicate: loss / 4.0,
        reorder: loss / 2.0,
        delay: Duration::from_millis(delay_ms),
        jitter: Duration::from_millis(delay_ms / 5),
        ..LinkConfig::default()
    };
    println!(
        "filo demo: {requests} requests over an in-memory link \
         ({:.1}% loss, {delay_ms} ms one-way delay, seed {seed})",
        loss * 100.0
    );
    // Response sizes cycle through 1 KiB .. 256 KiB.
    let sizes = [1024u64, 4096, 16_384, 65_536, 262_144];
    let specs = (0..requests).map(|i| {
        let len = sizes[i % sizes.len()];
        RequestSpec::get(&format!("/bytes/{len}")).header("x-seed", &i.to_string())
    });
    let cfg = PairConfig {
        seed,
        link,
        ..PairConfig::default()
    };
    let mut pair = Pair::with_apps(cfg, specs);
    let start = Instant::now();
    let done = pair.run_requests(Duration::from_secs(300));
    let elapsed = start.elapsed();
    let conn = pair.conn;
    let stats = pair.client_ep().conn(conn).map(|c| c.stats());
    let server_conn = pair.server_app().connected.first().copied();
    let server_stats = server_conn.and_then(|h| pair.server_ep().conn(h).map(|c| c.stats()));
    let sim = pair.sim.stats;
    let app = pair.client_app();
    let mut ok = 0;
    let mut bytes = 0u64;
    for (i, key) in app.order.iter().enumerate() {
        let ex = &app.exchanges[key];
        let len = sizes[i % sizes.len()];
        if ex.finished
            && ex.status() == Some(200)
            && ex.body.sha256 == Some(pattern_sha256(i as u64, len))
        {
            ok += 1;
            bytes += ex.body.len;
        }
    }
    let secs = elapsed.as_secs_f64();
    println!("completed:   {ok}/{requests} requests, bodies verified by SHA-256");
    println!("elapsed:     {:.3} s", secs);
    println!(
        "throughput:  {:.0} requests/s, {:.1} Mbit/s of response bodies",
        ok as f64 / secs,
        bytes as f64 * 8.0 / secs / 1e6
    );
    println!(
        "link:        {} datagrams sent, {} lost ({:.2}%), {} duplicated, {} reordered, {} GSO batches",
        sim.sent,
        sim.lost,
        100.0 * sim.lost as f64 / sim.sent.max(1) as f64,
        sim.duplicated,
        sim.reordered,
        sim.gso_batches
    );
    for (side, s) in [("server", server_stats), ("client", stats)] {
        if let Some(s) = s {
            println!(
                "{side} conn: rtt {:.2} ms, cwnd {} B, {} packets sent, {} lost ({:.2}%), {} received",
                s.rtt.as_secs_f64() * 1e3,
                s.cwnd,
                s.packets_sent,
                s.packets_lost,
                100.0 * s.packets_lost as f64 / s.packets_sent.max(1) as f64,
                s.packets_recv
            );
        }
    }
    if !done || ok != requests {
        eprintln!(
            "demo failed: {ok}/{requests} requests verified; client errors {:?}",
            app.errors
        );
        std::process::exit(1);
    }
}
