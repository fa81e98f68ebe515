//! A connected client/server pair on a simulated link: the few lines most
//! tests start from.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use filo_core::{Config, ConnHandle, ConnectOptions, Endpoint, Limits};

use crate::apps::{ClientApp, RequestSpec, ServerApp};
use crate::certs::TestPki;
use crate::link::LinkConfig;
use crate::sim::{NodeId, Sim};

/// The client's address in a [`Pair`].
pub const CLIENT_ADDR: &str = "10.0.0.1:40000";
/// The server's address in a [`Pair`].
pub const SERVER_ADDR: &str = "10.0.0.2:443";

/// Limits for tests: small initial RTT so loss recovery and timeouts run
/// quickly in real time (quiche's timers read the real clock).
pub fn test_limits() -> Limits {
    let mut l = Limits::default();
    l.initial_rtt = Duration::from_millis(10);
    l
}

/// How to build a [`Pair`].
#[derive(Clone, Debug)]
pub struct PairConfig {
    /// Seed of the link's decisions.
    pub seed: u64,
    /// The link (both directions).
    pub link: LinkConfig,
    /// Client limits.
    pub client: Limits,
    /// Server limits.
    pub server: Limits,
}

impl Default for PairConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            link: LinkConfig::default(),
            client: test_limits(),
            server: test_limits(),
        }
    }
}

/// A client and a server endpoint in one simulation, the client connecting
/// (certificate verified against a test CA).
#[derive(Debug)]
pub struct Pair {
    /// The simulation.
    pub sim: Sim,
    /// The client node.
    pub client: NodeId,
    /// The server node.
    pub server: NodeId,
    /// The client's connection.
    pub conn: ConnHandle,
    /// The certificates in use.
    pub pki: TestPki,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("static address")
}

impl Pair {
    /// Builds the pair and starts the client's connection (nothing sent yet).
    pub fn new(cfg: PairConfig) -> Self {
        let pki = TestPki::new(&["localhost"]);
        let server = Config::server(pki.server_tls(), cfg.server).expect("server config");
        let client = Config::client(pki.client_tls(), cfg.client).expect("client config");
        Self::from_configs(cfg.seed, cfg.link, client, server, pki)
    }

    /// Builds the pair from ready configs.
    pub fn from_configs(
        seed: u64,
        link: LinkConfig,
        client: Config,
        server: Config,
        pki: TestPki,
    ) -> Self {
        let mut sim = Sim::new(seed, link);
        let s = sim.add_node(Endpoint::new(server), addr(SERVER_ADDR));
        let c = sim.add_node(Endpoint::new(client), addr(CLIENT_ADDR));
        let conn = sim.nodes[c]
            .endpoint
            .connect(
                Instant::now(),
                addr(CLIENT_ADDR),
                addr(SERVER_ADDR),
                "localhost",
                ConnectOptions::default(),
            )
            .expect("connect");
        Self {
            sim,
            client: c,
            server: s,
            conn,
            pki,
        }
    }

    /// A pair with a [`ServerApp`] and a [`ClientApp`] holding `requests`.
    pub fn with_apps(cfg: PairConfig, requests: impl IntoIterator<Item = RequestSpec>) -> Self {
        let mut p = Self::new(cfg);
        p.sim.set_app(p.server, ServerApp::new());
        p.sim.set_app(p.client, ClientApp::new(requests));
        p
    }

    /// The client app (panics if another app is attached).
    pub fn client_app(&mut self) -> &mut ClientApp {
        self.sim
            .app::<ClientApp>(self.client)
            .expect("ClientApp on the client")
    }

    /// The server app (panics if another app is attached).
    pub fn server_app(&mut self) -> &mut ServerApp {
        self.sim
            .app::<ServerApp>(self.server)
            .expect("ServerApp on the server")
    }

    /// The client endpoint.
    pub fn client_ep(&mut self) -> &mut Endpoint {
        &mut self.sim.nodes[self.client].endpoint
    }

    /// The server endpoint.
    pub fn server_ep(&mut self) -> &mut Endpoint {
        &mut self.sim.nodes[self.server].endpoint
    }

    /// Runs until the client app's requests all ended, or `limit` passes.
    pub fn run_requests(&mut self, limit: Duration) -> bool {
        let c = self.client;
        self.sim.run_until(limit, |sim| {
            sim.app::<ClientApp>(c).is_some_and(|a| a.all_done())
        })
    }
}
