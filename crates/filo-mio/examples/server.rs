//! An HTTP/3 file server on filo-mio.
//!
//! `GET`/`HEAD /path` serves the file at `path` under `--root` (403 for
//! paths leaving the root, 404 for missing files and directories); file
//! bodies are streamed from disk in chunks as send capacity allows, so a
//! large file is never held in memory. `POST` to any path echoes the
//! request body back (buffered, up to 64 MiB; 413 above). One line per
//! request goes to stderr: `METHOD PATH STATUS BYTES`.
//!
//! ```text
//! cargo run -p filo-mio --example server -- --cert cert.pem --key key.pem --root ./www
//! ```

#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use filo_core::{
    Config, ConnHandle, Endpoint, Event, EventKind, HeaderList, Limits, ServerTls, StreamError,
    StreamId, code,
};
use filo_mio::Driver;
use mio::{Poll, Token};

const USAGE: &str = "\
Usage: server --cert PEM --key PEM [--listen ADDR] [--root DIR]

An HTTP/3 server: GET/HEAD serve files under --root, POST echoes the body.

Options:
  --listen ADDR   UDP address to listen on (default 127.0.0.1:4433;
                  port 0 picks a free port)
  --cert PEM      certificate chain file (leaf first)
  --key PEM       private key file
  --root DIR      directory to serve (default .)
  --help          print this help
";

/// Bytes read from a file per chunk (the most held per response).
const CHUNK: usize = 64 * 1024;
/// The largest request body echoed back.
const MAX_ECHO: usize = 64 << 20;

struct Args {
    listen: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    root: PathBuf,
}

