//! lmdns as a secondary: zones pulled by `lmdns-loader serve` from real primaries (Knot, BIND)
//! and from another lmdns, on loopback. NOTIFY goes to lmdns-server, which hands it to the
//! writer; the writer transfers (IXFR, else AXFR), commits each transfer as one transaction
//! and lmdns-server answers the new data. Also: TSIG right and wrong, a lost NOTIFY healed by
//! the refresh timer, expiry answered SERVFAIL and recovered, a writer SIGKILLed mid-transfer,
//! an IXFR chain on to a Knot secondary, geo variants between lmdns servers.
//!
//! The catalog consumer is in `catalog_consumer.rs`.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::peers::{self, Peer, SecondaryZone, TsigKey};
use common::secondary::{ask, loader, loader_json, metric, metrics_text, wait_until, zone_state, Writer, WriterProcess};
use common::{LmdnsCommand, TestDb};

const ZONE: &str = "copied.test.";
const A: u16 = 1;
const TXT: u16 = 16;

fn zone_text(serial: u32, refresh: u32, expire: u32, www: &str) -> String {
    format!(
        "$ORIGIN copied.test.\n$TTL 300\n@ SOA ns1 hostmaster {serial} {refresh} 1 {expire} 300\n  NS ns1\nns1 A 192.0.2.53\n\
         www A {www}\nsub NS ns.sub\nns.sub A 192.0.2.99\nold TXT \"serial {serial}\"\n"
    )
}

/// A server on an empty database, ready for the writer; it relays NOTIFY to the writer.
fn server(db: &TestDb, extra: &[&str]) -> common::LmdnsProcess {
    let mut args = vec!["--listen", "127.0.0.1:0", "--threads", "1", "--allow-transfer", "127.0.0.0/8"];
    args.extend_from_slice(extra);
    LmdnsCommand::new(&db.path).args(args).attempts(3).start()
}

fn serves(server: SocketAddr, name: &str, rtype: u16, rdata: &[u8]) -> bool {
    let (rcode, answers) = ask(server, name, rtype);
    rcode == 0 && answers.iter().any(|a| a == rdata)
}

#[test]
fn knot_primary_axfr_then_notify_brings_an_ixfr_signed_with_tsig() {
    let key = TsigKey::test_key();
    let db = TestDb::empty(256 << 20);
    let lmdns = server(&db, &[]);
    let knot = peers::start_primary(
        Peer::Knot,
        &[(ZONE.into(), zone_text(1, 3600, 86400, "192.0.2.1"))],
        Some(key.clone()),
        &[lmdns.addr()],
        false,
    );
    loader(&db.path, &["key", "add", &key.name, &key.algorithm, &key.secret]);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string(), "--key", &key.name]);
    let writer = WriterProcess::start(&db.path);

    wait_until(Duration::from_secs(20), "the first transfer is served", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 1]));
    let state = zone_state(&db.path, ZONE);
    assert_eq!((state["kind"].as_str(), state["serial"].as_u64()), (Some("secondary"), Some(1)), "{state}");
    assert_eq!(state["last_transfer"], "AXFR", "{state}");
    assert!(state["last_error"].is_null(), "{state}");
    // Glue and the delegation come with the zone: a referral for the child.
    let (rcode, _) = ask(lmdns.addr(), "www.sub.copied.test.", A);
    assert_eq!(rcode, 0);

    knot.update_primary_zone(ZONE, &zone_text(2, 3600, 86400, "192.0.2.2"));
    wait_until(Duration::from_secs(20), "the change is served after NOTIFY", || {
        serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 2])
    });
    let state = zone_state(&db.path, ZONE);
    assert_eq!(state["serial"], 2, "{state}");
    assert_eq!(state["last_transfer"], "IXFR", "the change came as an IXFR, not a second AXFR: {state}\n{}", knot.log_tail(60));
    assert_eq!((state["transfers_ok"].as_u64(), state["transfers_failed"].as_u64()), (Some(2), Some(0)), "{state}");
    assert!(knot.incremental_transfers(ZONE) >= 1, "Knot served an IXFR: {}", knot.log_tail(30));
    let applied: Vec<String> = writer.log().lines().filter(|l| l.contains("transfer applied")).map(str::to_string).collect();
    assert!(
        applied.len() == 2 && applied[0].contains("kind=\"AXFR\"") && applied[1].contains("kind=\"IXFR\""),
        "the writer's log: {applied:?}"
    );
    // Knot's NOTIFY at its start came before the zone was a secondary here (NOTAUTH); after
    // that, nothing signed was refused.
    let failures: Vec<String> = knot.tsig_failures(ZONE).into_iter().filter(|l| !l.contains("notify")).collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        !knot.log_text().lines().any(|l| l.contains("notify") && l.contains("serial 2") && l.contains("error")),
        "{}",
        knot.log_tail(30)
    );
    // The old TXT went with the IXFR's deletions.
    assert!(!serves(lmdns.addr(), "old.copied.test.", TXT, b"\x08serial 1"));
    assert!(serves(lmdns.addr(), "old.copied.test.", TXT, b"\x08serial 2"));
    // This box is now a primary for others: its journal holds the change.
    assert_eq!(state["journal"]["entries"], 1, "{state}");
}

