//! One UDP socket of the driver: the mio socket, its token, and quinn-udp's
//! per-socket state (GSO/GRO capabilities, cmsg handling).

use std::io;
use std::net::{IpAddr, SocketAddr};

use mio::Token;
use mio::net::UdpSocket;
use quinn_udp::{UdpSockRef, UdpSocketState};

pub(crate) struct Socket {
    pub(crate) io: UdpSocket,
    pub(crate) token: Token,
    pub(crate) state: UdpSocketState,
    /// The address the socket is bound to (possibly a wildcard).
    pub(crate) bound: SocketAddr,
    /// A read stopped at the receive budget: datagrams may still wait
    /// (edge-triggered: no new readiness event will say so).
    /// When (the `now` of that read); `None` once a read hit `WouldBlock`.
    pub(crate) more_to_read: Option<std::time::Instant>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("token", &self.token)
            .field("bound", &self.bound)
            .field("max_gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(io: UdpSocket, token: Token) -> io::Result<Self> {
        let state = UdpSocketState::new(UdpSockRef::from(&io))?;
        let bound = io.local_addr()?;
        Ok(Self {
            io,
            token,
            state,
            bound,
            more_to_read: None,
        })
    }

    pub(crate) fn is_wildcard(&self) -> bool {
        self.bound.ip().is_unspecified()
    }

    /// The local address a datagram arrived on: the bound address, or for a
    /// wildcard socket the packet-info destination quinn-udp reports.
    pub(crate) fn local_for(&self, dst_ip: Option<IpAddr>) -> SocketAddr {
        match dst_ip {
            Some(ip) if self.is_wildcard() => SocketAddr::new(ip, self.bound.port()),
            _ => self.bound,
        }
    }

    /// How well this socket can send from `from`: 2 exact, 1 wildcard with
    /// the same port and family, 0 not at all.
    pub(crate) fn send_match(&self, from: SocketAddr) -> u8 {
        if self.bound == from {
            2
        } else if self.is_wildcard()
            && self.bound.port() == from.port()
            && self.bound.is_ipv4() == from.is_ipv4()
        {
            1
        } else {
            0
        }
    }
}
