//! Endpoint configuration: TLS, transport and HTTP/3 settings, and every
//! limit filo enforces, with documented defaults (see `docs/limits.md`).

use std::path::PathBuf;
use std::time::Duration;

use crate::cid::{ConnectionIdGenerator, RandomConnectionIdGenerator};
use crate::error::{ConfigError, TransportError};
use crate::keys::EndpointKeys;

/// When a server answers a new client with a stateless Retry (address
/// validation) instead of creating state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryMode {
    /// Never: accept every Initial that passes the caps.
    Never,
    /// Always: every new client proves its address first (one extra RTT).
    Always,
    /// Only while this many handshakes or more are in flight.
    AboveHandshakes(usize),
}

/// Congestion controller, as quiche names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongestionControl {
    /// CUBIC (quiche's default). quiche does not pace under it.
    Cubic,
    /// NewReno.
    Reno,
    /// BBRv2 (quiche's gcongestion port), with pacing.
    Bbr2,
}

/// Every limit and timeout filo applies. Start from `Limits::default()`
/// and change fields; the defaults are listed in `docs/limits.md`.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Limits {
    // --- timeouts ---
    /// Idle timeout (transport parameter; quiche applies max(idle, 3 PTO)).
    /// Default 30 s.
    pub idle_timeout: Duration,
    /// The handshake must finish within this. Default 10 s.
    pub handshake_timeout: Duration,
    /// Server: the first request must arrive within this of the handshake.
    /// Default 10 s; `None` disables it.
    pub first_request_timeout: Option<Duration>,
    /// Client: send a PING after this long without receiving anything.
    /// Default off.
    pub keep_alive: Option<Duration>,
    /// RTT assumed before the first sample. Default 333 ms (quiche's).
    pub initial_rtt: Duration,
    /// Server: after the first (announce) GOAWAY, how long in-flight
    /// requests get before the connection is closed anyway. Default 10 s.
    pub goaway_drain_timeout: Duration,

    // --- transport windows and streams ---
    /// Concurrent bidirectional (request) streams the peer may open.
    /// Default 100.
    pub max_streams_bidi: u64,
    /// Concurrent unidirectional streams the peer may open (HTTP/3 needs 3).
    /// Default 16.
    pub max_streams_uni: u64,
    /// Initial receive window per request stream. Default 1 MiB.
    pub stream_window: u64,
    /// Initial receive window per unidirectional stream. Default 64 KiB.
    pub uni_stream_window: u64,
    /// Initial connection receive window. Default 10 MiB.
    pub connection_window: u64,
    /// Auto-tuning cap of a stream window. Default 16 MiB (quiche's cap).
    pub max_stream_window: u64,
    /// Auto-tuning cap of the connection window. Default 24 MiB (quiche's cap).
    pub max_connection_window: u64,
    /// Largest UDP payload filo sends (also the GSO segment size).
    /// Default 1350.
    pub max_udp_payload: usize,
    /// CIDs the peer may keep active for us (transport parameter). Default 4.
    pub active_connection_id_limit: u64,
    /// Congestion controller. Default CUBIC.
    pub congestion_control: CongestionControl,
    /// Transmits due within this horizon are handed out now (with their
    /// release time); later ones wait for a timer. Default 2 ms.
    pub pacing_horizon: Duration,

    // --- HTTP/3 ---
    /// filo's limit on a received header section (RFC 9114 §4.2.2 size).
    /// Above it a server answers 431 and a client fails the request, and
    /// the connection carries on. Default 32 KiB.
    pub max_field_section_size: u64,
    /// The hard limit given to quiche (and announced in SETTINGS): above it
    /// quiche closes the connection with H3_EXCESSIVE_LOAD. Default 64 KiB.
    pub hard_field_section_size: u64,
    /// Client: interim (1xx) responses accepted per request. Default 8.
    pub max_interim_responses: u32,
    /// Server: requests per connection. At the cap filo sends GOAWAY (the
    /// exact id), serves the requests already accepted, then closes with
    /// H3_EXCESSIVE_LOAD (at the latest after `goaway_drain_timeout`).
    /// Later requests are rejected (H3_REQUEST_REJECTED); a client that
    /// keeps sending more than `max_streams_bidi` of them past any GOAWAY is
    /// closed with H3_EXCESSIVE_LOAD at once. Default 10 000.
    pub max_requests_per_connection: u64,
    /// Streams per connection that may end abnormally (reset or stopped by
    /// the peer, malformed, rejected, 431, incomplete). quiche keeps
    /// ~300-600 B for each until the connection closes; past the budget
    /// filo sends GOAWAY and closes with H3_EXCESSIVE_LOAD. This is the
    /// rapid-reset limiter. Default 500.
    pub abnormal_stream_budget: u32,
    /// HTTP/3 DATAGRAM queues `(receive, send)` in datagrams; `None` (the
    /// default) turns DATAGRAM support off.
    pub datagram_queues: Option<(usize, usize)>,

    // --- endpoint ---
    /// Connections an endpoint holds at once. Default 10 000.
    pub max_connections: usize,
    /// Server: connections from one source IP. Default 64.
    pub max_connections_per_ip: usize,
    /// Server: handshakes in flight. At the cap new connections are not
    /// created: Initials without a token get a Retry if `retry` asks for
    /// one, all others are dropped (counted). Default 1024.
    pub max_pending_handshakes: usize,
    /// Server: when to send Retry. Default above 256 handshakes in flight.
    pub retry: RetryMode,
    /// Server: how long a Retry token stays valid. Default 10 s.
    pub retry_token_lifetime: Duration,
    /// Stateless resets sent per second (token bucket). Default 50.
    pub stateless_reset_rate: u32,
    /// Stateless reset bucket size (burst). Default 10.
    pub stateless_reset_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            first_request_timeout: Some(Duration::from_secs(10)),
            keep_alive: None,
            initial_rtt: Duration::from_millis(333),
            goaway_drain_timeout: Duration::from_secs(10),
            max_streams_bidi: 100,
            max_streams_uni: 16,
            stream_window: 1 << 20,
            uni_stream_window: 64 << 10,
            connection_window: 10 << 20,
            max_stream_window: 16 << 20,
            max_connection_window: 24 << 20,
            max_udp_payload: 1350,
            active_connection_id_limit: 4,
            congestion_control: CongestionControl::Cubic,
            pacing_horizon: Duration::from_millis(2),
            max_field_section_size: 32 << 10,
            hard_field_section_size: 64 << 10,
            max_interim_responses: 8,
            max_requests_per_connection: 10_000,
            abnormal_stream_budget: 500,
            datagram_queues: None,
            max_connections: 10_000,
            max_connections_per_ip: 64,
            max_pending_handshakes: 1024,
            retry: RetryMode::AboveHandshakes(256),
            retry_token_lifetime: Duration::from_secs(10),
            stateless_reset_rate: 50,
            stateless_reset_burst: 10,
        }
    }
}