#[test]
fn a_wrong_tsig_secret_is_refused_by_knot_and_reported_then_the_right_one_transfers() {
    wrong_then_right_key(Peer::Knot);
}

#[test]
fn a_wrong_tsig_secret_is_refused_by_bind_and_reported_then_the_right_one_transfers() {
    wrong_then_right_key(Peer::Bind);
}

fn wrong_then_right_key(peer: Peer) {
    let key = TsigKey::test_key();
    let db = TestDb::empty(256 << 20);
    let lmdns = server(&db, &[]);
    let knot = peers::start_primary(peer, &[(ZONE.into(), zone_text(7, 3600, 86400, "192.0.2.7"))], Some(key.clone()), &[], false);
    let wrong = key.with_wrong_secret();
    loader(&db.path, &["key", "add", &wrong.name, &wrong.algorithm, &wrong.secret]);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string(), "--key", &key.name]);
    let _writer = Writer::start(&db.path, &["--retry-min", "1", "--retry-max", "1"]);

    wait_until(Duration::from_secs(20), "the refusal is reported", || zone_state(&db.path, ZONE)["last_error"].is_string());
    let state = zone_state(&db.path, ZONE);
    let error = state["last_error"].as_str().unwrap();
    assert!(error.contains("NOTAUTH") || error.contains("TSIG"), "{state}");
    assert!(state["serial"].is_null() && state["transfers_ok"] == 0, "{state}");
    let (rcode, _) = ask(lmdns.addr(), "www.copied.test.", A);
    assert_eq!(rcode, 5, "nothing is served before a transfer succeeds");

    loader(&db.path, &["key", "delete", &key.name]);
    loader(&db.path, &["key", "add", &key.name, &key.algorithm, &key.secret]);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string(), "--key", &key.name]);
    wait_until(Duration::from_secs(20), "served with the right key", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 7]));
    assert!(zone_state(&db.path, ZONE)["last_error"].is_null());
}

#[test]
fn a_lost_notify_is_healed_by_the_refresh_timer() {
    let db = TestDb::empty(256 << 20);
    let lmdns = server(&db, &[]);
    // No NOTIFY targets: every change must be found by the SOA REFRESH (2 s here).
    let knot = peers::start_primary(Peer::Knot, &[(ZONE.into(), zone_text(1, 2, 86400, "192.0.2.1"))], None, &[], true);
    // The first primary listed is down: each refresh goes on to the next.
    let down = format!("127.0.0.1:{}", common::free_port());
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &down, "--primary", &knot.addr().to_string()]);
    let _writer = Writer::start(&db.path, &["--refresh-min", "1"]);
    wait_until(Duration::from_secs(20), "the first transfer", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 1]));
    knot.update_primary_zone(ZONE, &zone_text(2, 2, 86400, "192.0.2.2"));
    wait_until(Duration::from_secs(20), "the refresh finds the change", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 2]));
    let state = zone_state(&db.path, ZONE);
    assert_eq!(state["last_transfer"], "IXFR", "{state}");
    assert!(state["last_error"].is_null(), "a refresh that succeeded from the second primary is a success: {state}");
}

