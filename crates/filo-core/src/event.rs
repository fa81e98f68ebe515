//! What the endpoint tells the application: [`Event`]s carry ids and small
//! values; bodies are pulled with `recv_body`, header lists are moved.

use crate::headers::HeaderList;
use crate::stream::StreamId;
use crate::validate::MessageError;

/// A connection's handle: an index plus a generation, so a handle of a
/// closed connection never reaches a newer one in the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl ConnHandle {
    /// The slot index (unique among live connections).
    pub fn index(self) -> u32 {
        self.index
    }
}

/// Something happened on connection `conn`.
#[derive(Debug)]
pub struct Event {
    /// The connection it happened on.
    pub conn: ConnHandle,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[non_exhaustive]
#[derive(Debug)]
pub enum EventKind {
    /// A server accepted a new connection (its handshake is under way).
    Accepted,
    /// The handshake completed; HTTP/3 is ready.
    Connected,
    /// Server: a valid request head arrived. `fin` means no body follows.
    Request {
        /// The request stream.
        stream: StreamId,
        /// The validated request header section.
        headers: HeaderList,
        /// The request has no body.
        fin: bool,
    },
    /// Client: an interim (1xx) response arrived. Capped per request.
    Interim {
        /// The request stream.
        stream: StreamId,
        /// The 1xx header section.
        headers: HeaderList,
    },
    /// Client: the final response head arrived. `fin` means no body follows.
    Response {
        /// The request stream.
        stream: StreamId,
        /// The validated response header section.
        headers: HeaderList,
        /// The response has no body.
        fin: bool,
    },
    /// A trailer section arrived (after the body).
    Trailers {
        /// The stream.
        stream: StreamId,
        /// The validated trailer section.
        headers: HeaderList,
    },
    /// Body bytes are ready: call `recv_body` until it returns 0. The event
    /// comes again only after that.
    Data {
        /// The stream.
        stream: StreamId,
    },
    /// The peer finished its message: every body byte has been read and the
    /// length matched `content-length`.
    Finished {
        /// The stream.
        stream: StreamId,
    },
    /// The peer reset its send side with `code`. filo also ended our send
    /// side (H3_REQUEST_CANCELLED) if it was still open.
    Reset {
        /// The stream.
        stream: StreamId,
        /// The peer's error code.
        code: u64,
    },
    /// The peer sent STOP_SENDING with `code`; our send side is reset.
    StopSending {
        /// The stream.
        stream: StreamId,
        /// The peer's error code.
        code: u64,
    },
    /// Send capacity returned on a stream whose `send_body` was short.
    Writable {
        /// The stream.
        stream: StreamId,
    },
    /// filo refused a received message and ended the stream with the reason's
    /// code; the connection carries on. On a server the request never
    /// surfaced (or its body broke `content-length`); on a client the
    /// request failed.
    StreamFailed {
        /// The stream.
        stream: StreamId,
        /// Why.
        reason: StreamFailure,
    },
    /// Client: the server did not process this request (it was at or above
    /// the GOAWAY id, or reset with H3_REQUEST_REJECTED): safe to retry
    /// elsewhere.
    NotProcessed {
        /// The request stream.
        stream: StreamId,
    },
    /// Client: a `send_request` that failed with `StreamLimit` or `Blocked`
    /// may succeed now.
    StreamsAvailable,
    /// The peer sent GOAWAY with this id (a stream id from a server, a push
    /// id from a client).
    GoAway {
        /// The id in the frame.
        id: u64,
    },
    /// HTTP/3 DATAGRAMs are waiting: call `recv_datagram` until it is empty.
    Datagrams,
    /// The connection is gone; its handle is now invalid.
    Closed {
        /// Why it ended.
        reason: CloseReason,
    },
}

/// Why filo refused a received message.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamFailure {
    /// The message broke an RFC 9114 §4 rule (stream reset with
    /// H3_MESSAGE_ERROR).
    Malformed(MessageError),
    /// The header section exceeded filo's limit: a server answered 431, a
    /// client cancelled the request.
    HeadersTooLarge {
        /// The section size as RFC 9114 §4.2.2 counts it.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// More interim responses than `max_interim_responses`
    /// (stream reset with H3_EXCESSIVE_LOAD).
    TooManyInterim,
    /// The request stream ended before a complete request (H3_REQUEST_INCOMPLETE).
    Incomplete,
}

/// Why a connection ended.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// This side closed it, sending `code`: the application called `close`,
    /// a GOAWAY drain finished (H3_NO_ERROR), a budget ran out
    /// (H3_EXCESSIVE_LOAD), or filo or quiche caught the peer breaking the
    /// protocol (e.g. H3_FRAME_UNEXPECTED).
    Local {
        /// The error code sent.
        code: u64,
        /// Whether `code` is an application (HTTP/3) code.
        app: bool,
    },
    /// The peer closed it with a transport error code.
    PeerTransport {
        /// The peer's code.
        code: u64,
        /// The peer's reason phrase.
        reason: Vec<u8>,
    },
    /// The peer closed it with an application (HTTP/3) error code.
    PeerApplication {
        /// The peer's code.
        code: u64,
        /// The peer's reason phrase.
        reason: Vec<u8>,
    },
    /// Nothing was received for the idle timeout.
    IdleTimeout,
    /// The handshake did not finish within `handshake_timeout`.
    HandshakeTimeout,
    /// Server: no request arrived within `first_request_timeout` of the
    /// handshake.
    FirstRequestTimeout,
    /// Client: the server answered with a stateless reset (best effort:
    /// quiche detects it only for the handshake's reset token).
    StatelessReset,
}
