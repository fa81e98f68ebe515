//! The benchmark server: `GET /stream-bytes/N` answers N bytes of `0x57`
//! from one static buffer (the route and body tokio-quiche's
//! `async_http3_server` example serves), anything else 404. No logging, no
//! files: the cost measured is filo-mio's and quiche's. `make compare`
//! (issue 6) loads it beside tokio-quiche and the raw-quiche server.
//!
//! ```text
//! cargo run --release -p filo-mio --example bench_server -- \
//!     --cert cert.pem --key key.pem [--listen ADDR]
//! ```
//!
//! Prints `listening on ADDR` once bound, then serves until killed.

#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use filo_core::{
    Config, ConnHandle, Endpoint, Event, EventKind, HeaderList, Limits, ServerTls, StreamError,
    StreamId,
};
use filo_mio::Driver;
use mio::{Poll, Token};

const USAGE: &str = "\
Usage: bench_server --cert PEM --key PEM [--listen ADDR]

GET /stream-bytes/N answers N bytes of 0x57; anything else 404.

Options:
  --listen ADDR   UDP address (default 127.0.0.1:4433; port 0 picks one)
  --cert PEM      certificate chain file (leaf first)
  --key PEM       private key file
  --recv-budget N receive buffers read per loop turn (Driver::set_recv_budget)
  --help          print this help
";

/// The body every response is cut from.
static BODY: [u8; 64 * 1024] = [0x57; 64 * 1024];

struct Args {
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    recv_budget: Option<usize>,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen: SocketAddr = "127.0.0.1:4433".parse().expect("default address");
    let (mut cert, mut key, mut recv_budget) = (None, None, None);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--listen" => {
                let v = value()?;
                listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--cert" => cert = Some(PathBuf::from(value()?)),
            "--key" => key = Some(PathBuf::from(value()?)),
            "--recv-budget" => {
                let v = value()?;
                recv_budget = Some(v.parse().map_err(|e| format!("--recv-budget {v}: {e}"))?);
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(Some(Args {
        listen,
        cert: cert.ok_or("--cert is required")?,
        key: key.ok_or("--key is required")?,
        recv_budget,
    }))
}

fn main() -> ExitCode {
    match parse_args(std::env::args().skip(1)) {
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench_server: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("bench_server: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// The limits a load test needs: many connections from one address, no
/// request cap, no Retry (a benchmark measures handshakes, not address
/// validation). Everything else is filo's default.
fn bench_limits() -> Limits {
    let mut l = Limits::default();
    l.max_connections = 100_000;
    l.max_connections_per_ip = 100_000;
    l.max_pending_handshakes = 100_000;
    l.max_requests_per_connection = u64::MAX;
    l.retry = filo_core::RetryMode::Never;
    l
}

fn serve(args: Args) -> Result<(), String> {
    let tls = ServerTls::PemFiles {
        cert_chain: args.cert,
        key: args.key,
    };
    let config = Config::server(tls, bench_limits()).map_err(|e| e.to_string())?;
    let mut driver = Driver::new(Endpoint::new(config));
    if let Some(b) = args.recv_budget {
        driver.set_recv_budget(b);
    }
    let mut poll = Poll::new().map_err(|e| format!("mio poll: {e}"))?;
    let bound = driver
        .bind(poll.registry(), args.listen, Token(0))
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {bound}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;
    let mut app = Bench::default();
    driver
        .run(
            &mut poll,
            &mut app,
            |app, ep, ev| app.on_event(ep, ev),
            |_, _| false,
        )
        .map_err(|e| format!("poll: {e}"))
}

/// A response in progress: bytes still to send, head sent or not.
struct Pending {
    left: u64,
    head_sent: bool,
    status: u16,
}

#[derive(Default)]
struct Bench {
    pending: HashMap<(ConnHandle, StreamId), Pending>,
    /// Where request bodies (none expected) are read to and dropped.
    scratch: Vec<u8>,
}

impl Bench {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        let conn = ev.conn;
        match ev.kind {
            EventKind::Request {
                stream, headers, ..
            } => {
                let (status, left) = route(&headers);
                let key = (conn, stream);
                self.pending.insert(
                    key,
                    Pending {
                        left,
                        head_sent: false,
                        status,
                    },
                );
                self.pump(ep, key);
            }
            EventKind::Data { stream } => {
                if self.scratch.is_empty() {
                    self.scratch.resize(16 * 1024, 0);
                }
                if let Some(mut c) = ep.conn(conn) {
                    while matches!(c.recv_body(stream, &mut self.scratch), Ok(n) if n > 0) {}
                }
            }
            EventKind::Writable { stream } => self.pump(ep, (conn, stream)),
            EventKind::Reset { stream, .. }
            | EventKind::StopSending { stream, .. }
            | EventKind::StreamFailed { stream, .. } => {
                self.pending.remove(&(conn, stream));
            }
            EventKind::Closed { .. } => self.pending.retain(|(c, _), _| *c != conn),
            _ => {}
        }
    }

    /// Sends what the stream takes; forgets the response once it is all
    /// handed over (`Writable` calls again otherwise).
    fn pump(&mut self, ep: &mut Endpoint, key: (ConnHandle, StreamId)) {
        let Some(p) = self.pending.get_mut(&key) else {
            return;
        };
        match send_some(ep, key, p) {
            Ok(false) => {}
            Ok(true) | Err(_) => {
                self.pending.remove(&key);
            }
        }
    }
}

/// `(status, body length)` for a request.
fn route(headers: &HeaderList) -> (u16, u64) {
    let len = (headers.method() == Some("GET"))
        .then(|| headers.path()?.strip_prefix("/stream-bytes/")?.parse().ok())
        .flatten();
    match len {
        Some(n) => (200, n),
        None => (404, 0),
    }
}

/// `Ok(true)`: all sent.
fn send_some(
    ep: &mut Endpoint,
    (conn, stream): (ConnHandle, StreamId),
    p: &mut Pending,
) -> Result<bool, StreamError> {
    let mut c = ep.conn(conn).ok_or(StreamError::Closed)?;
    if !p.head_sent {
        let mut status = itoa_buf();
        let mut len = itoa_buf();
        let headers = [
            (":status", fmt_u64(&mut status, u64::from(p.status))),
            ("content-length", fmt_u64(&mut len, p.left)),
        ];
        match c.send_response(stream, &headers, p.left == 0) {
            Ok(()) => p.head_sent = true,
            Err(StreamError::Blocked) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    while p.left > 0 {
        let want = p.left.min(BODY.len() as u64) as usize;
        let fin = want as u64 == p.left;
        let n = match c.send_body(stream, &BODY[..want], fin) {
            Ok(n) => n,
            Err(StreamError::Blocked) => return Ok(false),
            Err(e) => return Err(e),
        };
        p.left -= n as u64;
        if n < want {
            return Ok(false);
        }
    }
    Ok(true)
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Formats `v` into `buf` without allocating.
fn fmt_u64(buf: &mut [u8; 20], mut v: u64) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}
