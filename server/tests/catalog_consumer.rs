//! lmdns as an RFC 9432 catalog consumer (`lmdns-loader catalog follow`): the catalog from a
//! Knot or BIND primary (a version-2 catalog zone they serve) or from an lmdns producer
//! (`lmdns-server --catalog`); its members become secondary zones served here, a member added
//! on the primary is served, a removed one is gone with its data, a group maps to other
//! primaries, and a changed member label resets the zone.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::peers::{self, Peer};
use common::secondary::{ask, loader, wait_until, zone_rows, zone_state, Writer};
use common::{LmdnsCommand, TestDb};

const CATALOG: &str = "catalog.test.";
const A: u16 = 1;

fn member_text(zone: &str, serial: u32, last: u8) -> String {
    format!(
        "$ORIGIN {zone}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.{last}\n"
    )
}

/// A version-2 catalog listing `members` as (label, zone, group).
fn catalog_text(serial: u32, members: &[(&str, &str, Option<&str>)]) -> String {
    let mut text =
        format!("$ORIGIN {CATALOG}\n$TTL 0\n@ SOA invalid. invalid. {serial} 3600 600 86400 0\n  NS invalid.\nversion TXT \"2\"\n");
    for (label, zone, group) in members {
        text.push_str(&format!("{label}.zones PTR {zone}\n"));
        if let Some(g) = group {
            text.push_str(&format!("group.{label}.zones TXT \"{g}\"\n"));
        }
    }
    text
}

fn serves(server: SocketAddr, name: &str, last: u8) -> bool {
    let (rcode, answers) = ask(server, name, A);
    rcode == 0 && answers == vec![vec![192, 0, 2, last]]
}

fn follows_a_catalog_from(peer: Peer) {
    let db = TestDb::empty(256 << 20);
    let lmdns = LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1"]).attempts(3).start();
    let zones = vec![
        (CATALOG.to_string(), catalog_text(1, &[("m1", "one.test.", None), ("m2", "two.test.", None)])),
        ("one.test.".to_string(), member_text("one.test.", 1, 1)),
        ("two.test.".to_string(), member_text("two.test.", 1, 2)),
    ];
    let primary = peers::start_primary(peer, &zones, None, &[lmdns.addr()], true);
    loader(&db.path, &["catalog", "follow", CATALOG, "--primary", &primary.addr().to_string()]);
    let _writer = Writer::start(&db.path, &[]);
    wait_until(Duration::from_secs(30), "both members served", || {
        serves(lmdns.addr(), "www.one.test.", 1) && serves(lmdns.addr(), "www.two.test.", 2)
    });
    let one = zone_state(&db.path, "one.test.");
    assert_eq!(
        (one["kind"].as_str(), one["catalog"].as_str(), one["member_id"].as_str()),
        (Some("secondary"), Some(CATALOG), Some("m1")),
        "{one}"
    );
    assert_eq!(zone_state(&db.path, CATALOG)["consumer"], true);

    // A member added on the primary: its zone, then the catalog that lists it.
    primary.add_primary_zone("three.test.", &member_text("three.test.", 1, 3));
    primary.update_primary_zone(
        CATALOG,
        &catalog_text(2, &[("m1", "one.test.", None), ("m2", "two.test.", None), ("m3", "three.test.", None)]),
    );
    wait_until(Duration::from_secs(30), "the added member served", || serves(lmdns.addr(), "www.three.test.", 3));

    // A member removed from the catalog is gone, data and all.
    primary.update_primary_zone(CATALOG, &catalog_text(3, &[("m1", "one.test.", None), ("m3", "three.test.", None)]));
    wait_until(Duration::from_secs(30), "the removed member gone", || ask(lmdns.addr(), "www.two.test.", A).0 == 5);
    assert!(zone_rows(&db.path).iter().all(|r| r["name"] != "two.test."), "two.test. is no longer listed");

    // A new label for a member resets it (RFC 9432 §5.5): a fresh copy, the new ID.
    primary.update_primary_zone(CATALOG, &catalog_text(4, &[("m1b", "one.test.", None), ("m3", "three.test.", None)]));
    wait_until(Duration::from_secs(30), "the reset member", || zone_state(&db.path, "one.test.")["member_id"] == "m1b");
    wait_until(Duration::from_secs(30), "the reset member served again", || serves(lmdns.addr(), "www.one.test.", 1));
    assert_eq!(zone_state(&db.path, "one.test.")["transfers_ok"], 1, "transferred afresh after the reset");
}

#[test]
fn a_catalog_from_knot_provisions_adds_and_removes_member_zones() {
    follows_a_catalog_from(Peer::Knot);
}

#[test]
fn a_catalog_from_bind_provisions_adds_and_removes_member_zones() {
    follows_a_catalog_from(Peer::Bind);
}

