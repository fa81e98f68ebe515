//! # filo-mio
//!
//! Runs a [filo-core](filo_core) HTTP/3 endpoint inside a `mio` event loop
//! **you** own: the [`Driver`] registers its UDP sockets on your
//! `mio::Registry` under tokens you choose, never blocks and never spawns a
//! thread. Socket I/O goes through `quinn-udp`: GSO batches out, GRO and
//! `recvmmsg` batches in, packet-info for wildcard-bound servers. Events and
//! commands are filo-core's own types (`driver.endpoint()`).
//!
//! ## Your loop
//!
//! ```
//! use std::time::{Duration, Instant};
//! use filo_core::{Config, ConnectOptions, Endpoint, EventKind, ClientTls};
//! use filo_mio::Driver;
//! use mio::{Events, Poll, Token};
//!
//! let pki = filo_sim::TestPki::new(&["localhost"]);
//! let mut poll = Poll::new().unwrap();
//! let server_ep = Endpoint::new(Config::server(pki.server_tls(), Default::default()).unwrap());
//! let client_ep = Endpoint::new(Config::client(pki.client_tls(), Default::default()).unwrap());
//! let (mut server, mut client) = (Driver::new(server_ep), Driver::new(client_ep));
//! let addr = server.bind(poll.registry(), "127.0.0.1:0".parse().unwrap(), Token(0)).unwrap();
//! client.bind(poll.registry(), "127.0.0.1:0".parse().unwrap(), Token(1)).unwrap();
//! client.connect(Instant::now(), addr, "localhost", ConnectOptions::default()).unwrap();
//!
//! let mut events = Events::with_capacity(64);
//! let mut status = None;
//! let deadline = Instant::now() + Duration::from_secs(10);
//! while status.is_none() && Instant::now() < deadline {
//!     // 1. Send what is pending, then wait for readiness or the next deadline.
//!     let now = Instant::now();
//!     server.flush(now);
//!     client.flush(now);
//!     let timeout = [server.timeout(now), client.timeout(now)].into_iter().flatten().min();
//!     poll.poll(&mut events, timeout.or(Some(Duration::from_millis(100)))).unwrap();
//!     // 2. Feed readiness and timers to the drivers owning them.
//!     let now = Instant::now();
//!     for ev in events.iter() {
//!         for d in [&mut server, &mut client] {
//!             if d.owns(ev.token()) { d.handle_event(ev, now) }
//!         }
//!     }
//!     server.handle_timeout(now);
//!     client.handle_timeout(now);
//!     // 3. Handle events with filo-core's API.
//!     while let Some(ev) = server.endpoint().poll_event() {
//!         if let EventKind::Request { stream, .. } = ev.kind {
//!             let mut c = server.endpoint().conn(ev.conn).unwrap();
//!             c.send_response(stream, &[(":status", "200")], true).unwrap();
//!         }
//!     }
//!     while let Some(ev) = client.endpoint().poll_event() {
//!         match ev.kind {
//!             EventKind::Connected => {
//!                 let req = [(":method", "GET"), (":scheme", "https"),
//!                            (":authority", "localhost"), (":path", "/")];
//!                 client.endpoint().conn(ev.conn).unwrap().send_request(&req, true).unwrap();
//!             }
//!             EventKind::Response { headers, .. } => status = headers.status(),
//!             _ => {}
//!         }
//!     }
//! }
//! assert_eq!(status, Some(200));
//! ```
//!
//! Users without a loop of their own call [`Driver::run`].
//!
//! ## Sending
//!
//! [`Driver::flush`] takes transmits from the endpoint and sends each with
//! one `sendmsg` (a GSO batch when it has several segments). A `WouldBlock`
//! keeps the transmit and stops; sending resumes, in order, when the socket
//! reports writable. If the kernel refuses GSO (`EIO`/`EINVAL`) the batch is
//! resent datagram by datagram and later batches are capped at what the
//! socket supports. Pacing happens in filo-core: it hands out only
//! transmits due within its release horizon (2 ms by default) and holds the
//! rest behind its timer, so the driver sends at once and never arms a
//! timer of its own.

mod driver;
mod socket;

pub use driver::{ConnectError, Driver, DriverStats};
