//! Allocation audit: filo's own code makes zero heap allocations per request
//! and per datagram in steady state. A counting allocator attributes every
//! allocation on the measuring thread to filo's code, to quiche (calls into
//! quiche are marked by filo-core's `alloc-audit` feature) or to the
//! harness. The totals are printed beside a minimal raw-quiche loop's.
//!
//! Run with `cargo test -p filo-core --features alloc-audit --test alloc -- --nocapture`.

// Tests are callers of filo-core: they read the clock and pass it in.
#![allow(clippy::disallowed_methods)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Instant;

use filo_core::{
    Config, ConnHandle, ConnectOptions, Endpoint, EventKind, RecvMeta, StreamError, StreamId,
};
use filo_sim::{RawLoop, TestPki, test_limits};

struct Counting;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static TOTAL: Cell<u64> = const { Cell::new(0) };
    static FILO: Cell<u64> = const { Cell::new(0) };
    static QUICHE: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ON.try_with(|on| {
        if on.get() {
            TOTAL.with(|c| c.set(c.get() + 1));
            if filo_core::in_filo_code() {
                FILO.with(|c| c.set(c.get() + 1));
            } else if filo_core::in_quiche() {
                QUICHE.with(|c| c.set(c.get() + 1));
            }
        }
    });
}

// SAFETY: forwards every call to the system allocator unchanged; counting
// touches only const-initialised thread-locals, which never allocate.
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

#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    total: u64,
    filo: u64,
    quiche: u64,
}

/// Runs `f` with counting on; returns what it allocated.
fn measure<R>(f: impl FnOnce() -> R) -> (R, Counts) {
    let get = || Counts {
        total: TOTAL.with(Cell::get),
        filo: FILO.with(Cell::get),
        quiche: QUICHE.with(Cell::get),
    };
    let before = get();
    ON.with(|on| on.set(true));
    let r = f();
    ON.with(|on| on.set(false));
    let after = get();
    (
        r,
        Counts {
            total: after.total - before.total,
            filo: after.filo - before.filo,
            quiche: after.quiche - before.quiche,
        },
    )
}

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:443";

/// Two endpoints and the smallest possible application on each: the
/// server answers every request with `body`, the client reads responses.
struct Harness {
    client: Endpoint,
    server: Endpoint,
    conn: ConnHandle,
    buf: Vec<u8>,
    chunk: Vec<u8>,
    body: Vec<u8>,
    /// Server streams whose body is not fully sent: (conn, stream, offset).
    sending: Vec<(ConnHandle, StreamId, usize)>,
    connected: bool,
    finished: u64,
    received: u64,
    datagrams: u64,
}

impl Harness {
    fn new(pki: &TestPki) -> Self {
        let server =
            Endpoint::new(Config::server(pki.server_tls(), test_limits()).expect("server"));
        let mut client =
            Endpoint::new(Config::client(pki.client_tls(), test_limits()).expect("client"));
        let (c, s): (SocketAddr, SocketAddr) =
            (CLIENT.parse().expect("addr"), SERVER.parse().expect("addr"));
        let conn = client
            .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
            .expect("connect");
        let mut h = Self {
            client,
            server,
            conn,
            buf: vec![0; 65536],
            chunk: vec![0; 65536],
            body: Vec::new(),
            sending: Vec::with_capacity(256),
            connected: false,
            finished: 0,
            received: 0,
            datagrams: 0,
        };
        for _ in 0..1000 {
            h.pump();
            if h.connected {
                break;
            }
        }
        assert!(h.connected, "handshake");
        h
    }

    fn pump(&mut self) {
        let now = Instant::now();
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(now, &mut self.buf, 16) {
                self.datagrams += t.segments() as u64;
                let meta = RecvMeta {
                    local: t.to,
                    peer: t.from,
                    segment_size: Some(t.segment_size),
                };
                self.server
                    .handle_datagram(now, meta, &mut self.buf[..t.len]);
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit(now, &mut self.buf, 16) {
                self.datagrams += t.segments() as u64;
                let meta = RecvMeta {
                    local: t.to,
                    peer: t.from,
                    segment_size: Some(t.segment_size),
                };
                self.client
                    .handle_datagram(now, meta, &mut self.buf[..t.len]);
                moved = true;
            }
            while let Some(ev) = self.server.poll_event() {
                moved = true;
                let Some(mut c) = self.server.conn(ev.conn) else {
                    continue;
                };
                match ev.kind {
                    EventKind::Request { stream, .. } => {
                        c.send_response(stream, &[(":status", "200")], false)
                            .expect("response");
                        self.sending.push((ev.conn, stream, 0));
                    }
                    EventKind::Writable { .. } => {}
                    _ => {}
                }
            }
            let server = &mut self.server;
            let body = &self.body;
            self.sending.retain_mut(|(conn, stream, off)| {
                let Some(mut c) = server.conn(*conn) else {
                    return false;
                };
                match c.send_body(*stream, &body[*off..], true) {
                    Ok(n) => *off += n,
                    Err(StreamError::Blocked) => {}
                    Err(e) => panic!("send_body: {e}"),
                }
                *off < body.len()
            });
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                match ev.kind {
                    EventKind::Connected => self.connected = true,
                    EventKind::Data { stream } => {
                        let mut c = self.client.conn(ev.conn).expect("conn");
                        loop {
                            let n = c.recv_body(stream, &mut self.chunk).expect("recv_body");
                            if n == 0 {
                                break;
                            }
                            self.received += n as u64;
                        }
                    }
                    EventKind::Finished { .. } => self.finished += 1,
                    _ => {}
                }
            }
            if !moved {
                break;
            }
        }
        for ep in [&mut self.client, &mut self.server] {
            if ep.poll_timeout().is_some_and(|t| t <= Instant::now()) {
                ep.handle_timeout(Instant::now());
            }
        }
    }

    /// `n` GETs, `concurrency` in flight.
    fn requests(&mut self, n: u64, concurrency: u64) {
        const REQ: [(&str, &str); 4] = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "localhost"),
            (":path", "/"),
        ];
        let target = self.finished + n;
        let mut sent = self.finished;
        while self.finished < target {
            while sent < target && sent - self.finished < concurrency {
                let mut c = self.client.conn(self.conn).expect("conn");
                if c.send_request(&REQ, true).is_err() {
                    break;
                }
                sent += 1;
            }
            self.pump();
        }
    }
}

#[test]
fn zero_filo_allocations_per_request_and_datagram() {
    let pki = TestPki::new(&["localhost"]);

    // --- filo: small GETs with 1 KiB responses ---
    let mut h = Harness::new(&pki);
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
