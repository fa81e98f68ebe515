//! Typed errors, one enum per operation, and the HTTP/3 error codes.

use crate::stream::StreamId;

/// HTTP/3 error codes (RFC 9114 §8.1) filo sends and recognises.
pub mod code {
    /// No error: graceful close or stream end.
    pub const H3_NO_ERROR: u64 = 0x100;
    /// Generic protocol violation.
    pub const H3_GENERAL_PROTOCOL_ERROR: u64 = 0x101;
    /// Internal error in the HTTP stack.
    pub const H3_INTERNAL_ERROR: u64 = 0x102;
    /// A frame not permitted in the current state or on this stream.
    pub const H3_FRAME_UNEXPECTED: u64 = 0x105;
    /// The peer is generating excessive load (filo's budgets).
    pub const H3_EXCESSIVE_LOAD: u64 = 0x107;
    /// The request was not processed; safe to retry.
    pub const H3_REQUEST_REJECTED: u64 = 0x10b;
    /// The request or response was cancelled.
    pub const H3_REQUEST_CANCELLED: u64 = 0x10c;
    /// The request stream ended without a complete request.
    pub const H3_REQUEST_INCOMPLETE: u64 = 0x10d;
    /// A malformed message (RFC 9114 §4.1.2).
    pub const H3_MESSAGE_ERROR: u64 = 0x10e;
}

/// An error from quiche's transport layer, wrapped (filo does not re-export
/// quiche's types).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TransportError(pub(crate) quiche::Error);

impl std::fmt::Debug for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TransportError({:?})", self.0)
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "quic: {}", self.0)
    }
}

impl std::error::Error for TransportError {}

/// An error from quiche's HTTP/3 layer, wrapped.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct H3Error(pub(crate) quiche::h3::Error);

impl std::fmt::Debug for H3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "H3Error({:?})", self.0)
    }
}

impl std::fmt::Display for H3Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "h3: {}", self.0)
    }
}

impl std::error::Error for H3Error {}

/// Building a [`Config`](crate::Config) failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// quiche refused a setting or a TLS file.
    #[error("quiche configuration: {0}")]
    Transport(#[from] TransportError),
    /// quiche refused an HTTP/3 setting.
    #[error("h3 configuration: {0}")]
    H3(H3Error),
    /// BoringSSL refused the TLS context.
    #[error("tls: {0}")]
    Tls(String),
    /// A limit is out of range; the message names it.
    #[error("invalid limit: {0}")]
    InvalidLimit(&'static str),
}

/// [`Endpoint::connect`](crate::Endpoint::connect) failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The endpoint was built with a server config.
    #[error("this endpoint has no client configuration")]
    NotAClient,
    /// The endpoint holds `max_connections` already.
    #[error("connection limit reached")]
    TooManyConnections,
    /// The server name is empty or longer than 255 bytes.
    #[error("invalid server name")]
    InvalidServerName,
    /// The CID generator produced only CIDs already in use.
    #[error("no unused connection ID could be generated")]
    CidExhausted,
    /// quiche refused to create the connection.
    #[error("{0}")]
    Transport(TransportError),
}

/// [`Conn::send_request`](crate::Conn::send_request) failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendRequestError {
    /// Only clients send requests.
    #[error("only clients send requests")]
    NotAClient,
    /// The handshake has not finished; wait for `Connected`.
    #[error("connection not established yet")]
    NotEstablished,
    /// The peer's bidirectional stream limit is reached. filo emits
    /// `StreamsAvailable` once a received datagram raises it.
    #[error("peer's stream limit reached")]
    StreamLimit,
    /// The header block does not fit the current send capacity (flow or
    /// congestion control). filo emits `StreamsAvailable` when a later
    /// datagram may have freed capacity; retry then.
    #[error("blocked on send capacity")]
    Blocked,
    /// The peer sent GOAWAY: no new requests on this connection.
    #[error("peer sent GOAWAY")]
    GoingAway,
    /// The header section exceeds the peer's SETTINGS_MAX_FIELD_SECTION_SIZE.
    #[error("header section of {size} bytes exceeds the peer's limit of {limit}")]
    HeadersTooLarge {
        /// Size of the section as RFC 9114 §4.2.2 counts it.
        size: u64,
        /// The peer's advertised limit.
        limit: u64,
    },
    /// The connection is closing or closed.
    #[error("connection closed")]
    Closed,
    /// Another HTTP/3 error from quiche.
    #[error("{0}")]
    H3(H3Error),
}

/// A stream operation (`send_response`, `send_body`, `recv_body`, ...)
/// failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// No such open stream (never opened, or already finished or reset).
    #[error("unknown or finished stream {0}")]
    UnknownStream(StreamId),
    /// The call does not fit the stream's state (a second response,
    /// a body before the response, trailers twice, a server-only call on a
    /// client...).
    #[error("operation not allowed in the stream's state")]
    InvalidState,
    /// The peer sent STOP_SENDING with this code; the send side is gone.
    #[error("peer stopped the stream with code {0:#x}")]
    Stopped(u64),
    /// The header block does not fit the current send capacity; retry after
    /// `Writable` for this stream.
    #[error("blocked on send capacity")]
    Blocked,
    /// The header section exceeds the peer's SETTINGS_MAX_FIELD_SECTION_SIZE.
    #[error("header section of {size} bytes exceeds the peer's limit of {limit}")]
    HeadersTooLarge {
        /// Size of the section as RFC 9114 §4.2.2 counts it.
        size: u64,
        /// The peer's advertised limit.
        limit: u64,
    },
    /// The received message broke a rule (e.g. more body than its
    /// `content-length`); the stream was reset and `StreamFailed` emitted.
    #[error("malformed message: {0}")]
    Malformed(crate::validate::MessageError),
    /// The connection is closing or closed.
    #[error("connection closed")]
    Closed,
    /// Another HTTP/3 error from quiche.
    #[error("{0}")]
    H3(H3Error),
}

/// Sending or receiving an HTTP/3 DATAGRAM failed.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// DATAGRAM support is off in the config or the peer did not enable it.
    #[error("datagrams not enabled")]
    Disabled,
    /// The datagram is larger than the path allows.
    #[error("datagram too large")]
    TooLarge,
    /// The send queue is full.
    #[error("datagram send queue full")]
    QueueFull,
    /// The connection is closing or closed.
    #[error("connection closed")]
    Closed,
    /// Another error from quiche.
    #[error("{0}")]
    Transport(TransportError),
}
