//! A small HTTP/1.x side channel (`--http ADDR:PORT`): IP-range lookups as JSON, and health.
//!
//! Deliberately tiny and synchronous: one thread, one std [`TcpListener`], one connection at a
//! time, one request per connection (`Connection: close`, no keep-alive), no HTTP library. It is
//! an operator and integration tool, not a public web server, so the bounds matter more than the
//! throughput:
//!
//! * the listener is polled every [`POLL_INTERVAL`], so the thread notices a stop request within
//!   about that long, also while a slow client is being read;
//! * a request head may take at most [`MAX_HEAD`] bytes (larger: `431`) and [`IO_TIMEOUT`] in
//!   total to arrive (slower: `408`); writes time out after [`IO_TIMEOUT`] too;
//! * request bodies are never read: a body (or junk after the head) is drained for at most
//!   [`DRAIN_TIME`] / [`DRAIN_LIMIT`] bytes after the response, so the close does not turn into a
//!   reset that could destroy the response before the client reads it.
//!
//! Routes (see [`Handler::handle`]; a new path is one match arm):
//!
//! * `GET /lookup/<ip>[?table=NAME]` — `200 {"ip":…,"start":…,"end":…,"meta":{…}}`, the shape of
//!   `lmdns-loader ranges lookup` (default table `geo`; IPv4-mapped IPv6 is looked up as IPv4 and
//!   `ip` is reported unnormalized). `404 {"error":"not in any range","ip":…}`,
//!   `404 {"error":"no such table","table":…}`, `400` for a bad address or table name.
//! * `GET /health` — `200 {"status":"ok"}` while the database can be read, else
//!   `503 {"status":"unavailable","error":...}`.
//! * `GET /metrics` — Prometheus text format 0.0.4 (see [`crate::ops::metrics`]).
//! * `HEAD` as `GET` without the body; other paths `404`, other methods on a known path `405`
//!   (with `Allow: GET, HEAD`).
//!
//! Every request reads in a fresh LMDB read transaction, so a range import committed by the
//! loader is served from the next request on. Range table handles are cached per name; a table
//! that did not exist at start is opened when first asked for after it appears, and a table
//! dropped later answers `no such table` again (existence is checked in every request's snapshot).

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::Context;
use heed::types::Bytes;
use heed::Database;
use lmdb_schema::ranges::{validate_table_name, RangeTable, DEFAULT_TABLE, TABLES_DB};
use lmdb_schema::{Store, StoreError};
use serde_json::json;

use crate::server::{RateLimit, Stop};

/// Largest request head (request line and headers, with the blank line).
pub const MAX_HEAD: usize = 8 * 1024;
/// Total time a request head may take to arrive; also the timeout of each write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop (and a slow read) checks for a stop request.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Longest time spent discarding an unread request body after the response.
pub const DRAIN_TIME: Duration = Duration::from_millis(200);
/// Most bytes discarded after the response.
pub const DRAIN_LIMIT: usize = 64 * 1024;
/// Connections handled per wake-up before the stop flag is checked again.
const ACCEPT_BATCH: usize = 64;

/// Binds the HTTP listener (an error names the address) and logs `http listening on ADDR` with
/// the effective address (port 0 resolved).
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = crate::transport::tcp::bind_listener(addr).with_context(|| format!("cannot serve HTTP on {addr}"))?;
    let local = listener.local_addr().with_context(|| format!("cannot serve HTTP on {addr}"))?;
    tracing::info!("http listening on {local}");
    Ok(listener)
}