/// Server TLS: a certificate chain and its private key.
#[non_exhaustive]
pub enum ServerTls {
    /// PEM files: the leaf certificate followed by intermediates, and the key.
    PemFiles {
        /// Certificate chain file.
        cert_chain: PathBuf,
        /// Private key file.
        key: PathBuf,
    },
    /// A BoringSSL context prepared by the caller (in-memory certificates).
    Context(boring::ssl::SslContextBuilder),
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerTls::PemFiles { cert_chain, key } => f
                .debug_struct("PemFiles")
                .field("cert_chain", cert_chain)
                .field("key", key)
                .finish(),
            ServerTls::Context(_) => f.write_str("Context(..)"),
        }
    }
}

/// Client TLS: how the server's certificate is verified. Verification is
/// on unless [`ClientTls::InsecureNoVerify`] is chosen explicitly.
#[non_exhaustive]
pub enum ClientTls {
    /// Trust the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// Trust the system roots (`/etc/ssl/certs`).
    SystemRoots,
    /// Trust the CA certificates in this directory (hashed names).
    CaDirectory(PathBuf),
    /// Do not verify the server. For tests only.
    InsecureNoVerify,
    /// A BoringSSL context prepared by the caller; `verify` turns peer
    /// verification on or off.
    Context {
        /// The prepared context.
        builder: boring::ssl::SslContextBuilder,
        /// Verify the server's certificate.
        verify: bool,
    },
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientTls::CaFile(p) => f.debug_tuple("CaFile").field(p).finish(),
            ClientTls::SystemRoots => f.write_str("SystemRoots"),
            ClientTls::CaDirectory(p) => f.debug_tuple("CaDirectory").field(p).finish(),
            ClientTls::InsecureNoVerify => f.write_str("InsecureNoVerify"),
            ClientTls::Context { verify, .. } => f
                .debug_struct("Context")
                .field("verify", verify)
                .finish_non_exhaustive(),
        }
    }
}

