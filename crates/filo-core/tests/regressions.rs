//! Regression tests for defects found in review: each asserts the fixed
//! behaviour.

// Tests are callers of filo-core: they read the clock and pass it in.
#![allow(clippy::disallowed_methods)]
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::*;
use filo_sim::{TestPki, test_limits};

const CLIENT: &str = "10.0.0.1:40000";
const SERVER: &str = "10.0.0.2:443";

/// Two endpoints pumped by hand; events recorded.
struct P {
    client: Endpoint,
    server: Endpoint,
    conn: ConnHandle,
    buf: Vec<u8>,
    sdg: u64,
    cev: Vec<EventKind>,
    sev: Vec<(ConnHandle, EventKind)>,
}

impl P {
    fn new(cl: Limits, sl: Limits) -> Self {
        let pki = TestPki::new(&["localhost"]);
        let server = Endpoint::new(Config::server(pki.server_tls(), sl).expect("test setup"));
        let mut client = Endpoint::new(Config::client(pki.client_tls(), cl).expect("test setup"));
        let (c, s): (SocketAddr, SocketAddr) = (
            CLIENT.parse().expect("test setup"),
            SERVER.parse().expect("test setup"),
        );
        let conn = client
            .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
            .expect("test setup");
        P {
            client,
            server,
            conn,
            buf: vec![0; 65536],
            sdg: 0,
            cev: vec![],
            sev: vec![],
        }
    }
    fn pump(&mut self) {
        let now = Instant::now();
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(now, &mut self.buf, 1) {
                let meta = RecvMeta::new(t.to, t.from);
                self.server
                    .handle_datagram(now, meta, &mut self.buf[..t.len]);
                moved = true;
            }
            while let Some(t) = self.server.poll_transmit(now, &mut self.buf, 1) {
                self.sdg += 1;
                let meta = RecvMeta::new(t.to, t.from);
                self.client
                    .handle_datagram(now, meta, &mut self.buf[..t.len]);
                moved = true;
            }
            while let Some(ev) = self.server.poll_event() {
                moved = true;
                self.sev.push((ev.conn, ev.kind));
            }
            while let Some(ev) = self.client.poll_event() {
                moved = true;
                self.cev.push(ev.kind);
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
    fn connect(&mut self) -> ConnHandle {
        for _ in 0..2000 {
            self.pump();
            if self.cev.iter().any(|e| matches!(e, EventKind::Connected)) {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        self.sev
            .iter()
            .find(|(_, e)| matches!(e, EventKind::Accepted))
            .expect("accepted")
            .0
    }
}

const GET: [(&str, &str); 4] = [
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "localhost"),
    (":path", "/"),
];

#[test]
fn conn_view_stays_valid_after_close() {
    // quiche marks a connection closed at once when it never received a
    // packet; the view must not be freed under the caller.
    let pki = TestPki::new(&["localhost"]);
    let mut client = Endpoint::new(Config::client(pki.client_tls(), test_limits()).unwrap());
    let (c, s): (SocketAddr, SocketAddr) = (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    let h = client
        .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
        .unwrap();
    let mut conn = client.conn(h).unwrap();
    conn.close(0x100, b"bye");
    assert!(conn.is_closing());
    let _ = conn.stats();
    assert_eq!(conn.send_request(&GET, true), Err(SendRequestError::Closed));
    // The next endpoint call frees it and reports it.
    let ev = client.poll_event().expect("Closed event");
    assert!(matches!(
        ev.kind,
        EventKind::Closed {
            reason: CloseReason::Local {
                code: 0x100,
                app: true
            }
        }
    ));
    assert!(client.conn(h).is_none());
    assert_eq!(client.connection_count(), 0);
}

/// The server writes a large response to a client that never reads it
/// (flow control exhausted), pumping on `Writable`, for `run`.
fn non_reading_client(idle: Option<Duration>, run: Duration) -> (P, ConnHandle, u64) {
    let mut cl = test_limits();
    cl.stream_window = 64 << 10;
    cl.max_stream_window = 64 << 10;
    let mut sl = test_limits();
    if let Some(idle) = idle {
        cl.idle_timeout = idle;
        sl.idle_timeout = idle;
    }
    let mut p = P::new(cl, sl);
    let sconn = p.connect();
    let id = p
        .client
        .conn(p.conn)
        .expect("test setup")
        .send_request(&GET, true)
        .expect("test setup");
    for _ in 0..50 {
        p.pump();
    }
    let body = vec![7u8; 1 << 20];
    let mut c = p.server.conn(sconn).expect("test setup");
    c.send_response(id, &[(":status", "200")], false)
        .expect("test setup");
    let mut off = c.send_body(id, &body, false).expect("test setup");
    let t0 = Instant::now();
    let mut flow_blocked_at = None;
    let mut kept = Vec::new();
    while t0.elapsed() < run {
        p.pump();
        let evs: Vec<_> = p.sev.drain(..).collect();
        for (h, e) in evs {
            if let EventKind::Writable { .. } = e {
                if let Some(mut c) = p.server.conn(sconn)
                    && let Ok(n) = c.send_body(id, &body[off..], false)
                {
                    off += n;
                }
            } else {
                kept.push((h, e));
            }
        }
        if off >= 64 << 10 && flow_blocked_at.is_none() {
            flow_blocked_at = Some(p.sdg);
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    p.sev = kept;
    assert!(
        off <= (64 << 10) + 16_384,
        "flow control not enforced: {off}"
    );
    let after_block = p.sdg - flow_blocked_at.unwrap_or(p.sdg);
    (p, sconn, after_block)
}

#[test]
fn capacity_probe_gives_up_when_peer_withholds_flow_control() {
    let (_p, _sconn, datagrams) = non_reading_client(None, Duration::from_millis(1500));
    // A few probes (and their ACK exchange), not a steady stream of PINGs.
    assert!(
        datagrams < 20,
        "probe storm: {datagrams} server datagrams while blocked"
    );
}

#[test]
fn capacity_probe_does_not_defeat_idle_timeout() {
    let (mut p, sconn, _) =
        non_reading_client(Some(Duration::from_millis(300)), Duration::from_secs(3));
    assert!(
        p.server.conn(sconn).is_none(),
        "server connection kept alive by probes"
    );
    assert!(p.sev.iter().any(|(_, e)| matches!(
        e,
        EventKind::Closed {
            reason: CloseReason::IdleTimeout
        }
    )));
}

#[test]
fn server_counts_stop_sending_with_no_error() {
    let mut p = P::new(test_limits(), test_limits());
    let sconn = p.connect();
    let ids: Vec<_> = (0..10)
        .map(|_| {
            p.client
                .conn(p.conn)
                .unwrap()
                .send_request(&GET, true)
                .unwrap()
        })
        .collect();
    for _ in 0..50 {
        p.pump();
    }
    let body = vec![7u8; 200_000];
    for &id in &ids {
        let mut c = p.server.conn(sconn).unwrap();
        c.send_response(id, &[(":status", "200")], false).unwrap();
        let _ = c.send_body(id, &body, false);
        for _ in 0..5 {
            p.pump();
        }
    }
    for &id in &ids {
        p.client
            .conn(p.conn)
            .unwrap()
            .stop_sending(id, code::H3_NO_ERROR)
            .unwrap();
    }
    for _ in 0..200 {
        p.pump();
        std::thread::sleep(Duration::from_micros(200));
    }
    let st = p.server.conn(sconn).unwrap().stats();
    let stops = p
        .sev
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                EventKind::StopSending {
                    code: code::H3_NO_ERROR,
                    ..
                }
            )
        })
        .count();
    assert_eq!(stops, 10);
    // A client stopping responses it is still sent is cancelling them,
    // whatever the code: quiche keeps their h3 state.
    assert_eq!(st.abnormal_streams, 10);
}

#[test]
fn head_request_body_is_checked_against_content_length() {
    let mut p = P::new(test_limits(), test_limits());
    let _sconn = p.connect();
    let req = [
        (":method", "HEAD"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/"),
        ("content-length", "1"),
    ];
    let id = {
        let mut c = p.client.conn(p.conn).unwrap();
        let id = c.send_request(&req, false).unwrap();
        assert_eq!(c.send_body(id, &[1u8; 500], true).unwrap(), 500);
        id
    };
    let mut got = 0;
    for _ in 0..200 {
        p.pump();
        let evs: Vec<_> = p.sev.drain(..).collect();
        for (h, e) in evs {
            match e {
                EventKind::Data { stream } => {
                    let mut buf = [0u8; 4096];
                    let mut c = p.server.conn(h).unwrap();
                    while let Ok(n) = c.recv_body(stream, &mut buf) {
                        if n == 0 {
                            break;
                        }
                        got += n;
                    }
                }
                EventKind::StreamFailed { stream, reason } => {
                    assert_eq!(stream, id);
                    assert_eq!(
                        reason,
                        StreamFailure::Malformed(validate::MessageError::ContentLengthMismatch)
                    );
                    return;
                }
                EventKind::Finished { .. } => panic!("HEAD request body of {got} bytes accepted"),
                _ => {}
            }
        }
    }
    panic!("no StreamFailed for a HEAD body over its content-length ({got} bytes read)");
}

#[test]
fn empty_and_truncated_request_streams_are_incomplete() {
    use filo_sim::raw::{RawPeer, exchange, raw_config};
    let pki = TestPki::new(&["localhost"]);
    let mut ep = Endpoint::new(Config::server(pki.server_tls(), test_limits()).unwrap());
    let mut cfg = raw_config(quiche::PROTOCOL_VERSION);
    let ep_addr: SocketAddr = SERVER.parse().unwrap();
    let mut raw = RawPeer::client(&mut cfg, CLIENT.parse().unwrap(), ep_addr);
    let mut events = vec![];
    assert!(exchange(
        &mut ep,
        ep_addr,
        &mut raw,
        &mut events,
        Duration::from_secs(5),
        |r, _| r.h3.is_some()
    ));
    // Stream 0: FIN only. Stream 4: a truncated HEADERS frame, then FIN.
    raw.stream_send(0, b"", true);
    raw.stream_send(4, &[0x01, 0x20, 0, 0, 0x51], true);
    let done = exchange(
        &mut ep,
        ep_addr,
        &mut raw,
        &mut events,
        Duration::from_secs(2),
        |r, _| {
            // The raw peer's h3 layer reads the resets as events.
            [0u64, 4].iter().all(|&id| {
                r.events.iter().any(|(s, e)| {
                    *s == id
                        && matches!(e, quiche::h3::Event::Reset(c) if *c == code::H3_REQUEST_INCOMPLETE)
                })
            })
        },
    );
    assert!(
        done,
        "both streams must be reset with H3_REQUEST_INCOMPLETE"
    );
    let h = events[0].conn;
    let st = ep.conn(h).unwrap().stats();
    assert_eq!(st.incomplete_requests, 2);
    assert_eq!(st.abnormal_streams, 2);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Request { .. }))
    );
}

#[test]
fn headers_and_stop_sending_in_one_flight_hit_the_budget() {
    use filo_sim::raw::{RawPeer, exchange, headers_frame, raw_config};
    let pki = TestPki::new(&["localhost"]);
    let mut lim = test_limits();
    lim.abnormal_stream_budget = 5;
    let mut ep = Endpoint::new(Config::server(pki.server_tls(), lim).unwrap());
    let mut cfg = raw_config(quiche::PROTOCOL_VERSION);
    let ep_addr: SocketAddr = SERVER.parse().unwrap();
    let mut raw = RawPeer::client(&mut cfg, CLIENT.parse().unwrap(), ep_addr);
    let mut events = vec![];
    assert!(exchange(
        &mut ep,
        ep_addr,
        &mut raw,
        &mut events,
        Duration::from_secs(5),
        |r, _| r.h3.is_some()
    ));
    let h = events[0].conn;
    let hf = headers_frame(&[
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", b"/"),
    ]);
    let mut rounds = 0;
    for i in 0..50u64 {
        if raw.q.is_closed() || raw.q.peer_error().is_some() {
            break;
        }
        rounds += 1;
        let id = i * 4;
        raw.stream_send(id, &hf, true);
        raw.q
            .stream_shutdown(id, quiche::Shutdown::Read, 0x10c)
            .unwrap();
        events.clear();
        exchange(
            &mut ep,
            ep_addr,
            &mut raw,
            &mut events,
            Duration::from_millis(30),
            |_, _| false,
        );
        for e in events.drain(..) {
            if let EventKind::Request { stream, .. } = e.kind
                && let Some(mut c) = ep.conn(e.conn)
            {
                let _ = c.send_response(stream, &[(":status", "200")], true);
            }
        }
    }
    let err = raw.q.peer_error().expect("server closed the connection");
    assert_eq!(err.error_code, code::H3_EXCESSIVE_LOAD);
    assert!(
        rounds <= 8,
        "budget 5 closed the connection only after {rounds} rounds"
    );
    assert!(ep.conn(h).is_none_or(|c| c.is_closing()));
}

#[test]
fn foreign_token_is_treated_as_absent() {
    // RFC 9000 §8.1.3: a token the server cannot use (another server's
    // NEW_TOKEN) means "no token", not "drop". Rewrite a real client
    // Initial to carry a 20-byte token of another shape: under
    // RetryMode::Always it must get a Retry, not be dropped.
    let pki = TestPki::new(&["localhost"]);
    let mut lim = test_limits();
    lim.retry = RetryMode::Always;
    let mut server = Endpoint::new(Config::server(pki.server_tls(), lim).unwrap());
    let mut client = Endpoint::new(Config::client(pki.client_tls(), test_limits()).unwrap());
    let (c, s): (SocketAddr, SocketAddr) = (CLIENT.parse().unwrap(), SERVER.parse().unwrap());
    client
        .connect(Instant::now(), c, s, "localhost", ConnectOptions::default())
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let t = client.poll_transmit(Instant::now(), &mut buf, 1).unwrap();
    let d = &buf[..t.len];
    let dcid_len = usize::from(d[5]);
    let scid_len = usize::from(d[6 + dcid_len]);
    let token_at = 7 + dcid_len + scid_len;
    assert_eq!(d[token_at], 0, "client Initial carries no token");
    let mut forged = d[..token_at].to_vec();
    forged.push(20);
    forged.extend_from_slice(&[0xaa; 20]);
    forged.extend_from_slice(&d[token_at + 1..]);
    server.handle_datagram(Instant::now(), RecvMeta::new(t.to, t.from), &mut forged);
    let st = server.stats();
    assert_eq!(st.foreign_tokens, 1);
    assert_eq!(st.dropped.invalid_token, 0);
    assert_eq!(st.retries, 1);
    assert!(
        server.poll_transmit(Instant::now(), &mut buf, 1).is_some(),
        "Retry queued"
    );
}

#[test]
fn send_after_peer_stop_reports_stopped_with_its_code() {
    let mut p = P::new(test_limits(), test_limits());
    let sconn = p.connect();
    let post = [
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "localhost"),
        (":path", "/upload"),
    ];
    let id = {
        let mut c = p.client.conn(p.conn).unwrap();
        let id = c.send_request(&post, false).unwrap();
        c.send_body(id, &[1u8; 1000], false).unwrap();
        id
    };
    for _ in 0..50 {
        p.pump();
    }
    // The server refuses the upload; the response is still to come, so the
    // client's stream stays open.
    p.server
        .conn(sconn)
        .unwrap()
        .stop_sending(id, code::H3_REQUEST_CANCELLED)
        .unwrap();
    for _ in 0..50 {
        p.pump();
    }
    // Whether or not the application has handled `StopSending` yet, the
    // send side reports why it is gone (not `InvalidState`).
    assert_eq!(
        p.client
            .conn(p.conn)
            .unwrap()
            .send_body(id, &[2u8; 10], false),
        Err(StreamError::Stopped(code::H3_REQUEST_CANCELLED))
    );
    assert!(p.cev.iter().any(|e| matches!(
        e,
        EventKind::StopSending {
            code: code::H3_REQUEST_CANCELLED,
            ..
        }
    )));
}

