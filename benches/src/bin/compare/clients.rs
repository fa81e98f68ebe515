//! The load: `tquic_client` runs (small requests, handshakes) and filo-mio
//! clients in this process (bulk download, idle connections).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use filo_core::{
    ClientTls, Config, ConnHandle, ConnectOptions, Endpoint, Event, EventKind, Limits, StreamId,
    code,
};
use filo_mio::Driver;
use mio::{Events, Poll, Token};

/// What one `tquic_client` run reported.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TquicRun {
    /// Successful requests per second (its own figure).
    pub(crate) req_per_sec: f64,
    /// Requests that succeeded.
    pub(crate) success: u64,
    /// Connections that failed.
    pub(crate) conn_failures: u64,
}

/// A `tquic_client` load: `conns` connections with `streams` requests in
/// flight each, `per_conn` requests per connection (0: unlimited), for
/// `secs` seconds, pinned to `core`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TquicLoad {
    /// Concurrent connections.
    pub(crate) conns: u32,
    /// Concurrent requests per connection.
    pub(crate) streams: u32,
    /// Requests per connection before a new one (0: unlimited).
    pub(crate) per_conn: u32,
    /// Response body size.
    pub(crate) body: u64,
}

/// Runs `tquic_client` against `addr` (CUBIC, h3, 1 thread).
pub(crate) fn tquic(
    bin: &Path,
    core: usize,
    addr: SocketAddr,
    load: TquicLoad,
    secs: u32,
) -> Result<TquicRun, String> {
    let url = format!(
        "https://localhost:{}/stream-bytes/{}",
        addr.port(),
        load.body
    );
    let out = Command::new("taskset")
        .arg("-c")
        .arg(core.to_string())
        .arg(bin)
        .args(["-c", &addr.to_string(), &url])
        .args(["--max-concurrent-conns", &load.conns.to_string()])
        .args(["--max-concurrent-requests", &load.streams.to_string()])
        .args(["--max-requests-per-conn", &load.per_conn.to_string()])
        .args(["--total-requests-per-thread", "0"])
        .args(["-d", &secs.to_string(), "-t", "1"])
        .args(["--congestion-control-algor", "CUBIC", "-a", "h3"])
        .args(["--log-level", "OFF"])
        .output()
        .map_err(|e| format!("tquic_client: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_tquic(&text).ok_or_else(|| {
        format!(
            "tquic_client: unexpected output (status {}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Reads `finished in .., X req/s`, `conns: ... failure N` and
/// `requests: ... success N` from tquic_client's summary.
fn parse_tquic(text: &str) -> Option<TquicRun> {
    let field = |prefix: &str, key: &str| -> Option<f64> {
        let line = text.lines().find(|l| l.starts_with(prefix))?;
        let after = &line[line.find(key)? + key.len()..];
        after
            .trim_start()
            .split(|c: char| c == ',' || c.is_whitespace())
            .next()?
            .parse()
            .ok()
    };
    let rate_line = text.lines().find(|l| l.starts_with("finished in"))?;
    let req_per_sec = rate_line
        .rsplit(", ")
        .next()?
        .strip_suffix(" req/s")?
        .parse()
        .ok()?;
    Some(TquicRun {
        req_per_sec,
        success: field("requests:", "success")? as u64,
        conn_failures: field("conns:", "failure")? as u64,
    })
}

/// A filo-mio client endpoint on its own `Poll`, trusting anything (the
/// benchmark identity is throwaway).
pub(crate) struct FiloClient {
    driver: Driver,
    poll: Poll,
    events: Events,
    buf: Vec<u8>,
}

/// Per-connection progress of [`FiloClient`] loads.
#[derive(Default)]
struct ConnState {
    connected: bool,
    stream: Option<StreamId>,
    status: Option<u16>,
    bytes: u64,
    done: bool,
    closed: bool,
}

impl FiloClient {
    /// A client with a loopback socket.
    pub(crate) fn new() -> Result<Self, String> {
        let config = Config::client(ClientTls::InsecureNoVerify, Limits::default())
            .map_err(|e| e.to_string())?;
        let mut driver = Driver::new(Endpoint::new(config));
        let poll = Poll::new().map_err(|e| format!("poll: {e}"))?;
        driver
            .bind(
                poll.registry(),
                "127.0.0.1:0".parse().expect("addr"),
                Token(0),
            )
            .map_err(|e| format!("bind: {e}"))?;
        Ok(Self {
            driver,
            poll,
            events: Events::with_capacity(256),
            buf: vec![0; 256 * 1024],
        })
    }

    /// One loop turn: send, wait at most 20 ms, receive, fire timers, hand
    /// every event to `on_event`.
    fn turn(
        &mut self,
        mut on_event: impl FnMut(&mut Endpoint, &mut [u8], Event),
    ) -> Result<(), String> {
        self.driver.flush(Instant::now());
        let wait = self
            .driver
            .timeout(Instant::now())
            .map_or(Duration::from_millis(20), |t| {
                t.min(Duration::from_millis(20))
            });
        match self.poll.poll(&mut self.events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let now = Instant::now();
        for ev in self.events.iter() {
            self.driver.handle_event(ev, now);
        }
        self.driver.handle_timeout(now);
        let ep = self.driver.endpoint();
        while let Some(ev) = ep.poll_event() {
            on_event(ep, &mut self.buf, ev);
        }
        Ok(())
    }

    /// Opens `n` connections to `addr` (at most `in_flight` handshaking at
    /// once), each fetching `/stream-bytes/{body}` once, and returns when
    /// every response has ended, or `limit` has passed (an error). The
    /// connections stay open (idle) until [`close_all`](Self::close_all).
    /// Returns the bytes received over all.
    pub(crate) fn fetch_on_new_conns(
        &mut self,
        addr: SocketAddr,
        n: usize,
        in_flight: usize,
        body: u64,
        limit: Duration,
    ) -> Result<u64, String> {
        let path = format!("/stream-bytes/{body}");
        let end = Instant::now() + limit;
        let mut conns: HashMap<ConnHandle, ConnState> = HashMap::new();
        let mut opened = 0;
        loop {
            let mut handshaking = conns.values().filter(|c| !c.connected && !c.closed).count();
            while opened < n && handshaking < in_flight {
                let h = self
                    .driver
                    .connect(Instant::now(), addr, "localhost", ConnectOptions::default())
                    .map_err(|e| format!("connect: {e}"))?;
                conns.insert(h, ConnState::default());
                opened += 1;
                handshaking += 1;
            }
            let mut failure = None;
            self.turn(|ep, buf, ev| on_fetch_event(ep, buf, ev, &mut conns, &path, &mut failure))?;
            if let Some(f) = failure {
                return Err(f);
            }
            if opened == n && conns.values().all(|c| c.done) {
                break;
            }
            if Instant::now() > end {
                let done = conns.values().filter(|c| c.done).count();
                return Err(format!("{done}/{n} fetches done in {limit:?}"));
            }
        }
        let bad = conns
            .values()
            .filter(|c| c.status != Some(200) || c.bytes != body)
            .count();
        if bad > 0 {
            return Err(format!(
                "{bad}/{n} responses were not 200 with {body} bytes"
            ));
        }
        Ok(conns.values().map(|c| c.bytes).sum())
    }

    /// Closes every connection (H3_NO_ERROR) and lets the closes go out.
    pub(crate) fn close_all(&mut self) -> Result<(), String> {
        let ep = self.driver.endpoint();
        let handles: Vec<ConnHandle> = ep.handles().collect();
        for h in handles {
            if let Some(mut c) = ep.conn(h) {
                c.close(code::H3_NO_ERROR, b"");
            }
        }
        let end = Instant::now() + Duration::from_secs(2);
        while self.driver.endpoint().connection_count() > 0 && Instant::now() < end {
            self.turn(|_, _, _| {})?;
        }
        Ok(())
    }
}

fn on_fetch_event(
    ep: &mut Endpoint,
    buf: &mut [u8],
    ev: Event,
    conns: &mut HashMap<ConnHandle, ConnState>,
    path: &str,
    failure: &mut Option<String>,
) {
    let Some(st) = conns.get_mut(&ev.conn) else {
        return;
    };
    match ev.kind {
        EventKind::Connected => {
            st.connected = true;
            let Some(mut c) = ep.conn(ev.conn) else {
                return;
            };
            let req = [
                (":method", "GET"),
                (":scheme", "https"),
                (":authority", "localhost"),
                (":path", path),
            ];
            match c.send_request(&req, true) {
                Ok(s) => st.stream = Some(s),
                Err(e) => *failure = Some(format!("send_request: {e}")),
            }
        }
        EventKind::Response { headers, fin, .. } => {
            st.status = headers.status();
            st.done |= fin;
        }
        EventKind::Data { stream } => {
            let Some(mut c) = ep.conn(ev.conn) else {
                return;
            };
            while let Ok(n) = c.recv_body(stream, buf) {
                if n == 0 {
                    break;
                }
                st.bytes += n as u64;
            }
        }
        EventKind::Finished { .. } => st.done = true,
        EventKind::Reset { code, .. } => *failure = Some(format!("stream reset {code:#x}")),
        EventKind::StreamFailed { reason, .. } => {
            *failure = Some(format!("stream failed: {reason:?}"))
        }
        EventKind::Closed { reason } => {
            st.closed = true;
            if !st.done {
                *failure = Some(format!("connection closed early: {reason:?}"));
            }
        }
        _ => {}
    }
}