/// `Ok(None)`: `--help`.
fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut listen: SocketAddr = "127.0.0.1:4433".parse().expect("default address");
    let (mut cert, mut key, mut root) = (None, None, PathBuf::from("."));
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--help" | "-h" => return Ok(None),
            "--listen" => {
                let v = value("--listen")?;
                listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--cert" => cert = Some(PathBuf::from(value("--cert")?)),
            "--key" => key = Some(PathBuf::from(value("--key")?)),
            "--root" => root = PathBuf::from(value("--root")?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Some(Args {
        listen,
        cert: cert.ok_or("--cert is required")?,
        key: key.ok_or("--key is required")?,
        root,
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
            eprintln!("server: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(args: Args) -> Result<(), String> {
    let root = args
        .root
        .canonicalize()
        .map_err(|e| format!("--root {}: {e}", args.root.display()))?;
    if !root.is_dir() {
        return Err(format!("--root {}: not a directory", root.display()));
    }
    let tls = ServerTls::PemFiles {
        cert_chain: args.cert,
        key: args.key,
    };
    let config = Config::server(tls, Limits::default()).map_err(|e| e.to_string())?;
    let mut driver = Driver::new(Endpoint::new(config));
    let mut poll = Poll::new().map_err(|e| format!("mio poll: {e}"))?;
    let bound = driver
        .bind(poll.registry(), args.listen, Token(0))
        .map_err(|e| format!("bind {}: {e}", args.listen))?;
    let mut stdout = io::stdout();
    // The first line tells scripts and tests the real port.
    writeln!(stdout, "listening on {bound}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("stdout: {e}"))?;

    let mut app = Server {
        root,
        exchanges: HashMap::new(),
        scratch: vec![0; CHUNK],
    };
    driver
        .run(
            &mut poll,
            &mut app,
            |app, ep, ev| app.on_event(ep, ev),
            |_, _| false,
        )
        .map_err(|e| format!("poll: {e}"))
}

/// Where a response body comes from.
enum Body {
    Empty,
    /// A file: `unread` bytes are still on disk; `buf[pos..]` is read but
    /// not yet taken by the stream.
    File {
        file: File,
        unread: u64,
        buf: Vec<u8>,
        pos: usize,
    },
    /// Bytes in memory (echo, error texts); `data[pos..]` is unsent.
    Bytes {
        data: Vec<u8>,
        pos: usize,
    },
}

impl Body {
    /// The bytes to send next and whether they end the body; refills a
    /// file's buffer once it is all sent.
    fn chunk(&mut self) -> io::Result<(&[u8], bool)> {
        match self {
            Body::Empty => Ok((&[], true)),
            Body::Bytes { data, pos } => Ok((&data[*pos..], true)),
            Body::File {
                file,
                unread,
                buf,
                pos,
            } => {
                if *pos == buf.len() && *unread > 0 {
                    let want = (*unread).min(CHUNK as u64) as usize;
                    buf.resize(want, 0);
                    file.read_exact(buf)?;
                    *unread -= want as u64;
                    *pos = 0;
                }
                Ok((&buf[*pos..], *unread == 0))
            }
        }
    }

    fn advance(&mut self, n: usize) {
        match self {
            Body::Empty => {}
            Body::Bytes { pos, .. } | Body::File { pos, .. } => *pos += n,
        }
    }
}

/// Why a response could not go on.
enum Failure {
    Stream(StreamError),
    Io(io::Error),
}

/// One request and its response.
struct Exchange {
    method: String,
    path: String,
    /// POST: the body so far (echoed once complete).
    echo: Option<Vec<u8>>,
    /// The response, once chosen.
    response: Option<Response>,
}

struct Response {
    status: u16,
    len: u64,
    content_type: &'static str,
    /// HEAD: headers only.
    head_only: bool,
    head_sent: bool,
    body: Body,
    sent: u64,
}

impl Response {
    fn new(status: u16, content_type: &'static str, len: u64, body: Body) -> Self {
        Self {
            status,
            len,
            content_type,
            head_only: false,
            head_sent: false,
            body,
            sent: 0,
        }
    }

    fn text(status: u16, text: &str) -> Self {
        let data = text.as_bytes().to_vec();
        let len = data.len() as u64;
        Self::new(status, "text/plain", len, Body::Bytes { data, pos: 0 })
    }
}

struct Server {
    root: PathBuf,
    exchanges: HashMap<(ConnHandle, StreamId), Exchange>,
    /// Where discarded request bodies are read to.
    scratch: Vec<u8>,
}

impl Server {
    fn on_event(&mut self, ep: &mut Endpoint, ev: Event) {
        let conn = ev.conn;
        match ev.kind {
            EventKind::Accepted => {
                if let Some(c) = ep.conn(conn) {
                    eprintln!("accepted {}", c.peer_addr());
                }
            }
            EventKind::Request {
                stream,
                headers,
                fin,
            } => self.on_request(ep, conn, stream, &headers, fin),
            EventKind::Data { stream } => self.on_data(ep, conn, stream),
            EventKind::Finished { stream } => {
                let key = (conn, stream);
                if let Some(ex) = self.exchanges.get_mut(&key)
                    && ex.response.is_none()
                {
                    let data = ex.echo.take().unwrap_or_default();
                    let len = data.len() as u64;
                    let body = Body::Bytes { data, pos: 0 };
                    ex.response = Some(Response::new(200, "application/octet-stream", len, body));
                    self.pump(ep, key);
                }
            }
            EventKind::Writable { stream } => self.pump(ep, (conn, stream)),
            EventKind::Reset { stream, code } => {
                self.abort(conn, stream, &format!("reset by peer ({code:#x})"));
            }
            EventKind::StopSending { stream, code } => {
                self.abort(conn, stream, &format!("stopped by peer ({code:#x})"));
            }
            EventKind::StreamFailed { stream, reason } => {
                self.abort(conn, stream, &format!("failed: {reason:?}"));
            }
            EventKind::Closed { reason } => {
                let streams: Vec<StreamId> = self
                    .exchanges
                    .keys()
                    .filter(|(c, _)| *c == conn)
                    .map(|(_, s)| *s)
                    .collect();
                for s in streams {
                    self.abort(conn, s, "connection closed");
                }
                eprintln!("closed: {reason:?}");
            }
            _ => {}
        }
    }

    fn on_request(
        &mut self,
        ep: &mut Endpoint,
        conn: ConnHandle,
        stream: StreamId,
        headers: &HeaderList,
        fin: bool,
    ) {
        let method = headers.method().unwrap_or("").to_owned();
        let path = headers.path().unwrap_or("").to_owned();
        let mut ex = Exchange {
            method,
            path,
            echo: None,
            response: None,
        };
        match ex.method.as_str() {
            "GET" | "HEAD" => {
                let mut r = self.file_response(&ex.path);
                r.head_only = ex.method == "HEAD";
                ex.response = Some(r);
            }
            "POST" => {
                let declared = headers
                    .get_str("content-length")
                    .and_then(|v| v.parse::<u64>().ok());
                if declared.is_some_and(|n| n > MAX_ECHO as u64) {
                    ex.response = Some(Response::text(413, "request body too large\n"));
                    stop_reading(ep, conn, stream, fin);
                } else if fin {
                    ex.response = Some(Response::new(
                        200,
                        "application/octet-stream",
                        0,
                        Body::Empty,
                    ));
                } else {
                    let cap = declared.unwrap_or(0).min(MAX_ECHO as u64) as usize;
                    ex.echo = Some(Vec::with_capacity(cap));
                }
            }
            _ => ex.response = Some(Response::text(405, "method not allowed\n")),
        }
        let key = (conn, stream);
        let respond = ex.response.is_some();
        self.exchanges.insert(key, ex);
        if respond {
            self.pump(ep, key);
        }
    }

    /// Reads body bytes: a POST's are kept for the echo, others dropped.
    fn on_data(&mut self, ep: &mut Endpoint, conn: ConnHandle, stream: StreamId) {
        let key = (conn, stream);
        let Some(mut c) = ep.conn(conn) else { return };
        let mut echo = self.exchanges.get_mut(&key).and_then(|ex| ex.echo.as_mut());
        let mut too_large = false;
        loop {
            let n = match c.recv_body(stream, &mut self.scratch) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(buf) = echo.as_mut() {
                if buf.len() + n > MAX_ECHO {
                    too_large = true;
                    echo = None;
                } else {
                    buf.extend_from_slice(&self.scratch[..n]);
                }
            }
        }
        if too_large {
            let _ = c.stop_sending(stream, code::H3_NO_ERROR);
            if let Some(ex) = self.exchanges.get_mut(&key) {
                ex.echo = None;
                ex.response = Some(Response::text(413, "request body too large\n"));
            }
            self.pump(ep, key);
        }
    }

    /// The response to `GET raw_path`.
    fn file_response(&self, raw_path: &str) -> Response {
        let file = match resolve(&self.root, raw_path) {
            Ok(p) => p,
            Err(403) => return Response::text(403, "forbidden\n"),
            Err(400) => return Response::text(400, "bad path\n"),
            Err(_) => return Response::text(404, "not found\n"),
        };
        let opened = File::open(&file).and_then(|f| {
            let meta = f.metadata()?;
            Ok((f, meta))
        });
        match opened {
            Ok((f, meta)) if meta.is_file() => {
                let len = meta.len();
                let body = Body::File {
                    file: f,
                    unread: len,
                    buf: Vec::new(),
                    pos: 0,
                };
                Response::new(200, content_type(&file), len, body)
            }
            Ok(_) => Response::text(404, "not found\n"),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                Response::text(403, "forbidden\n")
            }
            Err(_) => Response::text(404, "not found\n"),
        }
    }

    /// Sends as much of the response as the stream takes; finishes the
    /// exchange once it is all sent. `Writable` calls it again.
    fn pump(&mut self, ep: &mut Endpoint, key: (ConnHandle, StreamId)) {
        let Some(resp) = self
            .exchanges
            .get_mut(&key)
            .and_then(|ex| ex.response.as_mut())
        else {
            return;
        };
        match send_some(ep, key, resp) {
            Ok(false) => {}
            Ok(true) => {
                if let Some(ex) = self.exchanges.remove(&key) {
                    log(&ex, "");
                }
            }
            Err(Failure::Stream(e)) => self.abort(key.0, key.1, &format!("send: {e}")),
            Err(Failure::Io(e)) => {
                if let Some(mut c) = ep.conn(key.0) {
                    let _ = c.reset_stream(key.1, code::H3_INTERNAL_ERROR);
                }
                self.abort(key.0, key.1, &format!("read: {e}"));
            }
        }
    }

    fn abort(&mut self, conn: ConnHandle, stream: StreamId, why: &str) {
        if let Some(ex) = self.exchanges.remove(&(conn, stream)) {
            log(&ex, why);
        }
    }
}

/// Sends the head if not yet sent, then body chunks until the stream takes
/// no more. `Ok(true)`: all sent.
fn send_some(
    ep: &mut Endpoint,
    (conn, stream): (ConnHandle, StreamId),
    r: &mut Response,
) -> Result<bool, Failure> {
    let mut c = ep.conn(conn).ok_or(Failure::Stream(StreamError::Closed))?;
    if !r.head_sent {
        let status = r.status.to_string();
        let len = r.len.to_string();
        let headers = [
            (":status", status.as_str()),
            ("content-length", len.as_str()),
            ("content-type", r.content_type),
            ("server", "filo-mio-example"),
        ];
        let fin = r.head_only || r.len == 0;
        match c.send_response(stream, &headers, fin) {
            Ok(()) => r.head_sent = true,
            // Writable follows when the head fits.
            Err(StreamError::Blocked) => return Ok(false),
            Err(e) => return Err(Failure::Stream(e)),
        }
        if fin {
            return Ok(true);
        }
    }
    loop {
        let (data, last) = r.body.chunk().map_err(Failure::Io)?;
        let want = data.len();
        let n = match c.send_body(stream, data, last) {
            Ok(n) => n,
            Err(StreamError::Blocked) => return Ok(false),
            Err(e) => return Err(Failure::Stream(e)),
        };
        r.body.advance(n);
        r.sent += n as u64;
        if n < want {
            // Writable follows when capacity returns.
            return Ok(false);
        }
        if last {
            return Ok(true);
        }
    }
}

/// Stops a request body we will not read (RFC 9114 §4.1: a complete
/// response may precede the request's end; H3_NO_ERROR asks the client to
/// stop without error).
fn stop_reading(ep: &mut Endpoint, conn: ConnHandle, stream: StreamId, fin: bool) {
    if !fin && let Some(mut c) = ep.conn(conn) {
        let _ = c.stop_sending(stream, code::H3_NO_ERROR);
    }
}

fn log(ex: &Exchange, why: &str) {
    let (status, sent) = ex.response.as_ref().map_or((0, 0), |r| (r.status, r.sent));
    if why.is_empty() {
        eprintln!("{} {} {status} {sent}", ex.method, ex.path);
    } else {
        eprintln!("{} {} {status} {sent} ({why})", ex.method, ex.path);
    }
}

/// Maps a request path to a file under `root` (canonical). Errors are
/// statuses: 400 (undecodable), 403 (leaves the root), 404 (missing).
fn resolve(root: &Path, raw_path: &str) -> Result<PathBuf, u16> {
    let path = raw_path.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path).ok_or(400u16)?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(403),
            s if s.contains('\0') || s.contains('\\') => return Err(400),
            s => rel.push(s),
        }
    }
    // `rel` holds only normal components, so the join stays under root;
    // symlinks may still point out of it: check the real path.
    let full = root.join(rel);
    let real = match full.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => return Err(403),
        Err(_) => return Err(404),
    };
    if !real.starts_with(root) {
        return Err(403);
    }
    Ok(real)
}

/// `%XX` decoding; `None` for a broken escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("txt") => "text/plain",
        Some("html" | "htm") => "text/html",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}
