//! HTTP/3 message validation (RFC 9114 §4.1.2, §4.2, §4.3).
//!
//! quiche checks none of these rules. A violation makes the message
//! *malformed*: a stream error `H3_MESSAGE_ERROR`, after which the
//! connection carries on. The checks run over the decoded field list
//! without allocating.

/// A header field as the validator sees it: a name and a value.
pub trait Field {
    /// The field name.
    fn name(&self) -> &[u8];
    /// The field value.
    fn value(&self) -> &[u8];
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> Field for (N, V) {
    fn name(&self) -> &[u8] {
        self.0.as_ref()
    }
    fn value(&self) -> &[u8] {
        self.1.as_ref()
    }
}

impl Field for quiche::h3::Header {
    fn name(&self) -> &[u8] {
        quiche::h3::NameValue::name(self)
    }
    fn value(&self) -> &[u8] {
        quiche::h3::NameValue::value(self)
    }
}

/// Why a received header section is malformed. Each variant is one rule.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// A field name is empty (or a lone `:`).
    #[error("empty field name")]
    EmptyName,
    /// A field name contains an uppercase letter (RFC 9114 §4.2).
    #[error("field name contains an uppercase letter")]
    UppercaseName,
    /// A field name contains a character outside `tchar`.
    #[error("field name contains an invalid character")]
    InvalidNameChar,
    /// A field value contains NUL, CR, LF or another control character.
    #[error("field value contains an invalid character")]
    InvalidValueChar,
    /// A field value starts or ends with a space or tab.
    #[error("field value has leading or trailing whitespace")]
    ValueWhitespace,
    /// A connection-specific field (`connection`, `keep-alive`,
    /// `proxy-connection`, `transfer-encoding`, `upgrade`) is present.
    #[error("connection-specific field")]
    ConnectionSpecificField,
    /// `te` carries a value other than `trailers`.
    #[error("te field other than \"trailers\"")]
    InvalidTe,
    /// A pseudo-header follows a regular field.
    #[error("pseudo-header after a regular field")]
    PseudoAfterRegular,
    /// A pseudo-header this message kind does not define.
    #[error("unknown pseudo-header")]
    UnknownPseudo,
    /// A pseudo-header appears twice.
    #[error("duplicate pseudo-header")]
    DuplicatePseudo,
    /// A required pseudo-header is missing.
    #[error("missing required pseudo-header")]
    MissingPseudo,
    /// A request pseudo-header in a response, a response one in a request,
    /// or any pseudo-header in trailers.
    #[error("pseudo-header not allowed in this section")]
    MisplacedPseudo,
    /// `:method` empty or not a token, `:path` empty or not origin-form,
    /// `:status` not three digits in 100-599, or `:status` 101.
    #[error("invalid pseudo-header value")]
    InvalidPseudoValue,
    /// CONNECT with `:scheme` or `:path`, or without `:authority`.
    #[error("CONNECT request breaks RFC 9114 §4.4")]
    InvalidConnect,
    /// `http`/`https` request without authority, an empty authority, or
    /// `:authority` and `host` that differ.
    #[error("missing, empty or conflicting authority")]
    InvalidAuthority,
    /// `content-length` is not a decimal integer, or copies disagree.
    #[error("invalid content-length")]
    InvalidContentLength,
    /// The DATA received does not add up to `content-length`.
    #[error("body length differs from content-length")]
    ContentLengthMismatch,
    /// The stream ended before the header section that had to come.
    #[error("stream ended before a complete message")]
    Incomplete,
}

impl MessageError {
    /// The HTTP/3 error code the stream is reset with.
    pub fn wire_code(&self) -> u64 {
        crate::error::code::H3_MESSAGE_ERROR
    }
}

/// What the validator learned from a valid request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// The request method, as far as message framing cares.
    pub method: MethodKind,
    /// The declared `content-length`, if any.
    pub content_length: Option<u64>,
}

/// Methods that change how a message is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodKind {
    /// `HEAD`: the response has no body whatever its `content-length`.
    Head,
    /// `CONNECT`: no `:scheme`/`:path`.
    Connect,
    /// Any other method.
    Other,
}

