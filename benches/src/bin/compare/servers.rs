//! The servers under test, each in its own process pinned to one core.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use filo_benches::procstat::{self, ProcSample};

/// Which server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// filo-mio's `bench_server` example.
    Filo,
    /// tokio-quiche's published `async_http3_server` example.
    TokioQuiche,
    /// The raw quiche + mio server (`raw_quiche_server` example).
    RawQuiche,
}

impl Kind {
    /// Every server, in table order.
    pub(crate) const ALL: [Kind; 3] = [Kind::Filo, Kind::TokioQuiche, Kind::RawQuiche];

    /// The name in tables.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Filo => "filo-mio",
            Kind::TokioQuiche => "tokio-quiche",
            Kind::RawQuiche => "raw-quiche",
        }
    }
}

/// Where the binaries and the identity are.
#[derive(Clone, Debug)]
pub(crate) struct Setup {
    /// filo-mio `bench_server`.
    pub(crate) filo: PathBuf,
    /// tokio-quiche `async_http3_server`.
    pub(crate) tokio_quiche: PathBuf,
    /// `raw_quiche_server`.
    pub(crate) raw: PathBuf,
    /// `cert.pem` (chain) and `key.pem` (PKCS#8, ECDSA P-256).
    pub(crate) pki_dir: PathBuf,
    /// The core servers are pinned to (`taskset -c`).
    pub(crate) core: usize,
}

/// A running server; killed on drop.
pub(crate) struct Server {
    /// Which one.
    pub(crate) kind: Kind,
    /// Where it listens (loopback).
    pub(crate) addr: SocketAddr,
    child: Child,
    /// Kept open so a later write by the server does not hit a closed pipe.
    _stdout: Option<BufReader<ChildStdout>>,
}

impl Server {
    /// Starts `kind` on a free loopback port, pinned to `setup.core`.
    pub(crate) fn start(kind: Kind, setup: &Setup) -> Result<Self, String> {
        let cert = setup.pki_dir.join("cert.pem");
        let key = setup.pki_dir.join("key.pem");
        let mut cmd = Command::new("taskset");
        cmd.arg("-c").arg(setup.core.to_string());
        let known: Option<SocketAddr> = match kind {
            // Both report the port they bound on their first line.
            Kind::Filo | Kind::RawQuiche => {
                let bin = if kind == Kind::Filo {
                    &setup.filo
                } else {
                    &setup.raw
                };
                cmd.arg(bin);
                args(
                    &mut cmd,
                    "--listen",
                    "127.0.0.1:0",
                    &cert,
                    &key,
                    "--cert",
                    "--key",
                );
                None
            }
            Kind::TokioQuiche => {
                let port = free_port()?;
                cmd.arg(&setup.tokio_quiche);
                let listen = format!("127.0.0.1:{port}");
                args(
                    &mut cmd,
                    "--address",
                    &listen,
                    &cert,
                    &key,
                    "--tls-cert-path",
                    "--tls-private-key-path",
                );
                cmd.args(["--cc-algorithm", "cubic"]);
                // env_logger: errors only, as with RUST_LOG unset.
                cmd.env_remove("RUST_LOG");
                Some(SocketAddr::from(([127, 0, 0, 1], port)))
            }
        };
        let stdout = if known.is_some() {
            Stdio::null()
        } else {
            Stdio::piped()
        };
        cmd.stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("{}: spawn: {e}", kind.name()))?;
        let mut stdout = None;
        let addr = if let Some(addr) = known {
            addr
        } else {
            // The first line is `listening on ADDR`.
            let out = stdout.insert(BufReader::new(child.stdout.take().ok_or("no stdout")?));
            let mut line = String::new();
            out.read_line(&mut line)
                .map_err(|e| format!("{}: stdout: {e}", kind.name()))?;
            line.trim()
                .strip_prefix("listening on ")
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| format!("{}: unexpected first line {line:?}", kind.name()))?
        };
        Ok(Self {
            kind,
            addr,
            child,
            _stdout: stdout,
        })
    }

    /// The process id (for `/proc` sampling).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU and memory so far.
    pub(crate) fn sample(&self) -> Result<ProcSample, String> {
        procstat::sample(self.pid()).map_err(|e| format!("{}: /proc: {e}", self.kind.name()))
    }

    /// Fails if the process has exited.
    pub(crate) fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(st)) => Err(format!("{} exited: {st}", self.kind.name())),
            Err(e) => Err(format!("{}: wait: {e}", self.kind.name())),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn args(
    cmd: &mut Command,
    listen_flag: &str,
    listen: &str,
    cert: &Path,
    key: &Path,
    cf: &str,
    kf: &str,
) {
    cmd.arg(listen_flag)
        .arg(listen)
        .arg(cf)
        .arg(cert)
        .arg(kf)
        .arg(key);
}

/// A loopback UDP port free right now (for servers that cannot report the
/// port they bound).
fn free_port() -> Result<u16, String> {
    let s = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("bind: {e}"))?;
    Ok(s.local_addr().map_err(|e| e.to_string())?.port())
}

/// Waits until `ready` answers true, at most `limit`.
pub(crate) fn wait_ready(limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
