//! Datagram metadata in and out. Bytes always live in caller-owned buffers.

use std::net::SocketAddr;
use std::time::Instant;

/// Where a received datagram (or GRO batch) came from and arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvMeta {
    /// The local address it arrived on (with a wildcard-bound socket, the
    /// packet-info destination). A connection's local address is the one
    /// its datagrams arrive on.
    pub local: SocketAddr,
    /// The sender.
    pub peer: SocketAddr,
    /// GRO stride: the buffer holds several datagrams of this size (the last
    /// may be shorter). `None` for a single datagram.
    pub segment_size: Option<usize>,
}

impl RecvMeta {
    /// A single datagram from `peer` to `local`.
    pub fn new(local: SocketAddr, peer: SocketAddr) -> Self {
        Self {
            local,
            peer,
            segment_size: None,
        }
    }
}

/// One datagram, or a GSO batch of datagrams to one destination, written
/// into the buffer given to `poll_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// Source address to send from (matters on wildcard-bound sockets).
    pub from: SocketAddr,
    /// Bytes written into the buffer.
    pub len: usize,
    /// GSO segment size: every segment is this long except possibly the
    /// last. Equals `len` for a single datagram.
    pub segment_size: usize,
    /// Do not hand to the network before this instant (pacing). `None`
    /// means now. Always within the endpoint's release horizon.
    pub release: Option<Instant>,
}

impl Transmit {
    /// Number of datagrams in the batch.
    pub fn segments(&self) -> usize {
        if self.segment_size == 0 {
            0
        } else {
            self.len.div_ceil(self.segment_size)
        }
    }
}