#[test]
fn an_expired_zone_is_answered_servfail_and_recovers_with_the_next_transfer() {
    let db = TestDb::empty(256 << 20);
    let lmdns = server(&db, &["--http", "127.0.0.1:0"]);
    let knot = peers::start_primary(Peer::Knot, &[(ZONE.into(), zone_text(1, 1, 4, "192.0.2.1"))], None, &[], true);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string()]);
    let _writer = Writer::start(&db.path, &["--refresh-min", "1", "--retry-min", "1", "--retry-max", "1"]);
    wait_until(Duration::from_secs(20), "the first transfer", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 1]));
    let knot_addr = knot.addr();
    drop(knot);
    wait_until(Duration::from_secs(20), "SERVFAIL once expired", || ask(lmdns.addr(), "www.copied.test.", A).0 == 2);
    let state = zone_state(&db.path, ZONE);
    assert_eq!(state["expired"], true, "{state}");
    assert!(state["last_error"].as_str().is_some_and(|e| e.contains(&knot_addr.to_string())), "{state}");
    let (rcode, _) = ask(lmdns.addr(), "copied.test.", 6);
    assert_eq!(rcode, 2, "SOA too: the zone is not answered at all");
    let text = metrics_text(lmdns.http());
    assert_eq!(metric(&text, "lmdns_secondary_zones{state=\"expired\"}"), Some(1.0), "{text}");
    assert_eq!(metric(&text, "lmdns_secondary_transfers_total{kind=\"AXFR\",result=\"ok\"}"), Some(1.0), "{text}");
    assert!(metric(&text, "lmdns_secondary_transfers_total{kind=\"any\",result=\"failed\"}").unwrap() >= 1.0, "{text}");
    assert!(metric(&text, "lmdns_secondary_zone_serial{zone=\"copied.test.\"}") == Some(1.0), "{text}");
    assert!(metric(&text, "lmdns_secondary_refresh_lag_max_seconds").unwrap() >= 4.0, "{text}");

    let knot = peers::start_primary(Peer::Knot, &[(ZONE.into(), zone_text(3, 1, 4, "192.0.2.3"))], None, &[], true);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string()]);
    wait_until(Duration::from_secs(20), "served again", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 3]));
    assert_eq!(zone_state(&db.path, ZONE)["expired"], false);
    let metrics = loader_json(&db.path, &["db", "info", "--json"]);
    assert_eq!(metrics["secondary_zones_expired"], 0, "{metrics}");
}

#[test]
fn bind_primary_to_lmdns_and_on_to_a_knot_secondary_by_ixfr() {
    let db = TestDb::empty(256 << 20);
    let lmdns = server(&db, &[]);
    let bind = peers::start_primary(Peer::Bind, &[(ZONE.into(), zone_text(10, 3600, 86400, "192.0.2.10"))], None, &[lmdns.addr()], true);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &bind.addr().to_string()]);
    let _writer = Writer::start(&db.path, &[]);
    wait_until(Duration::from_secs(20), "the first transfer from BIND", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 10]));
    // A Knot secondary of this box: the chain BIND → lmdns → Knot.
    let knot = peers::start_secondary(Peer::Knot, &[SecondaryZone::new(ZONE, lmdns.addr(), None)]);
    knot.wait_serial(ZONE, 10, Duration::from_secs(20)).unwrap();

    bind.update_primary_zone(ZONE, &zone_text(11, 3600, 86400, "192.0.2.11"));
    wait_until(Duration::from_secs(20), "BIND's change here", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 11]));
    assert_eq!(zone_state(&db.path, ZONE)["last_transfer"], "IXFR");
    knot.knotc(&["zone-refresh", ZONE]);
    knot.wait_serial(ZONE, 11, Duration::from_secs(20)).unwrap();
    assert!(knot.incremental_transfers(ZONE) >= 1, "Knot followed lmdns by IXFR: {}", knot.log_tail(30));
    assert_eq!(ask(knot.addr(), "www.copied.test.", A).1, vec![vec![192, 0, 2, 11]]);
}

