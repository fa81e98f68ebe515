//! An HTTP/3 client on filo-mio: fetches many paths concurrently over one
//! connection.
//!
//! As many requests are in flight as the server's stream limit allows; the
//! rest wait for `StreamsAvailable`. Each request prints
//! `STATUS BYTES SHA256 PATH MILLIS` (status `000` and SHA-256 `-` when it
//! failed), then a summary line. The exit code is 0 only if every request
//! got a complete 2xx response.
//!
//! ```text
//! cargo run -p filo-mio --example client -- --connect 127.0.0.1:4433 --ca ca.pem /index.html
//! ```

#![allow(clippy::disallowed_methods)]

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use filo_core::boring::sha::Sha256;
use filo_core::{
    ClientTls, CloseReason, Config, ConnHandle, ConnectOptions, Endpoint, Event, EventKind, Limits,
    SendRequestError, StreamError, StreamId, code,
};
use filo_mio::Driver;
use mio::{Poll, Token};

const USAGE: &str = "\
Usage: client --connect ADDR (--ca PEM | --insecure) [options] PATH...

Fetches every PATH concurrently over one HTTP/3 connection and prints
`STATUS BYTES SHA256 PATH MILLIS` per request, then a summary.

Options:
  --connect ADDR  server address (host:port)
  --host NAME     TLS server name and :authority (default localhost)
  --ca PEM        trust the CA certificates in this file
  --insecure      do not verify the server's certificate
  --out DIR       save each body in DIR, named after its path
  --post FILE     POST this file's bytes to each path (default GET)
  -n COUNT        request the path list COUNT times (default 1)
  --help          print this help

Exit code 0 only if every request got a 2xx response.
";

struct Args {
    connect: SocketAddr,
    host: String,
    tls: ClientTls,
    out: Option<PathBuf>,
    post: Option<PathBuf>,
    count: usize,
    paths: Vec<String>,
}

