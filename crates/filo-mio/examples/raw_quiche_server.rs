//! The raw-quiche ceiling: a plain quiche HTTP/3 server on mio (no
//! filo-core), serving `GET /bytes/N` (N pattern bytes, seed from
//! `x-seed`), `GET /stream-bytes/N` (N bytes of 0x57) and 404 for anything
//! else. filo-mio's server is benchmarked
//! against it.
//!
//! ```text
//! cargo run --release -p filo-mio --example raw_quiche_server -- \
//!     [--listen ADDR] [--cert PEM --key PEM] [--ca-out PEM]
//! ```
//!
//! Prints `listening on ADDR` (the bound address, so port 0 works) and runs
//! until killed.

// A caller of quiche: it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Instant;

use mio::{Events, Poll, Token};

#[path = "../tests/support/raw_quiche.rs"]
mod raw_quiche;

const USAGE: &str = "\
usage: raw_quiche_server [--listen ADDR] [--cert PEM --key PEM] [--ca-out PEM]

A raw quiche HTTP/3 server (the baseline for filo-mio's benchmarks).
GET /bytes/N answers N pattern bytes (seed from the x-seed header, default 0);
GET /stream-bytes/N answers N bytes of 0x57; anything else answers 404.

options:
  --listen ADDR   UDP address to bind (default 127.0.0.1:4433; port 0 picks one)
  --cert PEM      certificate chain file (PEM)
  --key PEM       private key file (PEM)
  --ca-out PEM    without --cert/--key a throwaway CA and a leaf for
                  \"localhost\" are made in memory; write that CA here
  --help          this text

Prints `listening on ADDR` once bound, then serves until killed.";

struct Options {
    listen: SocketAddr,
    cert: Option<String>,
    key: Option<String>,
    ca_out: Option<String>,
}

fn parse_args() -> Result<Option<Options>, String> {
    let mut o = Options {
        listen: "127.0.0.1:4433".parse().expect("default address"),
        cert: None,
        key: None,
        ca_out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--help" | "-h" => return Ok(None),
            "--listen" => {
                let v = value()?;
                o.listen = v.parse().map_err(|e| format!("--listen {v}: {e}"))?;
            }
            "--cert" => o.cert = Some(value()?),
            "--key" => o.key = Some(value()?),
            "--ca-out" => o.ca_out = Some(value()?),
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    if o.cert.is_some() != o.key.is_some() {
        return Err("--cert and --key go together".into());
    }
    if o.ca_out.is_some() && o.cert.is_some() {
        return Err("--ca-out is for the generated identity (no --cert/--key)".into());
    }
    Ok(Some(o))
}

fn config(o: &Options) -> Result<quiche::Config, String> {
    match (&o.cert, &o.key) {
        (Some(cert), Some(key)) => {
            let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION)
                .map_err(|e| format!("quiche config: {e}"))?;
            c.load_cert_chain_from_pem_file(cert)
                .map_err(|e| format!("--cert {cert}: {e}"))?;
            c.load_priv_key_from_pem_file(key)
                .map_err(|e| format!("--key {key}: {e}"))?;
            raw_quiche::configure(&mut c);
            Ok(c)
        }
        _ => {
            let pki = filo_sim::TestPki::new(&["localhost"]);
            if let Some(path) = &o.ca_out {
                pki.write_ca_file(std::path::Path::new(path))
                    .map_err(|e| format!("--ca-out {path}: {e}"))?;
            }
            Ok(raw_quiche::server_config(pki.server_context()))
        }
    }
}

fn run(o: &Options) -> Result<(), String> {
    let config = config(o)?;
    let mut poll = Poll::new().map_err(|e| format!("mio poll: {e}"))?;
    let mut server =
        raw_quiche::RawServer::with_config(poll.registry(), o.listen, Token(0), config)
            .map_err(|e| format!("bind {}: {e}", o.listen))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", server.local_addr()).map_err(|e| e.to_string())?;
    out.flush().map_err(|e| e.to_string())?;
    drop(out);
    let mut events = Events::with_capacity(256);
    loop {
        server.send_all();
        match poll.poll(&mut events, server.timeout()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        if events.iter().any(|e| e.is_readable()) {
            server.handle_readable(Instant::now());
        }
        server.on_timeout();
    }
}

fn main() -> ExitCode {
    match parse_args() {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(o)) => match run(&o) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("raw_quiche_server: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("raw_quiche_server: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
