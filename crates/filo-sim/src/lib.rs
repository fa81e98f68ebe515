//! # filo-sim
//!
//! An in-memory network for filo endpoints: links with seeded loss,
//! duplication, reordering, delay/jitter, corruption and an MTU; a driver
//! ([`Sim::drive`], [`Sim::drive_bounded`], [`Sim::run_until`]); a
//! connected client/server [`Pair`] with test certificates made at run time;
//! and HTTP apps ([`ServerApp`], [`ClientApp`]) that exercise requests,
//! bodies, trailers and interim responses and verify bodies by SHA-256.
//!
//! A seed fixes the link's decisions, datagram by datagram. It does not fix
//! timing: quiche reads the real clock, so the simulator runs in real time
//! (keep `initial_rtt` small, as [`test_limits`] does).

pub mod api_model;
mod apps;
mod certs;
mod direct;
#[cfg(feature = "fuzz")]
pub mod fuzz;
mod link;
mod pair;
pub mod raw;
mod rawloop;
mod sim;

pub use apps::{
    Body, ClientApp, Exchange, Incoming, RequestSpec, ServedRequest, ServerApp, fill_pattern, hex,
    pattern_sha256,
};
pub use certs::TestPki;
pub use direct::DirectPair;
pub use link::{Fate, LinkConfig, Rng};
pub use pair::{CLIENT_ADDR, Pair, PairConfig, SERVER_ADDR, test_limits};
pub use rawloop::{RawHandshakes, RawLoop};
pub use sim::{Livelock, Node, NodeApp, NodeId, Sim, SimStats, TransmitHook};