/// `Ok(None)`: `--help`.
fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut connect, mut host, mut ca, mut insecure) = (None, "localhost".to_owned(), None, false);
    let (mut out, mut post, mut count, mut paths) = (None, None, 1, Vec::new());
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--connect" => {
                let v = value("--connect")?;
                let addr = v
                    .to_socket_addrs()
                    .map_err(|e| format!("--connect {v}: {e}"))?
                    .next()
                    .ok_or(format!("--connect {v}: no address"))?;
                connect = Some(addr);
            }
            "--host" => host = value("--host")?,
            "--ca" => ca = Some(PathBuf::from(value("--ca")?)),
            "--insecure" => insecure = true,
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--post" => post = Some(PathBuf::from(value("--post")?)),
            "-n" => {
                let v = value("-n")?;
                count = v.parse().map_err(|e| format!("-n {v}: {e}"))?;
                if count == 0 {
                    return Err("-n must be at least 1".into());
                }
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return Err(format!("unknown option {s:?}"));
            }
            p if p.starts_with('/') => paths.push(p.to_owned()),
            p => paths.push(format!("/{p}")),
        }
    }
    let tls = match (ca, insecure) {
        (Some(_), true) => return Err("--ca and --insecure exclude each other".into()),
        (Some(ca), false) => ClientTls::CaFile(ca),
        (None, true) => ClientTls::InsecureNoVerify,
        (None, false) => return Err("one of --ca PEM or --insecure is required".into()),
    };
    if paths.is_empty() {
        return Err("no paths given".into());
    }
    Ok(Some(Args {
        connect: connect.ok_or("--connect is required")?,
        host,
        tls,
        out,
        post,
        count,
        paths,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("client: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match fetch(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every request; `Ok(true)` if all got a 2xx.
fn fetch(args: Args) -> Result<bool, String> {
    let post = match &args.post {
        Some(p) => Some(std::fs::read(p).map_err(|e| format!("--post {}: {e}", p.display()))?),
        None => None,
    };
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).map_err(|e| format!("--out {}: {e}", dir.display()))?;
    }
    let config = Config::client(args.tls, Limits::default()).map_err(|e| e.to_string())?;
    let mut driver = Driver::new(Endpoint::new(config));
    let mut poll = Poll::new().map_err(|e| format!("mio poll: {e}"))?;
    // Loopback servers get a loopback socket; others a wildcard one.
    let ip: IpAddr = match args.connect.ip() {
        IpAddr::V4(a) if a.is_loopback() => Ipv4Addr::LOCALHOST.into(),
        IpAddr::V6(a) if a.is_loopback() => Ipv6Addr::LOCALHOST.into(),
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    driver
        .bind(poll.registry(), SocketAddr::new(ip, 0), Token(0))
        .map_err(|e| format!("bind: {e}"))?;

    let start = Instant::now();
    let conn = driver
        .connect(start, args.connect, &args.host, ConnectOptions::default())
        .map_err(|e| format!("connect {}: {e}", args.connect))?;
    let requests: Vec<Request> = (0..args.count)
        .flat_map(|_| args.paths.iter())
        .map(|p| Request::new(p.clone()))
        .collect();
    let mut app = Client {
        conn,
        host: args.host,
        queue: (0..requests.len()).collect(),
        requests,
        active: HashMap::new(),
        post,
        out: args.out,
        buf: vec![0; 64 * 1024],
        finished: 0,
        closed: false,
    };
    driver
        .run(
            &mut poll,
            &mut app,
            |app, ep, ev| app.on_event(ep, ev),
            |app, _| app.closed || app.finished == app.requests.len(),
        )
        .map_err(|e| format!("poll: {e}"))?;
    let seconds = start.elapsed().as_secs_f64();

    // Requests that never ended (connection closed) are failures.
    for i in 0..app.requests.len() {
        if app.requests[i].result.is_none() {
            app.finish_failed(i, "not completed");
        }
    }
    let total = app.requests.len();
    let ok = app.requests.iter().filter(|r| r.ok()).count();
    let bytes: u64 = app.requests.iter().map(|r| r.bytes).sum();
    let secs = seconds.max(1e-9);
    println!(
        "requests={total} ok={ok} bytes={bytes} seconds={seconds:.3} req/s={:.1} MB/s={:.2}",
        total as f64 / secs,
        bytes as f64 / 1e6 / secs,
    );
    io::stdout().flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(ok == total)
}

/// How a request ended.
enum Outcome {
    /// A complete response with this status.
    Done {
        status: u16,
    },
    Failed,
}

struct Request {
    path: String,
    started: Option<Instant>,
    status: Option<u16>,
    bytes: u64,
    hash: Sha256,
    /// `--out`: the body being written to a temporary file (renamed once
    /// complete, so repeated paths never interleave).
    file: Option<(File, PathBuf)>,
    /// POST body bytes sent.
    body_sent: usize,
    result: Option<Outcome>,
}

impl Request {
    fn new(path: String) -> Self {
        Self {
            path,
            started: None,
            status: None,
            bytes: 0,
            hash: Sha256::new(),
            file: None,
            body_sent: 0,
            result: None,
        }
    }

    fn ok(&self) -> bool {
        matches!(self.result, Some(Outcome::Done { status }) if (200..300).contains(&status))
    }

    fn millis(&self) -> u128 {
        self.started.map_or(0, |t| t.elapsed().as_millis())
    }
}

struct Client {
    conn: ConnHandle,
    host: String,
    requests: Vec<Request>,
    /// Requests not sent yet (indices).
    queue: VecDeque<usize>,
    /// Requests in flight by stream.
    active: HashMap<StreamId, usize>,
    post: Option<Vec<u8>>,
    out: Option<PathBuf>,
    buf: Vec<u8>,
    finished: usize,
    closed: bool,
}

impl Client {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        if ev.conn != self.conn {
            return;
        }
        match ev.kind {
            EventKind::Connected | EventKind::StreamsAvailable => self.send_more(ep),
            EventKind::Response {
                stream,
                headers,
                fin,
            } => {
                let Some(&i) = self.active.get(&stream) else {
                    return;
                };
                self.requests[i].status = headers.status();
                if let Some(dir) = &self.out {
                    let name = sanitize(&self.requests[i].path);
                    let tmp = dir.join(format!(".{name}.{i}.part"));
                    match File::create(&tmp) {
                        Ok(f) => self.requests[i].file = Some((f, tmp)),
                        Err(e) => {
                            eprintln!("client: {}: {e}", tmp.display());
                            return self.fail(ep, stream, "cannot save body");
                        }
                    }
                }
                if fin {
                    self.complete(ep, stream);
                }
            }
            EventKind::Data { stream } => self.read_body(ep, stream),
            EventKind::Finished { stream } => self.complete(ep, stream),
            EventKind::Writable { stream } => self.send_body(ep, stream),
            EventKind::Reset { stream, code } => {
                self.fail(ep, stream, &format!("reset by the server ({code:#x})"));
            }
            EventKind::StreamFailed { stream, reason } => {
                self.fail(ep, stream, &format!("invalid response: {reason:?}"));
            }
            EventKind::NotProcessed { stream } => {
                self.fail(ep, stream, "not processed by the server");
            }
            // The server does not want (more of) the request body; its
            // response may still come.
            EventKind::StopSending { stream, .. } => {
                if let Some(&i) = self.active.get(&stream) {
                    self.requests[i].body_sent = usize::MAX;
                }
            }
            EventKind::Closed { reason } => {
                self.closed = true;
                if self.finished < self.requests.len() {
                    eprintln!("client: connection closed: {}", describe(&reason));
                }
                let streams: Vec<StreamId> = self.active.keys().copied().collect();
                for s in streams {
                    self.fail(ep, s, "connection closed");
                }
            }
            _ => {}
        }
    }

    /// Sends queued requests until the stream limit (or send capacity)
    /// stops them; `StreamsAvailable` resumes.
    fn send_more(&mut self, ep: &mut Endpoint) {
        while let Some(&i) = self.queue.front() {
            let Some(mut c) = ep.conn(self.conn) else {
                return;
            };
            let body_len = self.post.as_ref().map(Vec::len);
            let len = body_len.unwrap_or(0).to_string();
            let mut headers = vec![
                (":method", if body_len.is_some() { "POST" } else { "GET" }),
                (":scheme", "https"),
                (":authority", self.host.as_str()),
                (":path", self.requests[i].path.as_str()),
                ("user-agent", "filo-mio-example"),
            ];
            if body_len.is_some() {
                headers.push(("content-length", len.as_str()));
            }
            let fin = body_len.unwrap_or(0) == 0;
            match c.send_request(&headers, fin) {
                Ok(stream) => {
                    self.queue.pop_front();
                    self.requests[i].started = Some(Instant::now());
                    self.active.insert(stream, i);
                    if !fin {
                        self.send_body(ep, stream);
                    }
                }
                Err(SendRequestError::StreamLimit | SendRequestError::Blocked) => return,
                Err(e) => {
                    eprintln!("client: cannot send requests: {e}");
                    while let Some(i) = self.queue.pop_front() {
                        self.finish_failed(i, "not sent");
                    }
                    return;
                }
            }
        }
    }

    /// Sends the POST body from where it stopped; a short write resumes on
    /// `Writable`.
    fn send_body(&mut self, ep: &mut Endpoint, stream: StreamId) {
        let (Some(&i), Some(body)) = (self.active.get(&stream), self.post.as_ref()) else {
            return;
        };
        let Some(mut c) = ep.conn(self.conn) else {
            return;
        };
        let req = &mut self.requests[i];
        while req.body_sent < body.len() {
            match c.send_body(stream, &body[req.body_sent..], true) {
                Ok(n) => {
                    req.body_sent += n;
                    if req.body_sent < body.len() {
                        return;
                    }
                }
                Err(StreamError::Blocked) => return,
                // The server stopped the upload (e.g. 413): wait for its
                // response. `InvalidState`: filo ended the send side on a
                // STOP_SENDING whose event is still queued behind this
                // `Writable`.
                Err(StreamError::Stopped(_) | StreamError::InvalidState) => {
                    req.body_sent = usize::MAX;
                    return;
                }
                Err(e) => {
                    return self.fail(ep, stream, &format!("send body: {e}"));
                }
            }
        }
    }

    fn read_body(&mut self, ep: &mut Endpoint, stream: StreamId) {
        let Some(&i) = self.active.get(&stream) else {
            return;
        };
        let Some(mut c) = ep.conn(self.conn) else {
            return;
        };
        let req = &mut self.requests[i];
        loop {
            let n = match c.recv_body(stream, &mut self.buf) {
                Ok(0) => return,
                Ok(n) => n,
                Err(e) => {
                    return self.fail(ep, stream, &format!("receive body: {e}"));
                }
            };
            let chunk = &self.buf[..n];
            req.bytes += n as u64;
            req.hash.update(chunk);
            if let Some((f, path)) = &mut req.file
                && let Err(e) = f.write_all(chunk)
            {
                eprintln!("client: {}: {e}", path.display());
                return self.fail(ep, stream, "cannot save body");
            }
        }
    }

    /// The response is complete.
    fn complete(&mut self, ep: &mut Endpoint, stream: StreamId) {
        let Some(i) = self.active.remove(&stream) else {
            return;
        };
        let req = &mut self.requests[i];
        let status = req.status.unwrap_or(0);
        let sha = std::mem::replace(&mut req.hash, Sha256::new()).finish();
        if let (Some((f, tmp)), Some(dir)) = (req.file.take(), &self.out) {
            drop(f);
            let dest = dir.join(sanitize(&req.path));
            if let Err(e) = std::fs::rename(&tmp, &dest) {
                eprintln!("client: {}: {e}", dest.display());
            }
        }
        println!(
            "{status} {} {} {} {}",
            req.bytes,
            hex(&sha),
            req.path,
            req.millis()
        );
        req.result = Some(Outcome::Done { status });
        self.finished += 1;
        self.maybe_close(ep);
    }

    /// The request failed; cancels its stream if still open.
    fn fail(&mut self, ep: &mut Endpoint, stream: StreamId, why: &str) {
        let Some(i) = self.active.remove(&stream) else {
            return;
        };
        if let Some(mut c) = ep.conn(self.conn) {
            let _ = c.stop_sending(stream, code::H3_REQUEST_CANCELLED);
            let _ = c.reset_stream(stream, code::H3_REQUEST_CANCELLED);
        }
        self.finish_failed(i, why);
        self.maybe_close(ep);
    }

    fn finish_failed(&mut self, i: usize, why: &str) {
        let req = &mut self.requests[i];
        if let Some((f, tmp)) = req.file.take() {
            drop(f);
            let _ = std::fs::remove_file(tmp);
        }
        let after = req
            .status
            .map(|s| format!(" after status {s}"))
            .unwrap_or_default();
        eprintln!("client: {}: {why}{after}", req.path);
        println!("000 {} - {} {}", req.bytes, req.path, req.millis());
        req.result = Some(Outcome::Failed);
        self.finished += 1;
    }

    /// Closes the connection once every request has ended.
    fn maybe_close(&mut self, ep: &mut Endpoint) {
        if self.finished == self.requests.len()
            && let Some(mut c) = ep.conn(self.conn)
        {
            c.close(code::H3_NO_ERROR, b"");
        }
    }
}

/// Why the connection ended, in words for the common cases.
fn describe(reason: &CloseReason) -> String {
    // QUIC carries TLS alerts as transport codes 0x100 + alert (RFC 9001 §4.8).
    const ALERTS: std::ops::Range<u64> = 0x100..0x200;
    match reason {
        CloseReason::Local { code, app: false } if ALERTS.contains(code) => format!(
            "TLS handshake failed: sent alert {} (is the server's certificate trusted by --ca \
             and valid for --host?)",
            code - 0x100
        ),
        CloseReason::PeerTransport { code, .. } if ALERTS.contains(code) => format!(
            "TLS handshake failed: the server sent alert {}",
            code - 0x100
        ),
        CloseReason::HandshakeTimeout => "handshake timed out (is the server up?)".to_owned(),
        other => format!("{other:?}"),
    }
}

/// A file name for `path`: `/a/b.txt` → `a_b.txt`; never hidden, never
/// `..`, never empty.
fn sanitize(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let name: String = path
        .trim_start_matches('/')
        .chars()
        .enumerate()
        .map(|(i, ch)| match ch {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' => ch,
            '.' if i > 0 => ch,
            _ => '_',
        })
        .collect();
    if name.is_empty() {
        "index".to_owned()
    } else {
        name
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
