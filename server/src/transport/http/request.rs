//! HTTP/1.x request heads (parsed by `httparse`, with the strictness a side channel wants) and
//! the responses of the routes.

use std::io::Write;

use serde_json::json;

/// The parts of a request the router needs.
#[derive(Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, still percent-encoded.
    pub path: &'a str,
    /// What follows `?`, if anything.
    pub query: Option<&'a str>,
    /// Content-Length > 0 or Transfer-Encoding: a body follows that nobody reads.
    pub has_body: bool,
}

/// Most headers a request may carry (a head is at most [`MAX_HEAD`](super::MAX_HEAD) bytes).
const MAX_HEADERS: usize = 256;

/// Parses a request head (request line, headers, blank line) with `httparse`. Errors are the
/// status to answer: 400 for anything malformed, 505 for an HTTP version other than 1.x, 431 for
/// more than [`MAX_HEADERS`] headers.
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, u16> {
    // The request line is printable ASCII (no controls, no obs-text); httparse would take
    // bytes above 0x7F in the target, and skips empty lines before the request line.
    let line = head.split(|&b| b == b'\n').next().map(|l| l.strip_suffix(b"\r").unwrap_or(l)).unwrap_or_default();
    if line.is_empty() || !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(400);
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        // Framed by a blank line yet unfinished for httparse: cut short by the client's EOF.
        Ok(httparse::Status::Partial) => return Err(400),
        Err(httparse::Error::Version) => return Err(if is_other_http_version(line) { 505 } else { 400 }),
        Err(httparse::Error::TooManyHeaders) => return Err(431),
        Err(_) => return Err(400),
    }
    let (Some(method), Some(target)) = (request.method, request.path) else { return Err(400) };
    if !target.starts_with('/') {
        return Err(400);
    }
    let mut has_body = false;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            let n: u64 = std::str::from_utf8(header.value).ok().and_then(|v| v.trim().parse().ok()).ok_or(400u16)?;
            has_body |= n > 0;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    Ok(Request { method, path, query, has_body })
}

/// A request line `METHOD TARGET HTTP/d.d` of a version httparse does not speak (not 1.0/1.1).
fn is_other_http_version(line: &[u8]) -> bool {
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.nth(2);
    matches!(version, Some([b'H', b'T', b'T', b'P', b'/', major, b'.', minor]) if major.is_ascii_digit() && minor.is_ascii_digit())
        && parts.next().is_none()
}

/// The length of the head including its terminating blank line (`\r\n\r\n`, or a bare `\n\n`).
pub fn find_head_end(bytes: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', bytes).find_map(|i| match bytes.get(i + 1) {
        Some(b'\n') => Some(i + 2),
        Some(b'\r') if bytes.get(i + 2) == Some(&b'\n') => Some(i + 3),
        _ => None,
    })
}

/// Decodes `%XX` escapes; `None` for a broken escape or a result that is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly: from_str_radix alone would take `+1` as 0x01.
            let hex = bytes.get(i + 1..i + 3).filter(|h| h.iter().all(u8::is_ascii_hexdigit))?;
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The first value of `key` in a query string, percent-decoded (`Some(None)`: present but
/// undecodable).
pub fn query_param(query: Option<&str>, key: &str) -> Option<Option<String>> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == key).then(|| percent_decode(v))
    })
}

/// A complete response: JSON (`/metrics`: Prometheus text), always closed after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub body: String,
    /// Value of an `Allow` header (405 only).
    pub allow: Option<&'static str>,
    pub content_type: &'static str,
    /// Headers only (a HEAD request).
    pub head_only: bool,
}

impl Response {
    pub fn json(status: u16, body: serde_json::Value) -> Response {
        Response { status, body: body.to_string(), allow: None, content_type: "application/json", head_only: false }
    }

    pub fn error(status: u16, message: &str) -> Response {
        Response::json(status, json!({ "error": message }))
    }

    /// The answer to a request refused before routing: a malformed head (400), one too slow
    /// (408) or too large (431), another HTTP version (505).
    pub fn refused(status: u16) -> Response {
        let message = match status {
            408 => "request timeout",
            431 => "request header too large",
            505 => "HTTP version not supported",
            _ => "bad request",
        };
        Response::error(status, message)
    }

    pub fn method_not_allowed(allow: &'static str) -> Response {
        Response { allow: Some(allow), ..Response::error(405, "method not allowed") }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.body.len());
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len() + 1
        );
        if let Some(allow) = self.allow {
            let _ = write!(out, "Allow: {allow}\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !self.head_only {
            out.extend_from_slice(self.body.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_heads() {
        let r = parse_head(b"GET /lookup/1.2.3.4?table=x HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert_eq!((r.method, r.path, r.query, r.has_body), ("GET", "/lookup/1.2.3.4", Some("table=x"), false));
        assert!(parse_head(b"POST /x HTTP/1.0\nContent-Length: 3\n\n").unwrap().has_body);
        assert!(!parse_head(b"POST /x HTTP/1.0\r\nContent-Length: 0\r\n\r\n").unwrap().has_body);
        for bad in [
            &b"GET /x\r\n\r\n"[..],
            b"GET  /x HTTP/1.1\r\n\r\n",
            b"GET x HTTP/1.1\r\n\r\n",
            b"GET /x HTTP/1.1 extra\r\n\r\n",
            b"G(T /x HTTP/1.1\r\n\r\n",
            b"GET /x FTP/1.1\r\n\r\n",
            b"GET /x HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n",
            b"GET /x HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
            b"GET /x HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
            b"\r\n\r\n",
        ] {
            assert_eq!(parse_head(bad), Err(400), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_head(b"GET /x HTTP/2.0\r\n\r\n"), Err(505));
        assert_eq!(parse_head(b"GET /x HTTP/1.1 extra\r\n\r\n"), Err(400));
        let mut many = b"GET /x HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(parse_head(&many), Err(431));
    }

    #[test]
    fn head_end_and_decoding() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nbody"), Some(18));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\n\n"), Some(16));
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n"), None);
        assert_eq!(percent_decode("%3A%3affff:1.2.3.4").as_deref(), Some("::ffff:1.2.3.4"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(query_param(Some("a=1&table=t%2Dx&table=y"), "table"), Some(Some("t-x".into())));
        assert_eq!(query_param(Some("a=1"), "table"), None);
        assert_eq!(query_param(None, "table"), None);
        // Two hex digits or nothing: `%+1` and `%-1` are broken escapes, not 0x01.
        assert_eq!(percent_decode("a%+1"), None);
        assert_eq!(percent_decode("a%-1"), None);
        assert_eq!(percent_decode("a%2Fb").as_deref(), Some("a/b"));
    }

    #[test]
    fn responses_carry_length_and_close() {
        let text = String::from_utf8(Response::method_not_allowed("GET").to_bytes()).unwrap();
        assert!(text.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{text}");
        assert!(text.contains("\r\nAllow: GET\r\n") && text.contains("\r\nConnection: close\r\n"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(text.contains(&format!("\r\nContent-Length: {}\r\n", body.len())), "{text}");
    }
}
