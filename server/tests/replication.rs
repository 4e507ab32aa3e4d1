//! lmdns as a primary for the secondaries operators run: Knot DNS, BIND, NSD and PowerDNS pull
//! zones from a running lmdns-server over AXFR, get NOTIFY when the loader commits, follow by
//! IXFR, and serve the new data; TSIG is required and a wrong key is refused (and the
//! secondary's log says why). Catalog consumers (Knot, BIND, PowerDNS) provision themselves
//! from a generated catalog and follow zones added and removed.
//!
//! Every peer runs on loopback in its own directory (`common::peers`); the loader runs in
//! process against the same database, as an operator's `lmdns-loader` would.

mod common;

use std::path::Path;
use std::time::Duration;

use common::peers::{self, Peer, SecondaryZone, TsigKey};
use common::{LmdnsCommand, LmdnsProcess, TestDb};

/// How long a secondary may take to pick up a change (NOTIFY, then a transfer).
const FOLLOW: Duration = Duration::from_secs(20);

fn loader(db: &Path, args: &[&str]) {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    match lmdns_loader::cli::run_args(all.clone()) {
        Ok(code) if code == std::process::ExitCode::SUCCESS => {}
        other => panic!("lmdns-loader {all:?}: {other:?}"),
    }
}

fn zone_text(apex: &str, serial: u32, extra: &str) -> String {
    format!(
        "$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.1\n{extra}"
    )
}

fn import(db: &TestDb, apex: &str, text: &str) {
    let file = db.dir.path().join(format!("{apex}zone"));
    std::fs::write(&file, text).unwrap();
    loader(&db.path, &["zone", "import", file.to_str().unwrap()]);
}

/// A database with the zone `xfr.test.` and the TSIG key of the peers, and lmdns-server on it
/// allowing transfers signed with that key.
fn primary(key: &TsigKey, extra_args: &[&str]) -> (TestDb, LmdnsProcess) {
    let db = TestDb::empty(256 << 20);
    import(&db, "xfr.test.", &zone_text("xfr.test.", 1, "old A 192.0.2.2\n"));
    loader(&db.path, &["key", "add", &key.name, &key.algorithm, &key.secret]);
    let acl = format!("key:{}", key.name);
    let mut args = vec!["--listen", "127.0.0.1:0", "--threads", "1", "--allow-transfer", &acl];
    args.extend_from_slice(extra_args);
    let server = LmdnsCommand::new(&db.path).args(args).start();
    (db, server)
}

/// The A addresses a peer answers for `name` (empty for NXDOMAIN or no data).
fn addresses(secondary: &peers::PeerServer, name: &str) -> Vec<[u8; 4]> {
    let reply = secondary.query(name, 1);
    let message = lmdns_proto::wire::parse(&reply).unwrap();
    message.answers.iter().filter(|r| r.rtype == 1 && r.rdata.len() == 4).map(|r| r.rdata[..].try_into().unwrap()).collect()
}

