//! The `--http` side channel against the real `lmdns-server` binary: range lookups, errors,
//! limits, live range changes, bind failure and shutdown.
//!
//! Servers listen on loopback port 0 (DNS and HTTP); the effective HTTP address is read from the
//! `http listening on ADDR` log line, so parallel tests never race for a port. Range tables are
//! written in-process with `lmdns_loader::cli::run_args`. Every wait is bounded.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use common::{LmdnsCommand, LmdnsProcess, TestDb, LMDNS_START_TIMEOUT};
use serde_json::{json, Value};

const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// An empty but valid database.
fn empty_db() -> TestDb {
    TestDb::empty(64 << 20)
}

/// Runs `lmdns-loader --db DB --map-size 64MiB <args>` in-process and asserts success.
fn loader(db: &Path, args: &[&str]) {
    let mut all = vec!["--db".to_string(), db.display().to_string(), "--map-size".into(), (64u64 << 20).to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    let code = lmdns_loader::cli::run_args(all).unwrap_or_else(|e| panic!("loader {args:?}: {e:#}"));
    assert_eq!(code, ExitCode::SUCCESS, "loader {args:?}");
}

/// Writes `csv` into the database's directory and imports it as `table`.
fn import(db: &TestDb, table: &str, csv: &str) {
    let file = db.dir.path().join(format!("{table}.csv"));
    std::fs::write(&file, csv).unwrap();
    loader(&db.path, &["ranges", "import", "--table", table, file.to_str().unwrap()]);
}

/// The server on `db` with `args` after `--db DB --listen 127.0.0.1:0 --threads 1`.
fn command(db: TestDb, args: &[&str]) -> LmdnsCommand {
    LmdnsCommand::owning(db).args(["--listen", "127.0.0.1:0", "--threads", "1"]).args(args)
}

/// Starts the server with `--http 127.0.0.1:0` and waits for its start line.
fn start_server(db: TestDb) -> LmdnsProcess {
    command(db, &["--http", "127.0.0.1:0"]).start()
}

/// Requests to the server's `--http` address.
trait HttpClient {
    fn get(&self, path: &str) -> Reply;
    fn raw(&self, request: &[u8]) -> Reply;
}

impl HttpClient for LmdnsProcess {
    fn get(&self, path: &str) -> Reply {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    fn raw(&self, request: &[u8]) -> Reply {
        send(self.http(), request)
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    /// Header lines, names lower-cased.
    headers: Vec<(String, String)>,
    body: Value,
    raw_body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Writes `request`, reads to EOF and parses the response; asserts the headers every response
/// must carry.
fn send(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(request).unwrap();
    read_reply(&mut s)
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    s.read_to_end(&mut bytes).expect("read the response to EOF");
    let text = String::from_utf8(bytes).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head end in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status: u16 = parts.next().unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("bad header {l:?}"));
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    let reply = Reply {
        status,
        // An empty body (a HEAD answer) reads as null.
        body: if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("body {body:?} is not JSON: {e}"))
        },
        raw_body: body.to_string(),
        headers,
    };
    assert_eq!(reply.header("content-type"), Some("application/json"), "{text}");
    assert_eq!(reply.header("connection"), Some("close"), "{text}");
    if !body.is_empty() {
        // (A HEAD answer announces GET's length and sends nothing.)
        assert_eq!(reply.header("content-length"), Some(body.len().to_string().as_str()), "{text}");
    }
    reply
}

const GEO: &str = "start,end,country,asn\n\
                   1.0.0.0,1.0.129.0,NL,1136\n\
                   10.0.0.0,10.0.0.255,DE,3320\n\
                   2001:db8::,2001:db8::ffff,FR,3215\n";
const OTHER: &str = "start,end,pop\n1.0.0.0,1.255.255.255,ams\n";

#[test]
fn lookups_routes_and_errors() {
    let db = empty_db();
    import(&db, "geo", GEO);
    import(&db, "other", OTHER);
    let server = start_server(db);
    assert!(server.log().contains(&format!("http listening on {}", server.http())));

    // IPv4, IPv6, IPv4-mapped (reported as given), percent-encoded: the `ranges lookup` shape.
    let r = server.get("/lookup/1.0.100.7");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"ip":"1.0.100.7","start":"1.0.0.0","end":"1.0.129.0","meta":{"asn":1136,"country":"NL"}}));
    assert_eq!(r.raw_body.trim_end(), r#"{"ip":"1.0.100.7","start":"1.0.0.0","end":"1.0.129.0","meta":{"asn":1136,"country":"NL"}}"#);
    let r = server.get("/lookup/2001:db8::1");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"ip":"2001:db8::1","start":"2001:db8::","end":"2001:db8::ffff","meta":{"asn":3215,"country":"FR"}}));
    let r = server.get("/lookup/::ffff:10.0.0.9");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"ip":"::ffff:10.0.0.9","start":"10.0.0.0","end":"10.0.0.255","meta":{"asn":3320,"country":"DE"}}));
    let r = server.get("/lookup/2001%3Adb8%3A%3Affff");
    assert_eq!((r.status, &r.body["meta"]["country"]), (200, &json!("FR")), "{r:?}");

    // Gaps: between ranges, after the last, in a family with no range there.
    for ip in ["1.0.129.1", "9.255.255.255", "2001:db8::1:0", "::1"] {
        let r = server.get(&format!("/lookup/{ip}"));
        assert_eq!(r.status, 404, "{ip}: {r:?}");
        assert_eq!(r.body, json!({"error":"not in any range","ip":ip}));
    }
    // Bad addresses.
    for path in ["/lookup/not-an-ip", "/lookup/", "/lookup/1.2.3.4/5", "/lookup/1.2.3.256", "/lookup/%zz"] {
        let r = server.get(path);
        assert_eq!(r.status, 400, "{path}: {r:?}");
        assert_eq!(r.body["error"], "invalid IP address", "{path}");
    }

    // A second table; its ranges are not geo's.
    let r = server.get("/lookup/1.2.3.4?table=other");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"ip":"1.2.3.4","start":"1.0.0.0","end":"1.255.255.255","meta":{"pop":"ams"}}));
    assert_eq!(server.get("/lookup/1.2.3.4").status, 404);
    assert_eq!(server.get("/lookup/1.2.3.4?x=1&table=geo").status, 404);
    assert_eq!(server.get("/lookup/1.0.0.1?table=geo").body["meta"]["country"], "NL");
    let r = server.get("/lookup/1.2.3.4?table=nope");
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.body, json!({"error":"no such table","table":"nope"}));
    for table in ["bad%20name", "", "a/b", &"x".repeat(65)] {
        let r = server.get(&format!("/lookup/1.2.3.4?table={table}"));
        assert_eq!(r.status, 400, "{table}: {r:?}");
        assert_eq!(r.body["error"], "invalid table name");
    }

    // Health, unknown paths, methods.
    let r = server.get("/health");
    assert_eq!((r.status, &r.body), (200, &json!({"status":"ok"})));
    for path in ["/nope", "/", "/lookup", "/health/x", "/healthz", "/metrics/x"] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert_eq!(r.body["error"], "not found");
    }
    let r = server.raw(b"POST /lookup/1.0.0.1 HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(server.raw(b"DELETE /health HTTP/1.1\r\n\r\n").status, 405);
    // HEAD: the status and headers of GET, no body (monitoring probes use it).
    let head = server.raw(b"HEAD /health HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(head.status, 200, "{head:?}");
    assert!(head.header("content-length").is_some_and(|l| l != "0") && head.raw_body.is_empty(), "{head:?}");
    assert_eq!(server.raw(b"POST /nope HTTP/1.1\r\n\r\n").status, 404);

    // HTTP/1.0 and bare LF line ends are accepted; malformed request lines are not.
    assert_eq!(server.raw(b"GET /health HTTP/1.0\n\n").status, 200);
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /health\r\n\r\n",
        b"GET health HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1 x\r\n\r\n",
        b"GET /health HTTP/1.1\r\nno-colon\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    ] {
        let r = server.raw(bad);
        assert_eq!(r.status, 400, "{:?}: {r:?}", String::from_utf8_lossy(bad));
    }
    assert_eq!(server.raw(b"GET /health HTTP/2.0\r\n\r\n").status, 505);
    // A request cut short by the client's EOF is malformed too.
    {
        let mut s = TcpStream::connect(server.http()).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"GET /health HT").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_reply(&mut s).status, 400);
    }

    // Oversized head: 431, and the server keeps serving. The client sends a little more than the
    // cap and then waits: the response must arrive whole (no reset).
    let mut big = b"GET /health HTTP/1.1\r\n".to_vec();
    while big.len() < 9 * 1024 {
        big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    big.extend_from_slice(b"\r\n");
    let r = server.raw(&big);
    assert_eq!(r.status, 431, "{r:?}");
    // Just under the cap is fine.
    let mut ok = b"GET /health HTTP/1.1\r\n".to_vec();
    while ok.len() < 8 * 1024 - 200 {
        ok.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    ok.extend_from_slice(b"\r\n");
    assert_eq!(server.raw(&ok).status, 200);

    // A client that sends half a head and stalls gets 408 after the read timeout (about 2 s),
    // and the server serves the next client after it.
    {
        let started = Instant::now();
        let mut s = TcpStream::connect(server.http()).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
        let r = read_reply(&mut s);
        assert_eq!(r.status, 408, "{r:?}");
        assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    }
    assert_eq!(server.get("/health").status, 200);

    // `ip` is the address as given, in canonical text, not normalized to IPv4.
    assert_eq!(server.get("/lookup/0:0:0:0:0:ffff:1.0.0.1").body["ip"], "::ffff:1.0.0.1");
}

#[test]
fn range_changes_are_served_on_the_next_request_and_stop_is_prompt() {
    // No range table at all when the server starts.
    let mut server = start_server(empty_db());
    let db = server.db().path.clone();
    let r = server.get("/lookup/192.0.2.7");
    assert_eq!((r.status, &r.body), (404, &json!({"error":"no such table","table":"geo"})), "{r:?}");

    // A table created after start appears.
    loader(&db, &["ranges", "add", "192.0.2.0", "192.0.2.255", r#"{"country":"ZZ"}"#]);
    let r = server.get("/lookup/192.0.2.7");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"ip":"192.0.2.7","start":"192.0.2.0","end":"192.0.2.255","meta":{"country":"ZZ"}}));
    assert_eq!(server.get("/lookup/198.51.100.1").status, 404);

    // A range added to the (now cached) table is served on the next request.
    loader(&db, &["ranges", "add", "198.51.100.0", "198.51.100.127", r#"{"country":"YY","asn":64500}"#]);
    let r = server.get("/lookup/198.51.100.1");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["meta"], json!({"asn":64500,"country":"YY"}));

    // Deleted, dropped, re-imported.
    loader(&db, &["ranges", "delete", "198.51.100.0"]);
    assert_eq!(server.get("/lookup/198.51.100.1").status, 404);
    loader(&db, &["ranges", "drop", "geo"]);
    let r = server.get("/lookup/192.0.2.7");
    assert_eq!((r.status, &r.body["error"]), (404, &json!("no such table")), "{r:?}");
    let csv = server.db().dir.path().join("geo.csv");
    std::fs::write(&csv, "start,end,country\n192.0.2.0,192.0.2.15,XX\n").unwrap();
    loader(&db, &["ranges", "import", "--table", "geo", csv.to_str().unwrap()]);
    let r = server.get("/lookup/192.0.2.7");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["meta"]["country"], "XX");
    assert_eq!(server.get("/lookup/192.0.2.16").status, 404);

    // SIGTERM: the HTTP thread notices the stop within its poll interval, and even while a
    // client holds a connection open without sending anything.
    let _idle = TcpStream::connect(server.http()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let sent = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(5));
    assert!(status.success(), "{status}: {}", server.log());
    assert!(sent.elapsed() < Duration::from_millis(1500), "stopped after {:?}", sent.elapsed());
}

