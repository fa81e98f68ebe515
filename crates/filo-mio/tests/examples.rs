//! End to end with the real example binaries: `examples/server` serving a
//! directory on loopback, `examples/client` fetching from it over one
//! connection. `cargo test` builds the examples next to the test binary.

#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use filo_core::boring::sha::sha256;
use filo_sim::{TestPki, fill_pattern, hex};

/// Bound of one client run.
const CLIENT_LIMIT: Duration = Duration::from_secs(30);
/// Bound of a whole test.
const TEST_LIMIT: Duration = Duration::from_secs(60);
const BIG_LEN: usize = 3 << 20;
const SMALL: &[u8] = b"hello, filo\n";

/// `target/<profile>/examples/<name>`: the test binary lives in
/// `target/<profile>/deps/`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.is_file(),
        "example binary {} is missing: build it with `cargo build -p filo-mio --examples` \
         (plain `cargo test -p filo-mio` builds it too)",
        path.display()
    );
    path
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!(
            "filo-mio-{tag}-{}-{nanos}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Collects a child's output stream on a thread (so its pipe never fills).
fn collect(mut r: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// The running server, killed on drop.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(dir: &Fixture) -> Self {
        let mut child = Command::new(example("server"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--cert")
            .arg(&dir.cert)
            .arg("--key")
            .arg(&dir.key)
            .arg("--root")
            .arg(&dir.root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stdout = child.stdout.take().expect("server stdout");
        let stderr = child.stderr.take().expect("server stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut log = sink.lock().expect("log lock");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            for _ in lines {}
        });
        let mut server = Self {
            child,
            addr: "0.0.0.0:0".parse().expect("placeholder"),
            log,
        };
        let first = match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => line,
            Err(_) => {
                let _ = server.child.kill();
                let _ = server.child.wait();
                thread::sleep(Duration::from_millis(50));
                panic!(
                    "server printed no `listening on` line within 10 s; its log:\n{}",
                    server.log()
                );
            }
        };
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first server line {first:?}"));
        server.addr = addr.parse().expect("server address");
        assert!(server.addr.ip().is_loopback() && server.addr.port() != 0);
        server
    }

    fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits up to 2 s for a log line containing `needle`.
    fn wait_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if self.log().lines().any(|l| l.contains(needle)) {
                return true;
            }
            thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// PEM files, a root to serve and a place for client output.
struct Fixture {
    tmp: TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    other_ca: PathBuf,
    root: PathBuf,
    big: Vec<u8>,
}

impl Fixture {
    fn new(tag: &str) -> Self {
        let tmp = TempDir::new(tag);
        let pki = TestPki::new(&["localhost"]);
        let ctx = pki.server_context().build();
        let mut chain = ctx
            .certificate()
            .expect("leaf certificate")
            .to_pem()
            .expect("leaf PEM");
        for extra in ctx.extra_chain_certs() {
            chain.extend(extra.to_pem().expect("chain PEM"));
        }
        let key = ctx
            .private_key()
            .expect("leaf key")
            .private_key_to_pem_pkcs8()
            .expect("key PEM");
        let p = tmp.path();
        let (cert_path, key_path) = (p.join("cert.pem"), p.join("key.pem"));
        let (ca, other_ca) = (p.join("ca.pem"), p.join("other-ca.pem"));
        std::fs::write(&cert_path, chain).expect("write cert");
        std::fs::write(&key_path, key).expect("write key");
        pki.write_ca_file(&ca).expect("write CA");
        TestPki::new(&["localhost"])
            .write_ca_file(&other_ca)
            .expect("write other CA");

        let root = p.join("www");
        std::fs::create_dir_all(root.join("sub")).expect("root dir");
        std::fs::write(root.join("small.txt"), SMALL).expect("small file");
        let mut big = vec![0; BIG_LEN];
        fill_pattern(7, 0, &mut big);
        std::fs::write(root.join("big.bin"), &big).expect("big file");
        Self {
            tmp,
            cert: cert_path,
            key: key_path,
            ca,
            other_ca,
            root,
            big,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Request lines: `(status, bytes, sha256, path)`.
    fn lines(&self) -> Vec<(String, u64, String, String)> {
        self.stdout
            .lines()
            .filter(|l| !l.starts_with("requests="))
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 5, "request line {l:?}");
                let bytes = f[1].parse().expect("bytes field");
                f[4].parse::<u64>().expect("millis field");
                (f[0].to_owned(), bytes, f[2].to_owned(), f[3].to_owned())
            })
            .collect()
    }

    fn summary(&self) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with("requests="))
            .unwrap_or_else(|| panic!("no summary line in {:?}", self.stdout))
    }
}