/// Past the request cap the server sends GOAWAY; a client that ignores it
/// and keeps sending more than one window of stream credit is closed with
/// H3_EXCESSIVE_LOAD at once, while the served requests are still in flight
/// (an honest client, whose in-flight requests cross the GOAWAY, never
/// exceeds that window: see streams.rs's request-cap tests).
#[test]
fn requests_past_goaway_beyond_a_credit_window_close_the_connection() {
    use filo_sim::raw::{RawPeer, exchange, headers_frame, raw_config};
    let pki = TestPki::new(&["localhost"]);
    let mut lim = test_limits();
    lim.max_requests_per_connection = 5;
    lim.max_streams_bidi = 10;
    let mut ep = Endpoint::new(Config::server(pki.server_tls(), lim).unwrap());
    let mut cfg = raw_config(quiche::PROTOCOL_VERSION);
    let ep_addr: SocketAddr = SERVER.parse().unwrap();
    let mut raw = RawPeer::client(&mut cfg, CLIENT.parse().unwrap(), ep_addr);
    let mut events = vec![];
    assert!(exchange(
        &mut ep,
        ep_addr,
        &mut raw,
        &mut events,
        Duration::from_secs(5),
        |r, _| r.h3.is_some()
    ));
    let hf = headers_frame(&[
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":authority", b"localhost"),
        (b":path", b"/"),
    ]);
    let mut next = 0u64;
    for _ in 0..100 {
        if raw.q.is_closed() || raw.q.peer_error().is_some() {
            break;
        }
        // As many requests as stream credit allows, GOAWAY or not.
        while raw.q.peer_streams_left_bidi() > 0 && next < 400 {
            raw.stream_send(next, &hf, true);
            next += 4;
        }
        exchange(
            &mut ep,
            ep_addr,
            &mut raw,
            &mut events,
            Duration::from_millis(20),
            |_, _| false,
        );
        // The application never answers: the served requests stay in
        // flight, so the graceful drain cannot be what closes.
        events.clear();
    }
    assert!(
        raw.events
            .iter()
            .any(|(_, e)| matches!(e, quiche::h3::Event::GoAway)),
        "no GOAWAY at the request cap"
    );
    let err = raw.q.peer_error().expect("server closed the connection");
    assert_eq!(err.error_code, code::H3_EXCESSIVE_LOAD);
    // The rejection limit closed it, not the (10 s) drain timeout.
    assert_eq!(err.reason, b"requests past GOAWAY");
    // Closed soon after one credit window (10) of rejected requests, not
    // after hundreds.
    assert!(
        next <= 4 * (5 + 10 + 10 + 10),
        "closed only after {} requests",
        next / 4
    );
}
