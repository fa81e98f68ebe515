//! The driver adds no heap allocation per datagram in steady state.
//! A counting allocator sees every allocation on this thread while a driver
//! call runs; those made inside filo-core (its own code or quiche) are
//! attributed by filo-core's `alloc-audit` markers, the rest belong to the
//! driver. Run: `cargo test -p filo-mio --features alloc-audit --test alloc`.

// Tests are callers: they read the clock.
#![allow(clippy::disallowed_methods)]

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{AllocCounts, Config, ConnectOptions, CountingAlloc, Endpoint, Limits, measure};
use filo_mio::Driver;
use filo_sim::{ClientApp, NodeApp, RequestSpec, ServerApp, TestPki};
use mio::{Events, Poll, Token};

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

thread_local! {
    /// Allocations during driver calls, summed.
    static SEEN: Cell<AllocCounts> = const { Cell::new(AllocCounts { total: 0, filo: 0, quiche: 0 }) };
}

/// Runs `f` (a driver call) counting its allocations.
fn counted<R>(f: impl FnOnce() -> R) -> R {
    let (r, c) = measure(f);
    SEEN.with(|s| {
        let mut v = s.get();
        v += c;
        s.set(v);
    });
    r
}

fn turn(poll: &mut Poll, events: &mut Events, nodes: &mut [(&mut Driver, &mut dyn NodeApp)]) {
    let now = Instant::now();
    for (d, _) in nodes.iter_mut() {
        counted(|| d.flush(now));
    }
    let timeout = nodes
        .iter()
        .filter_map(|(d, _)| d.timeout(now))
        .min()
        .map_or(Duration::from_millis(20), |t| {
            t.min(Duration::from_millis(20))
        });
    poll.poll(events, Some(timeout)).expect("poll");
    let now = Instant::now();
    for ev in events.iter() {
        for (d, _) in nodes.iter_mut() {
            if d.owns(ev.token()) {
                counted(|| d.handle_event(ev, now));
            }
        }
    }
    for (d, app) in nodes.iter_mut() {
        counted(|| d.handle_timeout(now));
        while let Some(e) = d.endpoint().poll_event() {
            app.on_event(d.endpoint(), e);
        }
    }
}

#[test]
fn driver_allocates_nothing_per_datagram() {
    let pki = TestPki::new(&["localhost"]);
    let mut poll = Poll::new().expect("poll");
    let mut limits = Limits::default();
    limits.initial_rtt = Duration::from_millis(10);
    let mut srv = Driver::new(Endpoint::new(
        Config::server(pki.server_tls(), limits.clone()).expect("server"),
    ));
    let mut cli = Driver::new(Endpoint::new(
        Config::client(pki.client_tls(), limits).expect("client"),
    ));
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let saddr = srv.bind(poll.registry(), any, Token(1)).expect("bind");
    cli.bind(poll.registry(), any, Token(2)).expect("bind");
    cli.connect(
        Instant::now(),
        saddr,
        "localhost",
        ConnectOptions::default(),
    )
    .expect("connect");
    let mut sapp = ServerApp::new();
    let mut capp = ClientApp::new([RequestSpec::get("/bytes/4194304")]);
    let mut events = Events::with_capacity(256);
    let deadline = Instant::now() + Duration::from_secs(30);
    // Warm-up: handshake and a first transfer.
    while !capp.all_done() && Instant::now() < deadline {
        turn(
            &mut poll,
            &mut events,
            &mut [(&mut srv, &mut sapp), (&mut cli, &mut capp)],
        );
    }
    assert!(capp.all_done());
    let conn = capp.connected[0];
    SEEN.with(|s| s.set(AllocCounts::default()));
    let (s0, c0) = (srv.stats(), cli.stats());
    capp.queue(RequestSpec::get("/bytes/16777216"));
    capp.send_pending(cli.endpoint(), conn);
    while !capp.all_done() && Instant::now() < deadline {
        turn(
            &mut poll,
            &mut events,
            &mut [(&mut srv, &mut sapp), (&mut cli, &mut capp)],
        );
    }
    assert!(capp.all_done());
    let ex = &capp.exchanges[&capp.order[1]];
    assert_eq!(ex.body.len, 16 << 20);
    let datagrams = (srv.stats().datagrams_sent - s0.datagrams_sent)
        + (cli.stats().datagrams_sent - c0.datagrams_sent);
    let seen = SEEN.with(Cell::get);
    // Inside filo-core: its own code or quiche; the rest is the driver's.
    let (driver, core) = (seen.other(), seen.filo + seen.quiche);
    println!(
        "16 MiB download, {datagrams} datagrams: driver allocations {driver}, \
         inside filo-core/quiche {core} ({:.2}/datagram)",
        core as f64 / datagrams as f64
    );
    assert!(
        core > 0,
        "the counter saw nothing: the measurement is broken"
    );
    assert_eq!(driver, 0, "the driver allocated in steady state");
}
