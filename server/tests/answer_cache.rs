//! The answer cache across commits, against the real server: a hot answer of zone A stays in the
//! cache while the loader changes zone B (seen in `lmdns_answer_cache_hits_total`), and every
//! change that alters an answer is answered by the very next query — a change to A itself, a
//! more specific zone created under A and deleted again, a zone created for a name answered
//! REFUSED, a DNS UPDATE through `lmdns-loader serve`, an IXFR from a Knot primary.
//! The name memo likewise: its hits show in `lmdns_name_cache_hits_total`, and a name it knew
//! as absent is found by the query right after the loader adds it.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::peers::{self, Peer};
use common::secondary::{ask, loader, metric, metrics_text, wait_until, zone_state, Writer, WriterProcess};
use common::{LmdnsCommand, LmdnsProcess, TestDb};
use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::wire;

const A: u16 = 1;
const HITS: &str = "lmdns_answer_cache_hits_total{proto=\"udp\"}";

fn zone_file(db: &TestDb, apex: &str, serial: u32, www: &str) -> String {
    let path = db.dir.path().join(format!("{apex}zone"));
    std::fs::write(
        &path,
        format!(
            "$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\nwww A {www}\n\
             host.sub A 192.0.2.40\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// One UDP worker, so one cache holds every answer; `/metrics` for the hit counter.
fn server(db: &TestDb) -> LmdnsProcess {
    LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0"]).attempts(3).start()
}

fn hits(server: &LmdnsProcess) -> f64 {
    let text = metrics_text(server.http());
    metric(&text, HITS).unwrap_or_else(|| panic!("no {HITS} in:\n{text}"))
}

/// Waits (bounded) for the hit counter to pass `before`: the worker counts an answer after
/// sending it. An answer that was not a hit never moves it, and the wait fails.
fn expect_hit(server: &LmdnsProcess, before: f64, what: &str) {
    wait_until(Duration::from_secs(5), what, || hits(server) > before);
}

/// Asks until the answer is in the cache (admitted on its second sighting) and a query is
/// answered from it. Returns the answer.
fn make_hot(server: &LmdnsProcess, name: &str) -> (u8, Vec<Vec<u8>>) {
    let first = ask(server.addr(), name, A);
    assert_eq!(ask(server.addr(), name, A), first);
    let before = hits(server);
    assert_eq!(ask(server.addr(), name, A), first);
    expect_hit(server, before, &format!("{name} answered from the cache"));
    first
}

#[test]
fn a_change_to_another_zone_keeps_the_answer_cached_and_a_change_to_its_zone_shows_at_once() {
    let db = TestDb::empty(256 << 20);
    loader(&db.path, &["zone", "import", &zone_file(&db, "a.test.", 1, "192.0.2.1")]);
    loader(&db.path, &["zone", "import", &zone_file(&db, "b.test.", 1, "192.0.2.2")]);
    let server = server(&db);
    assert_eq!(make_hot(&server, "www.a.test."), (0, vec![vec![192, 0, 2, 1]]));

    for i in 0..3u8 {
        loader(&db.path, &["record", "add", &format!("n{i}.b.test."), "60", "A", "192.0.2.20"]);
        let before = hits(&server);
        assert_eq!(ask(server.addr(), "www.a.test.", A), (0, vec![vec![192, 0, 2, 1]]));
        expect_hit(&server, before, &format!("after change {i} to b.test., www.a.test. still answered from the cache"));
    }
    assert_eq!(ask(server.addr(), "n2.b.test.", A), (0, vec![vec![192, 0, 2, 20]]), "the changes to b.test. are served");

    loader(&db.path, &["record", "add", "www.a.test.", "60", "A", "192.0.2.9"]);
    let (rcode, mut answers) = ask(server.addr(), "www.a.test.", A);
    answers.sort();
    assert_eq!((rcode, answers), (0, vec![vec![192, 0, 2, 1], vec![192, 0, 2, 9]]), "the very next query sees the change");
    // A secondary's expiry is logged as its zone's change too: `secondary.rs` sees it answered.
}

#[test]
fn a_zone_created_or_deleted_is_answered_at_once() {
    let db = TestDb::empty(256 << 20);
    loader(&db.path, &["zone", "import", &zone_file(&db, "a.test.", 1, "192.0.2.1")]);
    let server = server(&db);
    // host.sub.a.test. is a name of a.test. until sub.a.test. is a zone of its own.
    assert_eq!(make_hot(&server, "host.sub.a.test."), (0, vec![vec![192, 0, 2, 40]]));
    let sub = db.dir.path().join("sub.a.test.zone");
    std::fs::write(
        &sub,
        "$ORIGIN sub.a.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\nhost A 198.51.100.40\n",
    )
    .unwrap();
    loader(&db.path, &["zone", "import", sub.to_str().unwrap()]);
    assert_eq!(ask(server.addr(), "host.sub.a.test.", A), (0, vec![vec![198, 51, 100, 40]]), "the new, more specific zone answers");

    make_hot(&server, "host.sub.a.test.");
    loader(&db.path, &["zone", "delete", "sub.a.test."]);
    assert_eq!(ask(server.addr(), "host.sub.a.test.", A), (0, vec![vec![192, 0, 2, 40]]), "a.test. answers again");

    // A name of no zone: REFUSED, cached like any answer, until a zone for it appears.
    assert_eq!(make_hot(&server, "www.c.test.").0, 5);
    loader(&db.path, &["zone", "import", &zone_file(&db, "c.test.", 1, "192.0.2.3")]);
    assert_eq!(ask(server.addr(), "www.c.test.", A), (0, vec![vec![192, 0, 2, 3]]));
    make_hot(&server, "www.c.test.");
    loader(&db.path, &["zone", "delete", "c.test."]);
    assert_eq!(ask(server.addr(), "www.c.test.", A).0, 5, "a deleted zone is not answered");
}

const KEY: &str = "cache-key.";
const SECRET: &str = "3q2+7wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=";

/// A DNS UPDATE (RFC 2136) adding `www.a.test. 60 A 192.0.2.77`, TSIG-signed with [`KEY`].
fn update_message() -> Vec<u8> {
    use lmdns_proto::tsig::{self, Algorithm, Key};
    let mut m = MessageBuilder::new(0x0b0b, 5 << 11);
    m.question(&common::wire("a.test."), 6, 1).unwrap();
    m.record(Section::Authority, &common::wire("www.a.test."), A, 1, 60, &[192, 0, 2, 77]).unwrap();
    let mut message = m.finish();
    let key = Key::new(KEY, Algorithm::HmacSha256, data_encoding::BASE64.decode(SECRET.as_bytes()).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tsig::sign_request(&mut message, &key, now, tsig::DEFAULT_FUDGE);
    message
}

#[test]
fn an_update_through_the_writer_is_answered_at_once() {
    let db = TestDb::empty(256 << 20);
    loader(&db.path, &["zone", "import", &zone_file(&db, "a.test.", 1, "192.0.2.1")]);
    loader(&db.path, &["key", "add", KEY, "hmac-sha256", SECRET]);
    loader(&db.path, &["zone", "update-policy", "a.test.", "grant cache-key. zonesub ANY"]);
    let _writer = Writer::start(&db.path, &[]);
    let server = server(&db);
    make_hot(&server, "www.a.test.");
    let reply = common::exchange_udp(server.addr(), &update_message()).expect("the UPDATE is answered");
    assert_eq!(wire::parse(&reply).unwrap().header.rcode(), 0, "UPDATE applied");
    let (rcode, mut answers) = ask(server.addr(), "www.a.test.", A);
    answers.sort();
    assert_eq!((rcode, answers), (0, vec![vec![192, 0, 2, 1], vec![192, 0, 2, 77]]), "the next query sees the UPDATE");
}

#[test]
fn an_ixfr_from_a_knot_primary_is_answered_at_once() {
    const ZONE: &str = "copied.test.";
    let text = |serial: u32, www: &str| {
        format!("$ORIGIN {ZONE}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 1 86400 300\n  NS ns1\nns1 A 192.0.2.53\nwww A {www}\n")
    };
    let db = TestDb::empty(256 << 20);
    let lmdns = server(&db);
    let knot = peers::start_primary(Peer::Knot, &[(ZONE.into(), text(1, "192.0.2.1"))], None, &[lmdns.addr()], false);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string()]);
    let _writer = WriterProcess::start(&db.path);
    let served = |addr: SocketAddr, rdata: [u8; 4]| ask(addr, "www.copied.test.", A) == (0, vec![rdata.to_vec()]);
    wait_until(Duration::from_secs(20), "the first transfer is served", || served(lmdns.addr(), [192, 0, 2, 1]));
    make_hot(&lmdns, "www.copied.test.");

    knot.update_primary_zone(ZONE, &text(2, "192.0.2.2"));
    // The NOTIFY and the transfer take their time: polled on the database, then the very next
    // query must see what it committed.
    wait_until(Duration::from_secs(20), "the IXFR is committed", || zone_state(&db.path, ZONE)["serial"] == 2);
    assert!(served(lmdns.addr(), [192, 0, 2, 2]), "the next query sees the IXFR's change");
    assert_eq!(zone_state(&db.path, ZONE)["last_transfer"], "IXFR");
}

#[test]
fn a_stream_of_one_off_questions_puts_the_cache_aside_and_answers_stay_right() {
    const ASIDE: &str = "lmdns_answer_cache_aside_workers{proto=\"udp\"}";
    let db = TestDb::empty(256 << 20);
    loader(&db.path, &["zone", "import", &zone_file(&db, "a.test.", 1, "192.0.2.1")]);
    let server = server(&db);
    let aside = || {
        let text = metrics_text(server.http());
        metric(&text, ASIDE).unwrap_or_else(|| panic!("no {ASIDE} in:\n{text}"))
    };
    assert_eq!(make_hot(&server, "www.a.test."), (0, vec![vec![192, 0, 2, 1]]));
    assert_eq!(aside(), 0.0);
    // A random-subdomain flood: more one-off names than a window of lookups (8,192).
    for i in 0..9000u32 {
        assert_eq!(ask(server.addr(), &format!("r{i:05}.a.test."), A).0, 3, "r{i:05}.a.test. is NXDOMAIN");
    }
    wait_until(Duration::from_secs(5), "the cache stands aside", || aside() == 1.0);
    // Questions still get their right answers, and changes show at once.
    assert_eq!(ask(server.addr(), "www.a.test.", A), (0, vec![vec![192, 0, 2, 1]]));
    loader(&db.path, &["record", "add", "new.a.test.", "60", "A", "192.0.2.7"]);
    assert_eq!(ask(server.addr(), "new.a.test.", A), (0, vec![vec![192, 0, 2, 7]]));
}

#[test]
fn the_name_memo_reports_its_hits_and_never_hides_a_commit() {
    // Answer cache off: only the name memo remembers. Three NXDOMAIN questions for one name
    // look up the name, its encloser and the apex again and again; the very next query after
    // the loader adds the name must find it.
    const LOOKUPS: &str = "lmdns_name_cache_lookups_total{proto=\"udp\"}";
    const NAME_HITS: &str = "lmdns_name_cache_hits_total{proto=\"udp\"}";
    const ASIDE: &str = "lmdns_name_cache_aside_workers{proto=\"udp\"}";
    let db = TestDb::empty(256 << 20);
    loader(&db.path, &["zone", "import", &zone_file(&db, "a.test.", 1, "192.0.2.1")]);
    let server = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0", "--answer-cache-size", "0"])
        .attempts(3)
        .start();
    wait_until(Duration::from_secs(5), "the memo answers repeated lookups", || {
        assert_eq!(ask(server.addr(), "new.a.test.", A), (3, vec![]), "NXDOMAIN");
        metric(&metrics_text(server.http()), NAME_HITS).is_some_and(|h| h >= 2.0)
    });
    let text = metrics_text(server.http());
    let (lookups, hits) = (metric(&text, LOOKUPS).unwrap(), metric(&text, NAME_HITS).unwrap());
    assert!(lookups > hits, "the first lookups missed: {lookups} lookups, {hits} hits");
    assert_eq!(metric(&text, ASIDE), Some(0.0));

    loader(&db.path, &["record", "add", "new.a.test.", "60", "A", "192.0.2.77"]);
    assert_eq!(ask(server.addr(), "new.a.test.", A), (0, vec![vec![192, 0, 2, 77]]), "the very next query sees the change");
}