#[test]
fn http_bind_failure_is_fatal_and_names_the_address() {
    let db = empty_db();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut server = command(db, &["--http", &addr]).spawn();
    // Bounded like a start; the rest of stderr is read before wait_exit returns.
    let status = server.wait_exit(LMDNS_START_TIMEOUT);
    let text = server.log();
    assert!(!status.success(), "{text}");
    assert!(text.contains(&addr) && text.contains("HTTP"), "{text}");
    assert!(!text.contains("lmdns-server started"), "{text}");
    drop(taken);
}

/// Reads a whole response to EOF as text (None: the connection closed or reset without one).
fn read_text(s: &mut TcpStream) -> Option<String> {
    let mut bytes = Vec::new();
    match s.read_to_end(&mut bytes) {
        Ok(_) if !bytes.is_empty() => Some(String::from_utf8_lossy(&bytes).into_owned()),
        _ => None,
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

#[test]
fn slow_and_idle_clients_never_block_a_scrape() {
    let server = start_server(empty_db());
    let addr = server.http();
    // 25 clients that connect and say nothing, 25 that send half a head and stall.
    let idle: Vec<TcpStream> = (0..25).map(|_| connect(addr)).collect();
    let mut slow: Vec<TcpStream> = (0..25)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n").unwrap();
            s
        })
        .collect();
    // Scrapes are answered while all 50 are still open...
    assert_eq!(server.get("/health").status, 200);
    let mut metrics = connect(addr);
    metrics.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let text = read_text(&mut metrics).expect("a /metrics response");
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n") && text.contains("lmdns_"), "{text}");
    // ...and the slow ones were still being served, not queued behind each other: each can
    // still finish its request and get its answer (a server taking one connection at a time
    // would have timed them out, one after the other, before reaching the scrape).
    for s in &mut slow {
        s.write_all(b"\r\n").unwrap();
    }
    for s in &mut slow {
        assert_eq!(read_reply(s).status, 200);
    }
    // The silent ones are closed at the head deadline, without a response.
    for mut s in idle {
        assert_eq!(read_text(&mut s), None);
    }
}

#[test]
fn a_crowd_past_the_connection_cap_makes_room_for_the_newest() {
    let server = start_server(empty_db());
    let addr = server.http();
    // The oldest: 20 half-sent heads; then enough silent clients to take every other slot.
    let mut oldest: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /health HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let _crowd: Vec<TcpStream> = (0..256).map(|_| connect(addr)).collect();
    // A scrape still gets through: each newcomer closed the client waiting longest.
    assert_eq!(server.get("/health").status, 200);
    // The first of the oldest was closed for room: finishing its request gets no response.
    oldest[0].write_all(b"\r\n").ok();
    assert_eq!(read_text(&mut oldest[0]), None, "the longest-waiting client is closed for a newcomer");
}