/// Whether an endpoint accepts connections or makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Accepts connections.
    Server,
    /// Makes connections.
    Client,
}

/// Everything an [`Endpoint`](crate::Endpoint) needs. Build one with
/// [`Config::server`] or [`Config::client`].
pub struct Config {
    pub(crate) quic: quiche::Config,
    pub(crate) h3: quiche::h3::Config,
    pub(crate) role: Role,
    pub(crate) limits: Limits,
    pub(crate) keys: EndpointKeys,
    pub(crate) cid_gen: Box<dyn ConnectionIdGenerator>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("role", &self.role)
            .field("limits", &self.limits)
            .field("cid_gen", &self.cid_gen)
            .finish_non_exhaustive()
    }
}

fn tq(e: quiche::Error) -> ConfigError {
    ConfigError::Transport(TransportError(e))
}

impl Config {
    /// A server config from its TLS identity and limits.
    pub fn server(tls: ServerTls, limits: Limits) -> Result<Self, ConfigError> {
        let mut quic = match tls {
            ServerTls::PemFiles { cert_chain, key } => {
                let mut c = quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(tq)?;
                c.load_cert_chain_from_pem_file(&path_str(&cert_chain)?)
                    .map_err(tq)?;
                c.load_priv_key_from_pem_file(&path_str(&key)?)
                    .map_err(tq)?;
                c
            }
            ServerTls::Context(b) => {
                quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, b)
                    .map_err(tq)?
            }
        };
        quic.verify_peer(false);
        Self::finish(quic, Role::Server, limits)
    }

    /// A client config from its verification policy and limits.
    pub fn client(tls: ClientTls, limits: Limits) -> Result<Self, ConfigError> {
        let new = || quiche::Config::new(quiche::PROTOCOL_VERSION).map_err(tq);
        let quic = match tls {
            ClientTls::CaFile(p) => {
                let mut c = new()?;
                c.load_verify_locations_from_file(&path_str(&p)?)
                    .map_err(tq)?;
                c.verify_peer(true);
                c
            }
            ClientTls::SystemRoots => {
                let mut c = new()?;
                c.load_verify_locations_from_directory("/etc/ssl/certs")
                    .map_err(tq)?;
                c.verify_peer(true);
                c
            }
            ClientTls::CaDirectory(p) => {
                let mut c = new()?;
                c.load_verify_locations_from_directory(&path_str(&p)?)
                    .map_err(tq)?;
                c.verify_peer(true);
                c
            }
            ClientTls::InsecureNoVerify => {
                let mut c = new()?;
                c.verify_peer(false);
                c
            }
            ClientTls::Context { builder, verify } => {
                let mut c =
                    quiche::Config::with_boring_ssl_ctx_builder(quiche::PROTOCOL_VERSION, builder)
                        .map_err(tq)?;
                c.verify_peer(verify);
                c
            }
        };
        Self::finish(quic, Role::Client, limits)
    }

    fn finish(mut quic: quiche::Config, role: Role, limits: Limits) -> Result<Self, ConfigError> {
        let l = &limits;
        if l.hard_field_section_size < l.max_field_section_size {
            return Err(ConfigError::InvalidLimit(
                "hard_field_section_size must be >= max_field_section_size",
            ));
        }
        if l.max_udp_payload < 1200 {
            return Err(ConfigError::InvalidLimit("max_udp_payload must be >= 1200"));
        }
        if l.max_streams_uni < 3 {
            return Err(ConfigError::InvalidLimit(
                "max_streams_uni must be >= 3 (HTTP/3 control and QPACK streams)",
            ));
        }
        quic.set_application_protos(quiche::h3::APPLICATION_PROTOCOL)
            .map_err(tq)?;
        quic.set_max_idle_timeout(l.idle_timeout.as_millis() as u64);
        quic.set_initial_rtt(l.initial_rtt);
        quic.set_max_recv_udp_payload_size(65_527);
        quic.set_max_send_udp_payload_size(l.max_udp_payload);
        quic.set_initial_max_data(l.connection_window);
        quic.set_initial_max_stream_data_bidi_local(l.stream_window);
        quic.set_initial_max_stream_data_bidi_remote(l.stream_window);
        quic.set_initial_max_stream_data_uni(l.uni_stream_window);
        quic.set_initial_max_streams_bidi(l.max_streams_bidi);
        quic.set_initial_max_streams_uni(l.max_streams_uni);
        quic.set_max_stream_window(l.max_stream_window);
        quic.set_max_connection_window(l.max_connection_window);
        quic.set_active_connection_id_limit(l.active_connection_id_limit.max(2));
        quic.set_enable_send_streams_blocked(true);
        quic.set_cc_algorithm(match l.congestion_control {
            CongestionControl::Cubic => quiche::CongestionControlAlgorithm::CUBIC,
            CongestionControl::Reno => quiche::CongestionControlAlgorithm::Reno,
            CongestionControl::Bbr2 => quiche::CongestionControlAlgorithm::Bbr2Gcongestion,
        });
        match l.datagram_queues {
            Some((recv, send)) => quic.enable_dgram(true, recv.max(1), send.max(1)),
            None => quic.enable_dgram(false, 0, 0),
        }
        let mut h3 =
            quiche::h3::Config::new().map_err(|e| ConfigError::H3(crate::error::H3Error(e)))?;
        h3.set_max_field_section_size(l.hard_field_section_size);
        // No QPACK dynamic table (quiche does not implement one).
        h3.set_qpack_max_table_capacity(0);
        h3.set_qpack_blocked_streams(0);
        Ok(Self {
            quic,
            h3,
            role,
            limits,
            keys: EndpointKeys::random(),
            cid_gen: Box::new(RandomConnectionIdGenerator::default()),
        })
    }

    /// Uses these reset and Retry keys instead of random ones (e.g. so a
    /// restarted server's stateless resets match the CIDs it issued before).
    pub fn with_keys(mut self, keys: EndpointKeys) -> Self {
        self.keys = keys;
        self
    }

    /// Uses this CID generator instead of random 16-byte CIDs. Its
    /// `cid_len()` must be 4 to 20.
    pub fn with_cid_generator(
        mut self,
        cid_gen: Box<dyn ConnectionIdGenerator>,
    ) -> Result<Self, ConfigError> {
        if !(4..=crate::packet::MAX_CID_LEN).contains(&cid_gen.cid_len()) {
            return Err(ConfigError::InvalidLimit(
                "CID length must be 4 to 20 bytes",
            ));
        }
        self.cid_gen = cid_gen;
        Ok(self)
    }

    /// The role the config was built for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }
}

fn path_str(p: &std::path::Path) -> Result<String, ConfigError> {
    p.to_str()
        .map(str::to_owned)
        .ok_or(ConfigError::InvalidLimit("TLS file path is not UTF-8"))
}