#[test]
fn a_writer_killed_mid_axfr_leaves_the_old_version_served_then_completes() {
    let db = TestDb::empty(1 << 30);
    let lmdns = server(&db, &[]);
    let knot = peers::start_primary(Peer::Knot, &[(ZONE.into(), zone_text(1, 3600, 86400, "192.0.2.1"))], None, &[lmdns.addr()], true);
    loader(&db.path, &["zone", "secondary", "add", ZONE, "--primary", &knot.addr().to_string()]);
    let mut writer = WriterProcess::start(&db.path);
    wait_until(Duration::from_secs(20), "the first transfer", || serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 1]));

    // A large new version: 200,000 names, whole (Knot sends it as an IXFR-sized diff or AXFR).
    let mut big = zone_text(2, 3600, 86400, "192.0.2.2");
    for i in 0..200_000 {
        big.push_str(&format!("h{i} A 198.51.{}.{}\n", (i >> 8) & 0xFF, i & 0xFF));
    }
    knot.update_primary_zone(ZONE, &big);
    // Killed as soon as the transfer is under way.
    wait_until(Duration::from_secs(30), "Knot starts sending", || knot.log_text().contains("started"));
    writer.kill();
    assert!(serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 1]), "the old version is served whole");
    assert_eq!(ask(lmdns.addr(), "h199999.copied.test.", A).0, 3, "nothing of the new version");
    assert_eq!(zone_state(&db.path, ZONE)["serial"], 1);

    let started = Instant::now();
    let writer = WriterProcess::start(&db.path);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !serves(lmdns.addr(), "h199999.copied.test.", A, &[198, 51, 13, 63]) {
        assert!(Instant::now() < deadline, "the new version after restart; writer log: {}\nKnot: {}", writer.log(), knot.log_tail(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("completed {:.1} s after the restart", started.elapsed().as_secs_f64());
    assert!(serves(lmdns.addr(), "www.copied.test.", A, &[192, 0, 2, 2]));
    assert_eq!(zone_state(&db.path, ZONE)["serial"], 2);
    assert!(writer.log().contains("transfer applied"), "{}", writer.log());
}

/// A query for `name` A with an ECS option for `subnet`/24 (IPv4).
fn ask_ecs(server: SocketAddr, name: &str, subnet: [u8; 3]) -> Vec<Vec<u8>> {
    let mut m = lmdns_proto::build::MessageBuilder::new(0x6c, 0);
    m.question(&common::wire(name), A, 1).unwrap();
    let mut ecs = vec![0, 8, 0, 7, 0, 1, 24, 0];
    ecs.extend_from_slice(&subnet);
    m.record(lmdns_proto::build::Section::Additional, &[0], 41, 1232, 0, &ecs).unwrap();
    let reply = common::exchange_udp(server, &m.finish()).unwrap();
    lmdns_proto::wire::parse(&reply).unwrap().answers.into_iter().filter(|r| r.rtype == A).map(|r| r.rdata).collect()
}

#[test]
fn an_lmdns_secondary_of_an_lmdns_primary_serves_the_same_geo_variants() {
    const GEO: &str = "geo.test.";
    let ranges = "start,end,country,continent\n10.0.0.0,10.0.255.255,DE,EU\n10.1.0.0,10.1.255.255,FR,EU\n10.2.0.0,10.2.255.255,US,NA\n";
    let (primary_db, secondary_db) = (TestDb::empty(256 << 20), TestDb::empty(256 << 20));
    for db in [&primary_db, &secondary_db] {
        let csv = db.dir.path().join("geo.csv");
        std::fs::write(&csv, ranges).unwrap();
        loader(&db.path, &["ranges", "import", "--table", "geo", csv.to_str().unwrap()]);
    }
    let dir = primary_db.dir.path();
    std::fs::write(
        dir.join("geo.test.zone"),
        "$ORIGIN geo.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.1\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("geo.test.geo.jsonl"),
        "{\"op\":\"add\",\"name\":\"www.geo.test.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.10\",\"when\":{\"country\":\"DE\"}}\n\
         {\"op\":\"add\",\"name\":\"www.geo.test.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.20\",\"when\":{\"continent\":\"EU\"}}\n\
         {\"op\":\"policy\",\"zone\":\"geo.test.\",\"table\":\"geo\",\"keys\":[\"country\",\"continent\"]}\n",
    )
    .unwrap();
    loader(&primary_db.path, &["zone", "import", dir.join("geo.test.zone").to_str().unwrap()]);
    let secondary = server(&secondary_db, &[]);
    let primary = server(&primary_db, &["--notify", &secondary.addr().to_string()]);
    loader(&secondary_db.path, &["zone", "secondary", "add", GEO, "--primary", &primary.addr().to_string()]);
    let _writer = Writer::start(&secondary_db.path, &[]);
    wait_until(Duration::from_secs(20), "the geo zone is copied", || serves(secondary.addr(), "www.geo.test.", A, &[192, 0, 2, 1]));

    let subnets = [[10, 0, 0], [10, 1, 0], [10, 2, 0], [192, 0, 2]];
    let same = || subnets.iter().all(|s| ask_ecs(primary.addr(), "www.geo.test.", *s) == ask_ecs(secondary.addr(), "www.geo.test.", *s));
    assert!(same(), "the secondary answers each subnet as the primary does");
    assert_eq!(ask_ecs(secondary.addr(), "www.geo.test.", [10, 0, 0]), vec![vec![192, 0, 2, 10]], "DE");
    assert_eq!(ask_ecs(secondary.addr(), "www.geo.test.", [10, 1, 0]), vec![vec![192, 0, 2, 20]], "FR: EU");
    assert_eq!(ask_ecs(secondary.addr(), "www.geo.test.", [10, 2, 0]), vec![vec![192, 0, 2, 1]], "US: the default");

    // A new variant on the primary reaches the secondary by IXFR (NOTIFY from lmdns-server).
    loader(&primary_db.path, &["record", "add", "--when", "country=US", "www.geo.test.", "60", "A", "192.0.2.30"]);
    wait_until(Duration::from_secs(20), "the US variant", || {
        ask_ecs(secondary.addr(), "www.geo.test.", [10, 2, 0]) == vec![vec![192, 0, 2, 30]]
    });
    assert!(same());
    assert_eq!(zone_state(&secondary_db.path, GEO)["last_transfer"], "IXFR");
    // An ordinary client of the secondary sees the default only.
    let (_, answers) = ask(secondary.addr(), "www.geo.test.", A);
    assert_eq!(answers, vec![vec![192, 0, 2, 1]]);
}