/// What the validator learned from a valid response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseInfo {
    /// The `:status` code.
    pub status: u16,
    /// The declared `content-length`, if any.
    pub content_length: Option<u64>,
}

impl ResponseInfo {
    /// Whether this is an interim (1xx) response.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// The size of a field section as RFC 9114 §4.2.2 counts it: each field's
/// name and value lengths plus 32.
pub fn field_section_size<F: Field>(fields: &[F]) -> u64 {
    fields
        .iter()
        .map(|f| f.name().len() as u64 + f.value().len() as u64 + 32)
        .sum()
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn check_name(name: &[u8]) -> Result<(), MessageError> {
    if name.is_empty() {
        return Err(MessageError::EmptyName);
    }
    for &b in name {
        if b.is_ascii_uppercase() {
            return Err(MessageError::UppercaseName);
        }
        if !is_tchar(b) {
            return Err(MessageError::InvalidNameChar);
        }
    }
    Ok(())
}

fn check_value(value: &[u8]) -> Result<(), MessageError> {
    for &b in value {
        if (b < 0x20 && b != b'\t') || b == 0x7f {
            return Err(MessageError::InvalidValueChar);
        }
    }
    if matches!(value.first(), Some(b' ' | b'\t')) || matches!(value.last(), Some(b' ' | b'\t')) {
        return Err(MessageError::ValueWhitespace);
    }
    Ok(())
}

/// Rules shared by every section for regular (non-pseudo) fields; updates
/// `content_length` and `host`.
fn check_regular<'a>(
    name: &[u8],
    value: &'a [u8],
    content_length: &mut Option<u64>,
    host: &mut Option<&'a [u8]>,
) -> Result<(), MessageError> {
    check_name(name)?;
    check_value(value)?;
    match name {
        b"connection" | b"keep-alive" | b"proxy-connection" | b"transfer-encoding" | b"upgrade" => {
            Err(MessageError::ConnectionSpecificField)
        }
        b"te" if !value.eq_ignore_ascii_case(b"trailers") => Err(MessageError::InvalidTe),
        b"content-length" => {
            let n = parse_content_length(value)?;
            match *content_length {
                Some(prev) if prev != n => Err(MessageError::InvalidContentLength),
                _ => {
                    *content_length = Some(n);
                    Ok(())
                }
            }
        }
        b"host" => {
            if host.is_some() {
                return Err(MessageError::InvalidAuthority);
            }
            *host = Some(value);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn parse_content_length(v: &[u8]) -> Result<u64, MessageError> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(MessageError::InvalidContentLength);
    }
    Ok(v.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

fn set_once<'a>(slot: &mut Option<&'a [u8]>, v: &'a [u8]) -> Result<(), MessageError> {
    if slot.is_some() {
        return Err(MessageError::DuplicatePseudo);
    }
    *slot = Some(v);
    Ok(())
}

const RESPONSE_PSEUDO: &[u8] = b":status";
const REQUEST_PSEUDO: [&[u8]; 4] = [b":method", b":scheme", b":authority", b":path"];

/// Validates a request header section.
pub fn validate_request<F: Field>(fields: &[F]) -> Result<RequestInfo, MessageError> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut content_length = None;
    let mut host = None;
    let mut regular_seen = false;
    for f in fields {
        let (name, value) = (f.name(), f.value());
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular_seen {
                return Err(MessageError::PseudoAfterRegular);
            }
            check_name(pseudo)?;
            check_value(value)?;
            match name {
                b":method" => set_once(&mut method, value)?,
                b":scheme" => set_once(&mut scheme, value)?,
                b":authority" => set_once(&mut authority, value)?,
                b":path" => set_once(&mut path, value)?,
                RESPONSE_PSEUDO => return Err(MessageError::MisplacedPseudo),
                _ => return Err(MessageError::UnknownPseudo),
            }
        } else {
            regular_seen = true;
            check_regular(name, value, &mut content_length, &mut host)?;
        }
    }
    let method = method.ok_or(MessageError::MissingPseudo)?;
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(MessageError::InvalidPseudoValue);
    }
    if authority.is_some_and(<[u8]>::is_empty) || host.is_some_and(<[u8]>::is_empty) {
        return Err(MessageError::InvalidAuthority);
    }
    if let (Some(a), Some(h)) = (authority, host)
        && a != h
    {
        return Err(MessageError::InvalidAuthority);
    }
    let kind = match method {
        b"CONNECT" => {
            if scheme.is_some() || path.is_some() || authority.is_none() {
                return Err(MessageError::InvalidConnect);
            }
            return Ok(RequestInfo {
                method: MethodKind::Connect,
                content_length,
            });
        }
        b"HEAD" => MethodKind::Head,
        _ => MethodKind::Other,
    };
    let (Some(scheme), Some(path)) = (scheme, path) else {
        return Err(MessageError::MissingPseudo);
    };
    let http = scheme.eq_ignore_ascii_case(b"http") || scheme.eq_ignore_ascii_case(b"https");
    if http && authority.is_none() && host.is_none() {
        return Err(MessageError::InvalidAuthority);
    }
    let path_ok = match path {
        b"" => false,
        b"*" => method == b"OPTIONS",
        p => !http || p[0] == b'/',
    };
    if !path_ok {
        return Err(MessageError::InvalidPseudoValue);
    }
    Ok(RequestInfo {
        method: kind,
        content_length,
    })
}

