//! Stream ids and filo's per-stream HTTP message state.

use crate::validate::MethodKind;

/// A QUIC stream id carrying one HTTP request/response exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u64);

impl StreamId {
    /// The raw QUIC stream id.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<StreamId> for u64 {
    fn from(id: StreamId) -> u64 {
        id.0
    }
}

/// Where the received message on a stream is (RFC 9114 §4.1 frame order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecvPhase {
    /// Waiting for the request head (server) or a response head (client);
    /// `interim` counts 1xx responses so far.
    Head { interim: u32 },
    /// Head received; DATA or trailers may follow.
    Body,
    /// Trailers received; only the end of the stream may follow.
    Trailers,
    /// Finished, reset or failed: nothing more is surfaced.
    Done,
}

/// Where our sent message on a stream is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendPhase {
    /// Server: nothing sent yet. (Clients start at `Body`.)
    Idle,
    /// Server: one or more 1xx sent, no final response yet.
    Interim,
    /// Head sent; body and trailers may follow.
    Body,
    /// FIN sent, or the send side was reset or stopped.
    Done,
}

/// filo's state for one request stream. Small and `Copy`; lives in a map
/// whose capacity is reserved up front, so streams cost no allocation.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamState {
    pub(crate) recv: RecvPhase,
    pub(crate) send: SendPhase,
    /// Declared `content-length` of the received message.
    pub(crate) content_length: Option<u64>,
    /// DATA bytes handed to the application so far.
    pub(crate) received: u64,
    /// Client: the request method (HEAD responses carry no body).
    pub(crate) method: MethodKind,
    /// Client: the response status (204/304 carry no body).
    pub(crate) status: u16,
    /// Bytes of send capacity the application waits for (`Writable`);
    /// 0 when it waits for nothing.
    pub(crate) writable_need: u32,
    /// The peer's STOP_SENDING on this stream has been accounted for.
    pub(crate) stop_seen: bool,
    /// The code of the peer's STOP_SENDING, once filo has seen it; sends
    /// then fail with `StreamError::Stopped(code)`.
    pub(crate) stopped: Option<u64>,
    /// The stream already counts against the abnormal-stream budget.
    pub(crate) abnormal: bool,
}

impl StreamState {
    pub(crate) fn server() -> Self {
        Self {
            recv: RecvPhase::Head { interim: 0 },
            send: SendPhase::Idle,
            content_length: None,
            received: 0,
            method: MethodKind::Other,
            status: 0,
            writable_need: 0,
            stop_seen: false,
            stopped: None,
            abnormal: false,
        }
    }

    pub(crate) fn client(method: MethodKind, fin: bool) -> Self {
        Self {
            send: if fin {
                SendPhase::Done
            } else {
                SendPhase::Body
            },
            method,
            ..Self::server()
        }
    }

    /// Both directions are over: the entry can go.
    pub(crate) fn is_over(&self) -> bool {
        self.recv == RecvPhase::Done && self.send == SendPhase::Done
    }

    /// Whether the body length must equal `content-length` at the end.
    pub(crate) fn checks_content_length(&self) -> bool {
        self.method != MethodKind::Head && !matches!(self.status, 204 | 304)
    }
}
