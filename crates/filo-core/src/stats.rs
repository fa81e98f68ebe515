//! Counters per connection and per endpoint.

use std::time::Duration;

/// Statistics of one connection.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Smoothed RTT of the active path.
    pub rtt: Duration,
    /// Congestion window in bytes.
    pub cwnd: usize,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received.
    pub bytes_recv: u64,
    /// Bytes declared lost.
    pub bytes_lost: u64,
    /// QUIC packets sent.
    pub packets_sent: u64,
    /// QUIC packets received.
    pub packets_recv: u64,
    /// QUIC packets declared lost.
    pub packets_lost: u64,
    /// Datagrams this connection put in transmits.
    pub datagrams_sent: u64,
    /// Requests sent (client) or received (server).
    pub requests: u64,
    /// Request streams open in filo's table.
    pub active_streams: u64,
    /// Streams that ended abnormally (counted against the budget).
    pub abnormal_streams: u64,
    /// Server: request streams that ended before a complete HEADERS.
    pub incomplete_requests: u64,
    /// Server: requests rejected (GOAWAY or request cap).
    pub rejected_requests: u64,
    /// STOP_SENDING frames for streams filo does not track (not counted
    /// as abnormal; see `Limits::abnormal_stream_budget`).
    pub untracked_stops: u64,
    /// Datagrams quiche refused with an error.
    pub recv_errors: u64,
    /// Path events drained from quiche.
    pub path_events: u64,
}

/// Why the endpoint dropped a datagram without a connection seeing it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// Too short, truncated header, or a CID longer than 20 bytes.
    pub malformed: u64,
    /// DCID matches no connection (and it was not a new Initial).
    pub unknown_cid: u64,
    /// Client Initial in a datagram under 1200 bytes.
    pub short_initial: u64,
    /// Unsupported version, too small for Version Negotiation.
    pub unsupported_version: u64,
    /// A Version Negotiation packet nobody asked for.
    pub version_negotiation: u64,
    /// Retry token that failed its integrity check (forged, or minted for
    /// another address or CID).
    pub invalid_token: u64,
    /// Retry token past its expiry.
    pub expired_token: u64,
    /// Over `max_connections`.
    pub connection_limit: u64,
    /// Over `max_connections_per_ip`.
    pub per_ip_limit: u64,
    /// Over `max_pending_handshakes` with no Retry allowed.
    pub handshake_limit: u64,
    /// An Initial that did not decrypt: no state kept.
    pub undecryptable_initial: u64,
    /// Stateless packets (VN, Retry, reset) dropped because the outgoing
    /// queue was full.
    pub stateless_queue_full: u64,
    /// A client endpoint received an Initial for an unknown CID.
    pub not_a_server: u64,
    /// The CID generator produced only CIDs already in use.
    pub cid_exhausted: u64,
}

/// Statistics of an endpoint.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams received (GRO segments counted one by one).
    pub datagrams_in: u64,
    /// Datagrams sent (GSO segments counted one by one).
    pub datagrams_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Datagrams dropped before reaching a connection, by reason.
    pub dropped: DropCounters,
    /// Version Negotiation packets sent.
    pub version_negotiations: u64,
    /// Retry packets sent.
    pub retries: u64,
    /// Initials carrying a token filo did not mint (e.g. a NEW_TOKEN from
    /// another server), treated as carrying none (RFC 9000 §8.1.3).
    pub foreign_tokens: u64,
    /// Stateless resets sent.
    pub resets_sent: u64,
    /// Client: stateless resets received that matched a connection's token.
    pub stateless_resets_received: u64,
    /// Stateless resets withheld by the rate limit.
    pub resets_rate_limited: u64,
    /// Connections accepted (server) or opened (client) so far.
    pub connections_opened: u64,
    /// Connections that ended so far.
    pub connections_closed: u64,
    /// Connections now in the handshake.
    pub handshaking: u64,
    /// Connections now established and not closing.
    pub established: u64,
    /// Connections now closing or draining.
    pub closing: u64,
}
