//! One fuzz harness per parser that takes outside bytes: each must return (never panic, never
//! hang) whatever it is given. Each returns whether the input was accepted all the way through,
//! so the smoke test can check that its seeds still reach the deep code they were written for. The cargo-fuzz targets in `fuzz/` call these with libFuzzer's
//! inputs (nightly Rust); `tests/smoke.rs` runs them on stable Rust in CI with the seeds in
//! `fixtures/fuzz/<harness>/` and bounded mutations of them.
//!
//! * [`query`]: a query packet through the whole answer path (parser, lookup, DNSSEC proofs,
//!   geo, TSIG verification, writer), over UDP and over TCP.
//! * [`zone_file`]: master-file text through the zone-file parser and the zone checks, then the
//!   catalog-member reading (RFC 9432) of the zone built from it.
//! * [`message`]: a DNS message through the reader transfers in, NOTIFY and SOA refreshes use.
//! * [`update`]: an UPDATE message through the writer's checks and prerequisites (never
//!   committed).
//! * [`changeset`]: `apply` lines.
//! * [`ranges`]: range input, as CSV, JSON lines, GeoLite2 and IP2Location.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use lmdb_schema::{OpenOptions, Store};
use lmdns_server::engine::{AnswerConfig, Client, Engine, Transport};

/// The zones every query harness run answers from: enough shapes for the answer path to take
/// every branch (wildcard, CNAME chain, delegation with glue, DNAME, empty non-terminal).
const ZONE: &str = "$ORIGIN fuzz.test.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
@ NS ns
@ MX 10 mail
ns A 192.0.2.1
mail A 192.0.2.2
www A 192.0.2.3
www AAAA 2001:db8::3
www TXT \"text\"
*.wild A 192.0.2.4
alias CNAME www
chain CNAME alias
sub NS ns.sub
ns.sub A 192.0.2.5
d DNAME example.net.
c.b.ent A 192.0.2.6
";

struct Fixture {
    engine: Engine,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let zone = dir.path().join("fuzz.test.zone");
        std::fs::write(&zone, ZONE).expect("zone file");
        let args = ["--db", db.to_str().unwrap(), "--map-size", "64M", "zone", "import", zone.to_str().unwrap()];
        lmdns_loader::cli::run_args(args).expect("import");
        let store = Store::open(&db, &OpenOptions { map_size: 64 << 20, read_only: true }).expect("open");
        Fixture { engine: Engine::new(store, AnswerConfig::default()), _dir: dir }
    })
}

/// A query packet, answered over UDP and TCP.
pub fn query(data: &[u8]) -> bool {
    let f = fixture();
    let txn = f.engine.read_txn().expect("read txn");
    let mut scratch = f.engine.scratch();
    let mut out = Vec::new();
    let mut answered = false;
    for transport in [Transport::Udp, Transport::Tcp] {
        let client = Client { addr: SocketAddr::from(([192, 0, 2, 99], 5353)), transport };
        if f.engine.answer(&txn, &mut scratch, data, &client, &mut out) {
            assert!(out.len() >= 12, "a reply shorter than a header");
            assert_eq!(out[..2], data[..2], "a reply with another ID");
            answered = true;
        }
    }
    answered
}

/// Master-file text: parsed, tidied, checked, built into a zone, read as a catalog.
pub fn zone_file(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let origin = lmdb_schema::name::key_to_wire(&lmdb_schema::name::key_from_dotted("fuzz.test.").unwrap());
    let Ok(mut file) = lmdns_loader::zonefile::parse_str(&text, std::path::Path::new("fuzz.zone"), &origin) else { return false };
    // As `zone import` reads a file: duplicates, a closing SOA and out-of-zone data first.
    if lmdns_loader::zonefile::tidy_zone(&mut file, false).is_err() || lmdns_loader::zonefile::validate_zone(&file).is_err() {
        return false;
    }
    let Ok(mut tree) = lmdns_loader::zones::ZoneTree::new(&file.origin) else { return false };
    for record in &file.records {
        let rr = lmdns_loader::zones::Rr {
            owner: record.owner.clone(),
            ttl: record.ttl,
            rtype: record.rtype,
            rdata: record.rdata.clone(),
            condition: Vec::new(),
        };
        if tree.insert(&rr).is_err() {
            return false;
        }
    }
    if tree.finish().is_err() {
        return false;
    }
    let _ = lmdns_loader::secondary::catalog::members(&tree);
    true
}

/// A DNS message as transfers in, NOTIFY and SOA refreshes read it.
pub fn message(data: &[u8]) -> bool {
    match lmdns_proto::wire::parse(data) {
        Ok(message) => {
            let _ = message.soa_serial();
            true
        }
        Err(_) => false,
    }
}

/// An UPDATE message through the writer's processing, in a transaction never committed.
pub fn update(data: &[u8]) -> bool {
    let f = fixture_rw();
    let mut txn = f.0.write_txn().expect("write txn");
    let outcome = lmdns_loader::update::process(&f.0, &mut txn, data, "192.0.2.99".parse().unwrap(), 1_800_000_000);
    txn.abort();
    outcome.rcode == lmdns_loader::update::process::rcode::NOERROR
}

fn fixture_rw() -> &'static (Store, tempfile::TempDir) {
    static FIXTURE: OnceLock<(Store, tempfile::TempDir)> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = dir.path().join("db");
        let zone = dir.path().join("fuzz.test.zone");
        std::fs::write(&zone, ZONE).expect("zone file");
        let args = ["--db", db.to_str().unwrap(), "--map-size", "64M", "zone", "import", zone.to_str().unwrap()];
        lmdns_loader::cli::run_args(args).expect("import");
        let policy =
            ["--db", db.to_str().unwrap(), "--map-size", "64M", "zone", "update-policy", "fuzz.test.", "grant 192.0.2.0/24 zonesub ANY"];
        lmdns_loader::cli::run_args(policy).expect("update policy");
        let store = Store::open(&db, &OpenOptions { map_size: 64 << 20, read_only: false }).expect("open");
        (store, dir)
    })
}

/// One or more `apply` lines.
pub fn changeset(data: &[u8]) -> bool {
    let mut all = true;
    for line in String::from_utf8_lossy(data).lines() {
        all &= lmdns_loader::commands::apply::parse_line(line).is_ok();
    }
    all
}

/// Range input in every format the importer reads.
pub fn ranges(data: &[u8]) -> bool {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    // One file per thread: the harness may run on several.
    let path: PathBuf = dir.path().join(format!("{:?}.in", std::thread::current().id()));
    if std::fs::write(&path, data).is_err() {
        return false;
    }
    use lmdns_loader::ranges::Format;
    let mut any = false;
    for format in [Format::Csv, Format::Jsonl, Format::Maxmind, Format::Ip2location] {
        any |= lmdns_loader::ranges::input::read(&path, format, None, true, &indicatif::ProgressBar::hidden()).is_ok();
    }
    any
}

/// A harness body: true when the input was accepted all the way through.
pub type Harness = fn(&[u8]) -> bool;

/// The harnesses by name (the directories of `fixtures/fuzz/`).
pub const HARNESSES: [(&str, Harness); 6] =
    [("query", query), ("zone_file", zone_file), ("message", message), ("update", update), ("changeset", changeset), ("ranges", ranges)];