/// Validates a response header section (interim or final).
pub fn validate_response<F: Field>(fields: &[F]) -> Result<ResponseInfo, MessageError> {
    let mut status = None;
    let mut content_length = None;
    let mut host = None;
    let mut regular_seen = false;
    for f in fields {
        let (name, value) = (f.name(), f.value());
        if let Some(pseudo) = name.strip_prefix(b":") {
            if regular_seen {
                return Err(MessageError::PseudoAfterRegular);
            }
            check_name(pseudo)?;
            match name {
                RESPONSE_PSEUDO => set_once(&mut status, value)?,
                n if REQUEST_PSEUDO.contains(&n) || n == b":protocol" => {
                    return Err(MessageError::MisplacedPseudo);
                }
                _ => return Err(MessageError::UnknownPseudo),
            }
        } else {
            regular_seen = true;
            check_regular(name, value, &mut content_length, &mut host)?;
        }
    }
    let status = status.ok_or(MessageError::MissingPseudo)?;
    let code = match status {
        [a, b, c] if status.iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(MessageError::InvalidPseudoValue),
    };
    // HTTP/3 has no 101 Switching Protocols (RFC 9114 §4.5).
    if !(100..=599).contains(&code) || code == 101 {
        return Err(MessageError::InvalidPseudoValue);
    }
    Ok(ResponseInfo {
        status: code,
        content_length,
    })
}