/// Transfers of `kind` lmdns logged as sent.
fn sent(server: &LmdnsProcess, kind: &str) -> usize {
    let field = format!("kind=\"{kind}\"");
    server.log().lines().filter(|l| l.contains("transfer sent") && l.contains(&field)).count()
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !ok() {
        assert!(std::time::Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The whole life of a secondary of lmdns: AXFR, NOTIFY + IXFR for an addition and a deletion,
/// and a second secondary with the wrong secret that gets nothing.
fn secondary_follows(peer: Peer) {
    let key = TsigKey::test_key();
    let (db, server) = primary(&key, &[]);
    let zone = "xfr.test.";
    let secondary = peers::start_secondary(peer, &[SecondaryZone::new(zone, server.addr(), Some(key.clone()))]);
    secondary.wait_serial(zone, 1, FOLLOW).unwrap_or_else(|e| panic!("{peer}: initial transfer: {e}\nlmdns: {}", server.log_tail(20)));
    wait_until(&format!("{peer} serves the zone it transferred"), FOLLOW, || {
        addresses(&secondary, "old.xfr.test.") == vec![[192, 0, 2, 2]]
    });
    assert!(sent(&server, "AXFR") >= 1, "{}", server.log_tail(20));

    // The zone's own NOTIFY target, signed; then a change: NOTIFY, IXFR, served.
    let target = secondary.addr().to_string();
    loader(&db.path, &["zone", "notify", zone, &target, "--key", &key.name]);
    loader(&db.path, &["record", "add", "new.xfr.test.", "300", "A", "192.0.2.77"]);
    secondary.wait_serial(zone, 2, FOLLOW).unwrap_or_else(|e| panic!("{peer}: after NOTIFY: {e}\nlmdns: {}", server.log_tail(20)));
    // Polled: NSD reloads in a forked child, and the old one may answer once more.
    wait_until("the new name served by the secondary", FOLLOW, || addresses(&secondary, "new.xfr.test.") == vec![[192, 0, 2, 77]]);
    assert!(sent(&server, "IXFR") >= 1, "lmdns sent an incremental transfer: {}", server.log_tail(20));
    if secondary.logs_transfer_kind() {
        assert!(secondary.incremental_transfers(zone) >= 1, "{peer} logged an IXFR:\n{}", secondary.log_tail(30));
    }

    // A deletion goes the same way.
    loader(&db.path, &["record", "delete", "old.xfr.test.", "A"]);
    secondary.wait_serial(zone, 3, FOLLOW).unwrap();
    wait_until("the deleted name gone from the secondary", FOLLOW, || addresses(&secondary, "old.xfr.test.").is_empty());
    assert!(sent(&server, "IXFR") >= 2, "{}", server.log_tail(20));

    // The wrong secret: nothing transferred, and the secondary says why.
    let wrong = key.with_wrong_secret();
    let refused = peers::start_secondary(peer, &[SecondaryZone::new(zone, server.addr(), Some(wrong))]);
    wait_until(&format!("{peer} reports the TSIG failure"), FOLLOW, || !refused.tsig_failures(zone).is_empty());
    assert_eq!(refused.serial(zone), None, "{peer} serves nothing it could not verify");
    // Depending on the peer, the SOA query or the transfer request is the one refused.
    let refusal = server.log().lines().any(|l| l.contains("TSIG verification failed") && l.contains("error=\"BADSIG\""));
    assert!(refusal, "lmdns logged the refusal: {}", server.log_tail(20));
}

#[test]
fn knot_secondary_follows_by_ixfr_with_tsig() {
    secondary_follows(Peer::Knot);
}

#[test]
fn bind_secondary_follows_by_ixfr_with_tsig() {
    secondary_follows(Peer::Bind);
}

#[test]
fn nsd_secondary_follows_by_ixfr_with_tsig() {
    secondary_follows(Peer::Nsd);
}

#[test]
fn powerdns_secondary_follows_by_ixfr_with_tsig() {
    secondary_follows(Peer::PowerDns);
}

/// A consumer provisioned from lmdns's generated catalog: members appear, a zone imported
/// later appears, a deleted one goes. A second lmdns-server on the same database sends the
/// NOTIFYs to the consumer (its address is only known once it runs).
fn catalog_consumer_follows(peer: Peer) {
    let db = TestDb::empty(256 << 20);
    for apex in ["a.cat.test.", "b.cat.test."] {
        import(&db, apex, &zone_text(apex, 1, ""));
    }
    let serving = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--allow-transfer", "127.0.0.0/8", "--catalog", "catalog.invalid."])
        .start();
    let consumer = peers::start_catalog_consumer(peer, "catalog.invalid.", serving.addr(), None);
    for apex in ["a.cat.test.", "b.cat.test."] {
        consumer.wait_serial(apex, 1, FOLLOW).unwrap_or_else(|e| panic!("{peer}: member {apex}: {e}\nlmdns: {}", serving.log_tail(20)));
    }
    let notify = consumer.addr().to_string();
    let _notifier = LmdnsCommand::new(&db.path)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--catalog", "catalog.invalid.", "--notify", &notify])
        .start();

    import(&db, "c.cat.test.", &zone_text("c.cat.test.", 5, ""));
    consumer.wait_serial("c.cat.test.", 5, FOLLOW).unwrap_or_else(|e| panic!("{peer}: added member: {e}\n{}", consumer.log_tail(30)));
    loader(&db.path, &["zone", "delete", "b.cat.test."]);
    consumer.wait_absent("b.cat.test.", FOLLOW).unwrap_or_else(|e| panic!("{peer}: removed member: {e}\n{}", consumer.log_tail(30)));
    assert_eq!(consumer.serial("a.cat.test."), Some(1), "the other members stay");
}

#[test]
fn knot_consumes_the_catalog() {
    catalog_consumer_follows(Peer::Knot);
}

#[test]
fn bind_consumes_the_catalog() {
    catalog_consumer_follows(Peer::Bind);
}

#[test]
fn powerdns_consumes_the_catalog() {
    catalog_consumer_follows(Peer::PowerDns);
}