/// Runs a binary with a wall-clock bound.
fn run(bin: &str, args: &[&str]) -> Run {
    let mut child = Command::new(example(bin))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let out = collect(child.stdout.take().expect("stdout"));
    let err = collect(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + CLIENT_LIMIT;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{bin} {args:?} still running after {CLIENT_LIMIT:?}; stderr:\n{}",
                err.join().unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    let r = Run {
        status,
        stdout: out.join().expect("stdout thread"),
        stderr: err.join().expect("stderr thread"),
    };
    eprintln!("$ {bin} {}\n{}{}", args.join(" "), r.stdout, r.stderr);
    r
}

fn client(server: &Server, extra: &[&str]) -> Run {
    let addr = server.addr.to_string();
    let mut args = vec!["--connect", addr.as_str()];
    args.extend_from_slice(extra);
    run("client", &args)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

#[test]
fn get_files_saved_byte_identical() {
    let t0 = Instant::now();
    let fx = Fixture::new("get");
    let server = Server::start(&fx);
    let out = fx.path("out");
    let r = client(
        &server,
        &[
            "--ca",
            s(&fx.ca),
            "--out",
            s(&out),
            "/small.txt",
            "/big.bin",
        ],
    );
    assert!(r.status.success(), "client failed: {}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    for (body, path) in [(SMALL, "/small.txt"), (fx.big.as_slice(), "/big.bin")] {
        let line = lines
            .iter()
            .find(|l| l.3 == path)
            .unwrap_or_else(|| panic!("no line for {path}"));
        assert_eq!(line.0, "200");
        assert_eq!(line.1, body.len() as u64);
        assert_eq!(line.2, hex(&sha256(body)));
    }
    assert_eq!(std::fs::read(out.join("small.txt")).unwrap(), SMALL);
    let saved = std::fs::read(out.join("big.bin")).unwrap();
    assert!(
        saved == fx.big,
        "big.bin differs ({} bytes saved)",
        saved.len()
    );
    assert!(r.summary().starts_with("requests=2 ok=2 bytes=3145740 "));
    // No partial files left behind.
    let names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(server.wait_log(&format!("GET /big.bin 200 {BIG_LEN}")));
    assert!(server.wait_log("GET /small.txt 200 12"));
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

#[test]
fn twenty_requests_over_one_connection() {
    let t0 = Instant::now();
    let fx = Fixture::new("many");
    let server = Server::start(&fx);
    let r = client(&server, &["--ca", s(&fx.ca), "-n", "20", "/small.txt"]);
    assert!(r.status.success(), "client failed: {}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 20, "{}", r.stdout);
    let sha = hex(&sha256(SMALL));
    for l in &lines {
        assert_eq!(
            (l.0.as_str(), l.1, l.2.as_str(), l.3.as_str()),
            ("200", SMALL.len() as u64, sha.as_str(), "/small.txt")
        );
    }
    let summary = r.summary();
    assert!(
        summary.starts_with("requests=20 ok=20 bytes=240 "),
        "{summary}"
    );
    assert!(summary.contains(" req/s=") && summary.contains(" MB/s="));
    // One connection served all 20.
    assert!(server.wait_log("closed:"));
    let log = server.log();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("accepted ")).count(),
        1,
        "{log}"
    );
    let served = log
        .lines()
        .filter(|l| *l == "GET /small.txt 200 12")
        .count();
    assert_eq!(served, 20, "{log}");
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

#[test]
fn post_is_echoed() {
    let t0 = Instant::now();
    let fx = Fixture::new("post");
    let server = Server::start(&fx);
    let mut body = vec![0; 1 << 20];
    fill_pattern(11, 0, &mut body);
    let file = fx.path("upload.bin");
    std::fs::write(&file, &body).unwrap();
    let r = client(
        &server,
        &["--insecure", "--post", s(&file), "-n", "2", "/echo"],
    );
    assert!(r.status.success(), "client failed: {}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    for l in &lines {
        assert_eq!(l.0, "200");
        assert_eq!(l.1, body.len() as u64);
        assert_eq!(l.2, hex(&sha256(&body)));
        assert_eq!(l.3, "/echo");
    }
    assert!(server.wait_log("POST /echo 200 1048576"));
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

/// More requests than the server's stream limit (100): the rest wait for
/// `StreamsAvailable` on the same connection.
#[test]
fn requests_beyond_the_stream_limit() {
    let t0 = Instant::now();
    let fx = Fixture::new("limit");
    let server = Server::start(&fx);
    let r = client(&server, &["--ca", s(&fx.ca), "-n", "250", "/small.txt"]);
    assert!(r.status.success(), "client failed: {}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 250);
    let sha = hex(&sha256(SMALL));
    assert!(
        lines.iter().all(|l| l.0 == "200" && l.2 == sha),
        "{}",
        r.stdout
    );
    assert!(r.summary().starts_with("requests=250 ok=250 bytes=3000 "));
    assert!(server.wait_log("closed:"));
    let log = server.log();
    assert_eq!(
        log.lines().filter(|l| l.starts_with("accepted ")).count(),
        1,
        "{log}"
    );
    assert_eq!(log.lines().filter(|l| l.starts_with("GET ")).count(), 250);
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

/// Many large responses at once: response heads wait for send capacity
/// (`Blocked`, retried on `Writable`) and bodies stream in chunks.
#[test]
fn concurrent_large_files() {
    let t0 = Instant::now();
    let fx = Fixture::new("concurrent");
    let server = Server::start(&fx);
    let r = client(
        &server,
        &["--ca", s(&fx.ca), "-n", "12", "/big.bin", "/small.txt"],
    );
    assert!(r.status.success(), "client failed: {}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 24, "{}", r.stdout);
    let (big_sha, small_sha) = (hex(&sha256(&fx.big)), hex(&sha256(SMALL)));
    for l in &lines {
        let expected = match l.3.as_str() {
            "/big.bin" => (BIG_LEN as u64, &big_sha),
            "/small.txt" => (SMALL.len() as u64, &small_sha),
            p => panic!("unexpected path {p}"),
        };
        assert_eq!((l.0.as_str(), l.1, &l.2), ("200", expected.0, expected.1));
    }
    let bytes = 12 * (BIG_LEN + SMALL.len());
    assert!(
        r.summary()
            .starts_with(&format!("requests=24 ok=24 bytes={bytes} ")),
        "{}",
        r.summary()
    );
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

/// A declared body above 64 MiB is refused with 413 at once (and the
/// upload stopped), without the server buffering it.
#[test]
fn oversized_post_gets_413() {
    let t0 = Instant::now();
    let fx = Fixture::new("413");
    let server = Server::start(&fx);
    let file = fx.path("huge.bin");
    // Sparse: costs no disk.
    std::fs::File::create(&file)
        .and_then(|f| f.set_len((64 << 20) + 1))
        .unwrap();
    let r = client(&server, &["--insecure", "--post", s(&file), "/echo"]);
    assert_eq!(r.status.code(), Some(1), "413 is a failure: {}", r.stderr);
    let lines = r.lines();
    assert_eq!(lines.len(), 1, "{}", r.stdout);
    assert_eq!(lines[0].0, "413");
    assert!(r.summary().starts_with("requests=1 ok=0 "));
    assert!(server.wait_log("POST /echo 413"));
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

#[test]
fn forbidden_and_missing_paths() {
    let t0 = Instant::now();
    let fx = Fixture::new("errors");
    let server = Server::start(&fx);
    let r = client(
        &server,
        &[
            "--ca",
            s(&fx.ca),
            "/../etc/passwd",
            "/%2e%2e/etc/passwd",
            "/missing",
            "/sub",
            "/small.txt",
        ],
    );
    assert!(!r.status.success(), "client must fail on 4xx");
    let lines = r.lines();
    let status_of = |path: &str| {
        lines
            .iter()
            .find(|l| l.3 == path)
            .map(|l| l.0.clone())
            .unwrap_or_else(|| panic!("no line for {path}: {}", r.stdout))
    };
    assert_eq!(status_of("/../etc/passwd"), "403");
    assert_eq!(status_of("/%2e%2e/etc/passwd"), "403");
    assert_eq!(status_of("/missing"), "404");
    assert_eq!(status_of("/sub"), "404", "directories are not served");
    assert_eq!(status_of("/small.txt"), "200");
    assert!(
        r.summary().starts_with("requests=5 ok=1 "),
        "{}",
        r.summary()
    );
    assert!(server.wait_log("GET /../etc/passwd 403"));
    assert!(server.wait_log("GET /missing 404"));
    assert!(t0.elapsed() < TEST_LIMIT, "took {:?}", t0.elapsed());
}

#[test]
fn help_prints_usage() {
    let server = run("server", &["--help"]);
    assert!(server.status.success());
    assert!(
        server.stdout.starts_with("Usage: server"),
        "{}",
        server.stdout
    );
    for opt in ["--listen", "--cert", "--key", "--root"] {
        assert!(server.stdout.contains(opt), "server usage lacks {opt}");
    }
    let client = run("client", &["--help"]);
    assert!(client.status.success());
    assert!(
        client.stdout.starts_with("Usage: client"),
        "{}",
        client.stdout
    );
    for opt in [
        "--connect",
        "--host",
        "--ca",
        "--insecure",
        "--out",
        "--post",
        "-n",
    ] {
        assert!(client.stdout.contains(opt), "client usage lacks {opt}");
    }
    // Bad usage is an error, not a hang or a panic.
    let bad = run("client", &["--connect", "127.0.0.1:1", "/x"]);
    assert_eq!(bad.status.code(), Some(2), "neither --ca nor --insecure");
    assert!(bad.stderr.contains("--insecure"));
    let bad = run("server", &["--listen", "127.0.0.1:0"]);
    assert_eq!(bad.status.code(), Some(2), "no --cert");
}

#[test]
fn untrusted_server_fails() {
    let t0 = Instant::now();
    let fx = Fixture::new("wrongca");
    let server = Server::start(&fx);
    let r = client(
        &server,
        &["--ca", s(&fx.other_ca), "/small.txt", "/big.bin"],
    );
    assert!(!r.status.success());
    let lines = r.lines();
    assert_eq!(lines.len(), 2, "one line per request: {}", r.stdout);
    assert!(
        lines.iter().all(|l| l.0 == "000" && l.1 == 0),
        "{}",
        r.stdout
    );
    assert!(r.summary().starts_with("requests=2 ok=0 bytes=0 "));
    assert!(
        r.stderr.contains("connection closed: TLS handshake failed"),
        "{}",
        r.stderr
    );
    // The handshake fails at once, not by timeout.
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "took {:?}",
        t0.elapsed()
    );
    // The server never served anything.
    assert!(!server.log().lines().any(|l| l.starts_with("GET ")));
}