/// Validates a trailer section: regular fields only.
pub fn validate_trailers<F: Field>(fields: &[F]) -> Result<(), MessageError> {
    let mut content_length = None;
    let mut host = None;
    for f in fields {
        if f.name().starts_with(b":") {
            check_name(&f.name()[1..])?;
            return Err(MessageError::MisplacedPseudo);
        }
        check_regular(f.name(), f.value(), &mut content_length, &mut host)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type H = (&'static str, &'static str);

    fn req(extra: &[H]) -> Vec<H> {
        let mut v = vec![
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "example.com"),
            (":path", "/"),
        ];
        v.extend_from_slice(extra);
        v
    }

    #[test]
    fn accepts_canonical_messages() {
        assert_eq!(
            validate_request(&req(&[("content-length", "5"), ("te", "trailers")])),
            Ok(RequestInfo {
                method: MethodKind::Other,
                content_length: Some(5)
            })
        );
        let connect: [H; 2] = [(":method", "CONNECT"), (":authority", "h:443")];
        assert_eq!(
            validate_request(&connect).unwrap().method,
            MethodKind::Connect
        );
        let opts: [H; 4] = [
            (":method", "OPTIONS"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "*"),
        ];
        assert!(validate_request(&opts).is_ok());
        let resp: [H; 2] = [(":status", "204"), ("x-a", "b c")];
        assert_eq!(validate_response(&resp).unwrap().status, 204);
        let interim: [H; 1] = [(":status", "103")];
        assert!(validate_response(&interim).unwrap().is_interim());
        assert!(validate_trailers(&[("grpc-status", "0")]).is_ok());
    }

    #[test]
    fn each_rule_rejects() {
        use MessageError::*;
        let cases: &[(Vec<H>, MessageError)] = &[
            (req(&[("X-Up", "1")]), UppercaseName),
            (req(&[("a b", "1")]), InvalidNameChar),
            (req(&[("", "1")]), EmptyName),
            (req(&[("a", "x\r\ny")]), InvalidValueChar),
            (req(&[("a", "\0")]), InvalidValueChar),
            (req(&[("a", " x")]), ValueWhitespace),
            (req(&[("connection", "close")]), ConnectionSpecificField),
            (
                req(&[("transfer-encoding", "chunked")]),
                ConnectionSpecificField,
            ),
            (req(&[("te", "gzip")]), InvalidTe),
            (req(&[("content-length", "1x")]), InvalidContentLength),
            (
                req(&[("content-length", "1"), ("content-length", "2")]),
                InvalidContentLength,
            ),
            (req(&[("host", "other.com")]), InvalidAuthority),
            (req(&[("a", "b"), (":foo", "1")]), PseudoAfterRegular),
            (req(&[(":foo", "1")]), UnknownPseudo),
            (req(&[(":path", "/x")]), DuplicatePseudo),
            (req(&[(":status", "200")]), MisplacedPseudo),
            (vec![(":scheme", "https"), (":path", "/")], MissingPseudo),
            (
                vec![(":method", "GET"), (":authority", "a"), (":path", "/")],
                MissingPseudo,
            ),
            (
                vec![
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":authority", "a"),
                ],
                MissingPseudo,
            ),
            (
                vec![
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":authority", "a"),
                    (":path", ""),
                ],
                InvalidPseudoValue,
            ),
            (
                vec![
                    (":method", "GET"),
                    (":scheme", "https"),
                    (":authority", "a"),
                    (":path", "x"),
                ],
                InvalidPseudoValue,
            ),
            (
                vec![(":method", "GET"), (":scheme", "https"), (":path", "/")],
                InvalidAuthority,
            ),
            (
                vec![(":method", "CONNECT"), (":authority", "a"), (":path", "/")],
                InvalidConnect,
            ),
            (vec![(":method", "CONNECT")], InvalidConnect),
        ];
        for (fields, want) in cases {
            assert_eq!(validate_request(fields), Err(*want), "{fields:?}");
        }
        let resp: &[(Vec<H>, MessageError)] = &[
            (vec![], MissingPseudo),
            (vec![(":status", "20")], InvalidPseudoValue),
            (vec![(":status", "101")], InvalidPseudoValue),
            (vec![(":status", "700")], InvalidPseudoValue),
            (
                vec![(":status", "200"), (":status", "200")],
                DuplicatePseudo,
            ),
            (vec![(":status", "200"), (":path", "/")], MisplacedPseudo),
            (vec![(":status", "200"), (":x", "/")], UnknownPseudo),
            (
                vec![(":status", "200"), ("keep-alive", "1")],
                ConnectionSpecificField,
            ),
        ];
        for (fields, want) in resp {
            assert_eq!(validate_response(fields), Err(*want), "{fields:?}");
        }
        assert_eq!(
            validate_trailers(&[(":status", "200")]),
            Err(MessageError::MisplacedPseudo)
        );
        assert_eq!(
            validate_trailers(&[("Upper", "1")]),
            Err(MessageError::UppercaseName)
        );
    }

    #[test]
    fn section_size_counts_overhead() {
        assert_eq!(field_section_size(&[("ab", "cde")]), 37);
    }
}
