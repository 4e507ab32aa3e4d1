//! DNS Cookies (RFC 7873, RFC 9018 server cookies): a client cookie gets a server cookie back,
//! from the cache too (each client its own); a server cookie returned from the address it was
//! made for is valid, from another it is not; a malformed COOKIE is FORMERR; and over UDP a
//! client with a valid cookie is not rate limited, while a spoofable one is.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{example_zone, write_zones, DnsQuery, LmdnsCommand, TestDb};
use hickory_proto::rr::RecordType;
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};

/// The query with a COOKIE option (client cookie, then `server`) added to its OPT record.
fn with_cookie(mut query: Vec<u8>, client: [u8; 8], server: &[u8]) -> Vec<u8> {
    let len = 8 + server.len();
    let rdlen_at = query.len() - 2;
    let rdlen = u16::from_be_bytes([query[rdlen_at], query[rdlen_at + 1]]) as usize + 4 + len;
    query[rdlen_at..].copy_from_slice(&(rdlen as u16).to_be_bytes());
    query.extend_from_slice(&10u16.to_be_bytes());
    query.extend_from_slice(&(len as u16).to_be_bytes());
    query.extend_from_slice(&client);
    query.extend_from_slice(server);
    query
}

/// The COOKIE option a response ends with: (client cookie, server cookie).
fn response_cookie(response: &[u8]) -> Option<([u8; 8], Vec<u8>)> {
    let n = response.len();
    let option = response.get(n.checked_sub(28)?..)?;
    (option[..4] == [0, 10, 0, 24]).then(|| (option[4..12].try_into().unwrap(), option[12..].to_vec()))
}

fn query(id: u16, name: &str) -> Vec<u8> {
    DnsQuery::new(id, name, RecordType::A).edns(1232, None).bytes()
}

struct Fixture {
    engine: Engine,
    /// One worker's state, kept across questions: its answer cache answers repeats.
    scratch: std::cell::RefCell<lmdns_server::engine::Scratch>,
    _db: TestDb,
}

impl Fixture {
    fn new() -> Fixture {
        let db = TestDb::empty(16 << 20);
        write_zones(&db.path, &[("example.com.", example_zone("example.com."))]);
        let store = lmdb_schema::Store::open(&db.path, &lmdb_schema::OpenOptions { map_size: 16 << 20, read_only: true }).unwrap();
        let engine = Engine::new(store, AnswerConfig::default());
        let scratch = std::cell::RefCell::new(engine.scratch());
        Fixture { engine, scratch, _db: db }
    }

    /// (response, whether the engine took the cookie as valid).
    fn ask(&self, from: [u8; 4], packet: &[u8]) -> (Vec<u8>, bool) {
        let client = Client { addr: SocketAddr::from((from, 5353)), transport: Transport::Udp };
        let txn = self.engine.read_txn().unwrap();
        let mut scratch = self.scratch.borrow_mut();
        let mut out = Vec::new();
        assert!(self.engine.answer(&txn, &mut scratch, packet, &client, &mut out));
        (out, scratch.valid_cookie())
    }
}

#[test]
fn server_cookies_are_given_checked_and_kept_per_client() {
    let f = Fixture::new();
    let (mine, theirs) = ([1u8; 8], [2u8; 8]);
    let (response, valid) = f.ask([192, 0, 2, 10], &with_cookie(query(1, "www.example.com."), mine, &[]));
    assert!(!valid, "a client cookie alone proves nothing");
    let (echoed, server) = response_cookie(&response).expect("a COOKIE option in the answer");
    assert_eq!((echoed, server.len(), server[0]), (mine, 16, 1), "our client cookie, a version-1 server cookie");
    // Returned from the same address: valid; from another: not.
    let (_, valid) = f.ask([192, 0, 2, 10], &with_cookie(query(2, "www.example.com."), mine, &server));
    assert!(valid);
    let (_, valid) = f.ask([192, 0, 2, 11], &with_cookie(query(3, "www.example.com."), mine, &server));
    assert!(!valid, "a cookie made for another address");
    let mut forged = server.clone();
    forged[15] ^= 1;
    assert!(!f.ask([192, 0, 2, 10], &with_cookie(query(4, "www.example.com."), mine, &forged)).1, "a forged cookie");

    // The answer cache admits on the second sighting and answers the rest: every client still
    // gets its own client cookie back, and a server cookie valid for its address.
    for round in 0..4u16 {
        for (cookie, from) in [(mine, [192, 0, 2, 10]), (theirs, [192, 0, 2, 20])] {
            let (response, _) = f.ask(from, &with_cookie(query(10 + round, "www.example.com."), cookie, &[]));
            let (echoed, server) = response_cookie(&response).unwrap();
            assert_eq!(echoed, cookie, "round {round}");
            let (_, valid) = f.ask(from, &with_cookie(query(20 + round, "www.example.com."), cookie, &server));
            assert!(valid, "round {round}: the server cookie is this client's");
        }
    }
    // A query without a cookie gets none.
    let (response, _) = f.ask([192, 0, 2, 10], &query(30, "www.example.com."));
    assert!(response_cookie(&response).is_none());
}

#[test]
fn a_malformed_cookie_is_formerr() {
    let f = Fixture::new();
    for bad in [&[9u8; 3][..], &[9u8; 7], &[9u8; 33]] {
        // A client cookie of 8 bytes plus a server part of 3, 7 or 33: none is allowed.
        let (response, _) = f.ask([192, 0, 2, 10], &with_cookie(query(1, "www.example.com."), [1; 8], bad));
        assert_eq!(response[3] & 0x0F, 1, "server part of {} bytes", bad.len());
    }
}

#[test]
fn a_valid_cookie_is_not_rate_limited() {
    let db = TestDb::empty(16 << 20);
    write_zones(&db.path, &[("example.com.", example_zone("example.com."))]);
    let server = LmdnsCommand::owning(db)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--rrl-rate", "5", "--rrl-slip", "0"])
        .attempts(3)
        .start();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 4096];
    // Learn a server cookie (one exchange, within the rate).
    socket.send_to(&with_cookie(query(1, "www.example.com."), [5; 8], &[]), server.addr()).unwrap();
    let n = socket.recv(&mut buf).unwrap();
    let (_, server_cookie) = response_cookie(&buf[..n]).unwrap();
    let mut count = |packet: &[u8]| {
        for _ in 0..60 {
            socket.send_to(packet, server.addr()).unwrap();
        }
        let (mut got, deadline) = (0, Instant::now() + Duration::from_secs(3));
        while Instant::now() < deadline {
            match socket.recv(&mut buf) {
                Ok(_) => got += 1,
                Err(_) => break,
            }
        }
        got
    };
    assert_eq!(count(&with_cookie(query(2, "www.example.com."), [5; 8], &server_cookie)), 60, "a proven address is never limited");
    let limited = count(&query(3, "www.example.com."));
    assert!(limited <= 8, "without a cookie the rate holds: {limited} of 60 answered");
}