#[test]
fn a_catalog_from_an_lmdns_producer_with_a_group_on_other_primaries() {
    // Producer: zones a and b (b in group "blue") served by one lmdns, its catalog generated.
    let producer_db = TestDb::empty(256 << 20);
    for (zone, last) in [("a.test.", 10), ("b.test.", 11)] {
        let file = producer_db.dir.path().join(format!("{zone}zone"));
        std::fs::write(&file, member_text(zone, 1, last)).unwrap();
        loader(&producer_db.path, &["zone", "import", file.to_str().unwrap()]);
    }
    loader(&producer_db.path, &["zone", "group", "b.test.", "blue"]);
    let consumer_db = TestDb::empty(256 << 20);
    let consumer = LmdnsCommand::new(&consumer_db.path).args(["--listen", "127.0.0.1:0", "--threads", "1"]).attempts(3).start();
    let producer = LmdnsCommand::new(&producer_db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--allow-transfer", "127.0.0.0/8", "--catalog", "cat.invalid."])
        .args(["--notify", &consumer.addr().to_string()])
        .attempts(3)
        .start();
    // Group "blue" comes from a second lmdns serving the same database.
    let blue = LmdnsCommand::new(&producer_db.path)
        .args(["--listen", "127.0.0.2:0", "--threads", "1", "--allow-transfer", "127.0.0.0/8"])
        .attempts(3)
        .start();
    loader(&consumer_db.path, &["catalog", "group", "blue", "--primary", &blue.addr().to_string()]);
    loader(&consumer_db.path, &["catalog", "follow", "cat.invalid.", "--primary", &producer.addr().to_string()]);
    let _writer = Writer::start(&consumer_db.path, &[]);
    wait_until(Duration::from_secs(30), "both members", || {
        serves(consumer.addr(), "www.a.test.", 10) && serves(consumer.addr(), "www.b.test.", 11)
    });
    let b = zone_state(&consumer_db.path, "b.test.");
    assert_eq!(b["catalog_group"], "blue", "{b}");
    assert_eq!(b["primaries"], serde_json::json!([blue.addr().to_string()]), "{b}");
    assert_eq!(zone_state(&consumer_db.path, "a.test.")["primaries"], serde_json::json!([producer.addr().to_string()]));

    // A zone added on the producer shows up through its catalog (NOTIFY from the producer).
    let file = producer_db.dir.path().join("c.test.zone");
    std::fs::write(&file, member_text("c.test.", 1, 12)).unwrap();
    loader(&producer_db.path, &["zone", "import", file.to_str().unwrap()]);
    wait_until(Duration::from_secs(30), "the new zone", || serves(consumer.addr(), "www.c.test.", 12));
    // And a zone deleted there goes here.
    loader(&producer_db.path, &["zone", "delete", "a.test."]);
    wait_until(Duration::from_secs(30), "the deleted zone gone", || ask(consumer.addr(), "www.a.test.", A).0 == 5);

    // Unfollowing removes the catalog and what it brought.
    loader(&consumer_db.path, &["catalog", "unfollow", "cat.invalid."]);
    wait_until(Duration::from_secs(10), "every member gone", || ask(consumer.addr(), "www.b.test.", A).0 == 5);
    assert!(zone_rows(&consumer_db.path).is_empty());
}

#[test]
fn a_catalog_knot_generates_and_answers_over_tcp_only() {
    let db = TestDb::empty(256 << 20);
    let lmdns = LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1"]).attempts(3).start();
    let zones: Vec<(String, String)> =
        [("g1.test.", 21), ("g2.test.", 22)].iter().map(|(z, l)| (z.to_string(), member_text(z, 1, *l))).collect();
    let knot = peers::start_knot_catalog_primary(&zones, "generated.test.", &[lmdns.addr()]);
    loader(&db.path, &["catalog", "follow", "generated.test.", "--primary", &knot.addr().to_string()]);
    let _writer = Writer::start(&db.path, &[]);
    wait_until(Duration::from_secs(30), "the generated catalog's members", || {
        serves(lmdns.addr(), "www.g1.test.", 21) && serves(lmdns.addr(), "www.g2.test.", 22)
    });
    knot.add_primary_zone("g3.test.", &member_text("g3.test.", 1, 23));
    wait_until(Duration::from_secs(30), "a zone added on Knot", || serves(lmdns.addr(), "www.g3.test.", 23));
    knot.remove_primary_zone("g1.test.");
    wait_until(Duration::from_secs(30), "a zone removed on Knot", || ask(lmdns.addr(), "www.g1.test.", A).0 == 5);
    assert!(zone_state(&db.path, "generated.test.")["last_error"].is_null());
}
