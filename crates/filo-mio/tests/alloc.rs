//! The driver adds no heap allocation per datagram in steady state.
//! A counting allocator sees every allocation on this thread while a driver
//! call runs; those made inside filo-core (its own code or quiche) are
//! attributed by filo-core's `alloc-audit` markers, the rest belong to the
//! driver. Run: `cargo test -p filo-mio --features alloc-audit --test alloc`.

// Tests are callers: they read the clock.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{Config, ConnectOptions, Endpoint, Limits};
use filo_mio::Driver;
use filo_sim::{ClientApp, NodeApp, RequestSpec, ServerApp, TestPki};
use mio::{Events, Poll, Token};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static DRIVER: Cell<u64> = const { Cell::new(0) };
    static CORE: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ON.try_with(|on| {
        if on.get() {
            if filo_core::in_filo_code() || filo_core::in_quiche() {
                CORE.with(|c| c.set(c.get() + 1));
            } else {
                DRIVER.with(|c| c.set(c.get() + 1));
            }
        }
    });
}

// SAFETY: forwards to the system allocator; counting touches only
// const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` (a driver call) with counting on.
fn counted<R>(f: impl FnOnce() -> R) -> R {
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
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
    DRIVER.with(|c| c.set(0));
    CORE.with(|c| c.set(0));
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
    let (driver, core) = (DRIVER.with(Cell::get), CORE.with(Cell::get));
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