/// Serves `listener` on the calling thread until `stop` is requested.
pub fn serve(store: &Store, listener: TcpListener, stop: &Stop, metrics: Option<&crate::ops::metrics::Metrics>) -> anyhow::Result<()> {
    listener.set_nonblocking(true).context("cannot make the HTTP listener non-blocking")?;
    let mut handler = Handler::new(store);
    handler.metrics = metrics;
    let mut accept_errors = RateLimit::new();
    let mut io_errors = RateLimit::new();
    while !stop.requested() {
        if !wait_readable(&listener, POLL_INTERVAL).context("poll on the HTTP listener failed")? {
            continue;
        }
        for _ in 0..ACCEPT_BATCH {
            if stop.requested() {
                break;
            }
            match listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(e) = handle_connection(&mut handler, stream, stop) {
                        if io_errors.allow() {
                            tracing::debug!("http connection from {peer}: {e}");
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::ConnectionAborted) => {}
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning on a readable listener.
                    if accept_errors.allow() {
                        tracing::warn!("http accept failed: {e}");
                    }
                    std::thread::sleep(POLL_INTERVAL);
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Waits up to `timeout` for a connection to accept.
fn wait_readable(listener: &TcpListener, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as libc::c_int) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == ErrorKind::Interrupted { Ok(false) } else { Err(e) };
    }
    Ok(rc > 0)
}

/// Reads one request, answers it and closes the connection.
fn handle_connection(handler: &mut Handler<'_>, mut stream: TcpStream, stop: &Stop) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let _ = stream.set_nodelay(true);
    let mut buf = [0u8; MAX_HEAD];
    let (response, drain) = match read_head(&mut stream, &mut buf, stop)? {
        HeadRead::Closed => return Ok(()),
        HeadRead::TooLarge => (Response::error(431, "request header too large"), true),
        HeadRead::TimedOut => (Response::error(408, "request timeout"), true),
        HeadRead::Complete { head_len, received } => match parse_head(&buf[..head_len]) {
            Ok(request) => {
                let drain = request.has_body || received > head_len;
                let mut response = handler.handle(&request);
                // HEAD: GET's headers, Content-Length included, without the body (RFC 9110 §9.3.2).
                response.head_only = request.method == "HEAD";
                (response, drain)
            }
            Err(status) => (Response::error(status, if status == 505 { "HTTP version not supported" } else { "bad request" }), true),
        },
    };
    stream.write_all(&response.to_bytes())?;
    stream.flush()?;
    if drain {
        drain_input(&mut stream);
    }
    Ok(())
}

enum HeadRead {
    /// `head_len` bytes up to and including the blank line, `received` bytes read in all.
    Complete {
        head_len: usize,
        received: usize,
    },
    TooLarge,
    TimedOut,
    /// The peer closed (or reset) before sending anything: nothing to answer.
    Closed,
}

/// Reads until the end of the request head, within [`MAX_HEAD`] bytes and [`IO_TIMEOUT`].
fn read_head(stream: &mut TcpStream, buf: &mut [u8; MAX_HEAD], stop: &Stop) -> io::Result<HeadRead> {
    let deadline = Instant::now() + IO_TIMEOUT;
    let mut len = 0;
    loop {
        let now = Instant::now();
        if now >= deadline || stop.requested() {
            return Ok(if len == 0 { HeadRead::Closed } else { HeadRead::TimedOut });
        }
        stream.set_read_timeout(Some((deadline - now).min(POLL_INTERVAL)))?;
        match stream.read(&mut buf[len..]) {
            Ok(0) => return Ok(if len == 0 { HeadRead::Closed } else { HeadRead::Complete { head_len: len, received: len } }),
            Ok(n) => {
                // Search from a little before the new bytes: the terminator may straddle reads.
                let from = len.saturating_sub(3);
                len += n;
                if let Some(end) = find_head_end(&buf[from..len]) {
                    return Ok(HeadRead::Complete { head_len: from + end, received: len });
                }
                if len == MAX_HEAD {
                    return Ok(HeadRead::TooLarge);
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
            Err(e) if len == 0 && matches!(e.kind(), ErrorKind::ConnectionReset) => return Ok(HeadRead::Closed),
            Err(e) => return Err(e),
        }
    }
}

/// The length of the head including its terminating blank line (`\r\n\r\n`, or a bare `\n\n`).
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find_map(|i| {
        if bytes[i..].starts_with(b"\r\n\r\n") {
            Some(i + 4)
        } else if bytes[i..].starts_with(b"\n\n") {
            Some(i + 2)
        } else {
            None
        }
    })
}

/// After the response: stop sending, then discard what the client still sends (bounded), so
/// closing with unread data does not reset the connection before the client read the response.
fn drain_input(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + DRAIN_TIME;
    let mut sink = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_LIMIT {
        let now = Instant::now();
        if now >= deadline || stream.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

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

/// Parses a request head (request line, headers, blank line). Errors are the status to answer:
/// 400 for anything malformed, 505 for an HTTP version other than 1.x.
pub fn parse_head(head: &[u8]) -> Result<Request<'_>, u16> {
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let line = lines.next().ok_or(400u16)?;
    // The request line is printable ASCII (no controls, no obs-text).
    if line.is_empty() || !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(400);
    }
    let line = std::str::from_utf8(line).map_err(|_| 400u16)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(400);
    };
    if method.is_empty() || !method.bytes().all(is_tchar) || !target.starts_with('/') {
        return Err(400);
    }
    match version.strip_prefix("HTTP/").map(|v| v.as_bytes()) {
        Some(b"1.0" | b"1.1") => {}
        Some([major, b'.', minor]) if major.is_ascii_digit() && minor.is_ascii_digit() => return Err(505),
        _ => return Err(400),
    }
    let mut has_body = false;
    for header in lines {
        if header.is_empty() {
            break; // the blank line ending the head
        }
        let colon = header.iter().position(|&b| b == b':').ok_or(400u16)?;
        let name = &header[..colon];
        // No empty names, no whitespace before the colon, no obsolete line folding.
        if name.is_empty() || !name.iter().copied().all(is_tchar) {
            return Err(400);
        }
        let value = header[colon + 1..].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") {
            let n: u64 = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok()).ok_or(400u16)?;
            has_body |= n > 0;
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            has_body = true;
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    };
    Ok(Request { method, path, query, has_body })
}

/// RFC 9110 token characters (method and header names).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Decodes `%XX` escapes; `None` for a broken escape or a result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
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
fn query_param(query: Option<&str>, key: &str) -> Option<Option<String>> {
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
    fn json(status: u16, body: serde_json::Value) -> Response {
        Response { status, body: body.to_string(), allow: None, content_type: "application/json", head_only: false }
    }

    fn error(status: u16, message: &str) -> Response {
        Response::json(status, json!({ "error": message }))
    }

    fn method_not_allowed(allow: &'static str) -> Response {
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

/// Answers `GET` (and `HEAD`) requests with `f`, any other method with 405.
fn get(request: &Request<'_>, f: impl FnOnce() -> Response) -> Response {
    if request.method == "GET" || request.method == "HEAD" {
        f()
    } else {
        Response::method_not_allowed("GET, HEAD")
    }
}

/// Routes requests; owns the per-thread state (range table handles).
pub struct Handler<'s> {
    store: &'s Store,
    /// Handles of tables seen to exist. LMDB handles stay valid for the process, also across a
    /// drop and re-creation of the table, so entries are never removed (the map is bounded by the
    /// number of tables ever created).
    tables: HashMap<String, RangeTable>,
    /// The list of tables, once it exists: checked in every request's snapshot.
    tables_db: Option<Database<'static, Bytes, Bytes>>,
    db_errors: RateLimit,
    /// Served at `/metrics` when set.
    pub metrics: Option<&'s crate::ops::metrics::Metrics>,
}

impl<'s> Handler<'s> {
    pub fn new(store: &'s Store) -> Self {
        Handler { store, tables: HashMap::new(), tables_db: None, db_errors: RateLimit::new(), metrics: None }
    }

    /// Routes one request. Adding an endpoint is one arm here.
    pub fn handle(&mut self, request: &Request<'_>) -> Response {
        let path = request.path.strip_prefix('/').unwrap_or(request.path);
        let (first, rest) = match path.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (path, None),
        };
        match (first, rest) {
            // Healthy means answering: a read transaction must open (a map the server cannot
            // adopt, reader slots run out or a damaged file all make every query fail).
            ("health", None) => get(request, || match self.store.read_txn() {
                Ok(_) => Response::json(200, json!({ "status": "ok" })),
                Err(e) => Response::json(503, json!({ "status": "unavailable", "error": e.to_string() })),
            }),
            ("lookup", Some(ip)) => get(request, || self.lookup(ip, request.query)),
            ("metrics", None) => get(request, || crate::ops::metrics::http_response(self.metrics, self.store)),
            _ => Response::error(404, "not found"),
        }
    }

    /// `GET /lookup/<ip>[?table=NAME]`.
    fn lookup(&mut self, ip_text: &str, query: Option<&str>) -> Response {
        let table_name = match query_param(query, "table") {
            None => DEFAULT_TABLE.to_string(),
            Some(Some(name)) if validate_table_name(&name).is_ok() => name,
            Some(Some(name)) => return Response::json(400, json!({ "error": "invalid table name", "table": name })),
            Some(None) => return Response::error(400, "invalid table name"),
        };
        let Some(ip_text) = percent_decode(ip_text) else {
            return Response::error(400, "invalid IP address");
        };
        let ip: IpAddr = match ip_text.parse() {
            Ok(ip) => ip,
            Err(_) => return Response::json(400, json!({ "error": "invalid IP address", "ip": ip_text })),
        };
        match self.lookup_in(&table_name, ip) {
            Ok(response) => response,
            Err(e) => {
                if self.db_errors.allow() {
                    tracing::warn!("http lookup of {ip} in table {table_name} failed: {e}");
                }
                Response::error(500, "database error")
            }
        }
    }

    fn lookup_in(&mut self, table_name: &str, ip: IpAddr) -> Result<Response, StoreError> {
        let no_such_table = || Response::json(404, json!({ "error": "no such table", "table": table_name }));
        // Opening handles takes a read transaction of its own: before this request's one.
        let Some(table) = self.table(table_name)? else {
            return Ok(no_such_table());
        };
        let Some(tables_db) = self.tables_db else {
            return Ok(no_such_table());
        };
        let rtxn = self.store.read_txn()?;
        if tables_db.get(&rtxn, table_name.as_bytes()).map_err(|e| self.store.error(e))?.is_none() {
            return Ok(no_such_table()); // dropped since its handles were cached
        }
        Ok(match table.lookup(&rtxn, ip)? {
            Some(hit) => {
                let meta = hit.metadata_json()?;
                // The exact line of `lmdns-loader ranges lookup`; addresses need no JSON escaping.
                let body = format!(r#"{{"ip":"{ip}","start":"{}","end":"{}","meta":{meta}}}"#, hit.start, hit.end);
                Response { status: 200, body, allow: None, content_type: "application/json", head_only: false }
            }
            None => Response::json(404, json!({ "error": "not in any range", "ip": ip.to_string() })),
        })
    }

    /// The cached handles of `name`, or freshly opened ones if it exists now. Must be called
    /// while this thread holds no read transaction.
    fn table(&mut self, name: &str) -> Result<Option<RangeTable>, StoreError> {
        if let Some(table) = self.tables.get(name) {
            return Ok(Some(*table));
        }
        let store = self.store;
        let rtxn = store.read_txn()?;
        let (tables_db, table) = rtxn
            .consume(|rtxn| {
                store.env().open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
                    let tables_db = opener.open_database::<Bytes, Bytes>(rtxn, Some(TABLES_DB))?;
                    let table = RangeTable::open_with(opener, rtxn, name)?;
                    Ok(heed::CommitOrAbort::<_, ()>::Commit((tables_db, table)))
                })
            })
            .map_err(|e| store.error(e))?
            .unwrap_commit();
        if tables_db.is_some() {
            self.tables_db = tables_db;
        }
        if let Some(table) = table {
            self.tables.insert(name.to_string(), table);
        }
        Ok(table)
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
