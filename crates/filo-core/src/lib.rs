//! # filo-core
//!
//! A sans-IO HTTP/3 endpoint on [quiche](https://docs.rs/quiche): no
//! sockets, threads or clocks inside. The caller moves bytes and time in and
//! out through five calls; filo-core owns everything quiche leaves to the
//! application (CID routing, Retry, version negotiation, stateless resets,
//! one timer heap for all connections, handshake/idle/first-request
//! timeouts, HTTP message validation, GOAWAY, GSO batching, limits).
//!
//! ## The loop
//!
//! - [`Endpoint::handle_datagram`]`(now, meta, &mut buf)`: a received UDP
//!   payload (or GRO batch), decrypted in place in the caller's buffer.
//! - [`Endpoint::handle_timeout`]`(now)`: when [`Endpoint::poll_timeout`]
//!   passes.
//! - [`Endpoint::poll_transmit`]`(now, &mut buf, max_segments)`: the next
//!   datagram or GSO batch to send, as [`Transmit`] metadata.
//! - [`Endpoint::poll_event`]: the next [`Event`] (ids and small values;
//!   bodies are pulled with [`Conn::recv_body`]).
//! - Commands through [`Endpoint::conn`]`(handle)`, a [`Conn`] borrow view.
//!
//! **Drain contract:** after any input or command, drain `poll_transmit`
//! until `None`, drain `poll_event` until `None` (handling events may issue
//! commands: drain again), then re-read `poll_timeout`.
//!
//! ## Example: a request over an in-memory "network"
//!
//! ```
//! use std::time::Instant;
//! use filo_core::*;
//!
//! // A self-signed certificate for the server (tests use rcgen).
//! let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! let mut tls = boring::ssl::SslContextBuilder::new(boring::ssl::SslMethod::tls()).unwrap();
//! tls.set_certificate(&boring::x509::X509::from_der(cert.cert.der()).unwrap()).unwrap();
//! tls.set_private_key(
//!     &boring::pkey::PKey::private_key_from_der(&cert.signing_key.serialize_der()).unwrap(),
//! ).unwrap();
//!
//! let mut server = Endpoint::new(Config::server(ServerTls::Context(tls), Limits::default()).unwrap());
//! let mut client = Endpoint::new(Config::client(ClientTls::InsecureNoVerify, Limits::default()).unwrap());
//! let (c_addr, s_addr) = ("127.0.0.1:5000".parse().unwrap(), "127.0.0.1:443".parse().unwrap());
//! let conn = client.connect(Instant::now(), c_addr, s_addr, "localhost", ConnectOptions::default()).unwrap();
//!
//! // Drain one side's transmits into the other (a real loop uses sockets).
//! fn shuttle(from: &mut Endpoint, to: &mut Endpoint, buf: &mut [u8]) {
//!     while let Some(t) = from.poll_transmit(Instant::now(), buf, 1) {
//!         let meta = RecvMeta::new(t.to, t.from);
//!         to.handle_datagram(Instant::now(), meta, &mut buf[..t.len]);
//!     }
//! }
//!
//! let mut buf = vec![0u8; 65536];
//! let mut body = Vec::new();
//! let mut status = None;
//! for _ in 0..100 {
//!     shuttle(&mut client, &mut server, &mut buf);
//!     shuttle(&mut server, &mut client, &mut buf);
//!     // Server: answer every request.
//!     while let Some(ev) = server.poll_event() {
//!         if let EventKind::Request { stream, .. } = ev.kind {
//!             let mut c = server.conn(ev.conn).unwrap();
//!             c.send_response(stream, &[(":status", "200")], false).unwrap();
//!             c.send_body(stream, b"hello", true).unwrap();
//!         }
//!     }
//!     // Client: send a request once connected, collect the response.
//!     while let Some(ev) = client.poll_event() {
//!         let mut c = client.conn(ev.conn).unwrap();
//!         match ev.kind {
//!             EventKind::Connected => {
//!                 let req = [(":method", "GET"), (":scheme", "https"),
//!                            (":authority", "localhost"), (":path", "/")];
//!                 c.send_request(&req, true).unwrap();
//!             }
//!             EventKind::Response { headers, .. } => status = headers.status(),
//!             EventKind::Data { stream } => {
//!                 let mut chunk = [0u8; 4096];
//!                 loop {
//!                     let n = c.recv_body(stream, &mut chunk).unwrap();
//!                     if n == 0 { break }
//!                     body.extend_from_slice(&chunk[..n]);
//!                 }
//!             }
//!             _ => {}
//!         }
//!     }
//!     if body == b"hello" { break }
//!     if client.poll_timeout().is_some_and(|t| t <= Instant::now()) {
//!         client.handle_timeout(Instant::now());
//!     }
//! }
//! assert_eq!(status, Some(200));
//! assert_eq!(body, b"hello");
//! ```
//!
//! ## Time
//!
//! filo-core never reads the clock: every input takes `now` and deadlines
//! are absolute. quiche, underneath, reads `Instant::now()` itself inside
//! `recv`, `send` and `on_timeout`, so pass the real current time.
//!
//! ## Panics
//!
//! A panic is a bug in filo. No peer input can cause one: malformed
//! datagrams are dropped and counted, protocol violations close the stream
//! or connection with a typed reason.

mod alloc_audit;
mod cid;
mod config;
mod conn;
mod endpoint;
mod error;
mod event;
#[cfg(feature = "fuzz")]
#[doc(hidden)]
pub mod fuzz_support;
mod hash;
mod headers;
mod keys;
mod packet;
mod rand;
mod retry;
mod stats;
mod stream;
mod timer;
mod transmit;
pub mod validate;

#[cfg(feature = "alloc-audit")]
pub use alloc_audit::{AllocCounts, CountingAlloc, in_filo_code, in_quiche, measure};
pub use cid::{ConnectionIdGenerator, RandomConnectionIdGenerator};
pub use config::{ClientTls, Config, CongestionControl, Limits, RetryMode, Role, ServerTls};
pub use conn::Conn;
pub use endpoint::{ConnectOptions, Endpoint};
pub use error::{
    ConfigError, ConnectError, DatagramError, H3Error, SendRequestError, StreamError,
    TransportError, code,
};
pub use event::{CloseReason, ConnHandle, Event, EventKind, StreamFailure};
pub use headers::HeaderList;
pub use keys::EndpointKeys;
pub use stats::{ConnStats, DropCounters, EndpointStats};
pub use stream::StreamId;
pub use transmit::{RecvMeta, Transmit};

/// The clock for unit tests: they are callers, and callers read the clock.
#[cfg(test)]
pub(crate) fn test_now() -> std::time::Instant {
    #[allow(clippy::disallowed_methods)]
    let now = std::time::Instant::now;
    now()
}

/// The `boring` crate filo-core was built with, for callers that prepare
/// their own TLS contexts ([`ServerTls::Context`], [`ClientTls::Context`]).
pub use boring;
