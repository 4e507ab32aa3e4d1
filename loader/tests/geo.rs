//! Geo variants and policies end to end (issue 5, loader side): the real `lmdns-loader` binary on
//! real LMDB environments in temporary directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lmdb_schema::node::{flags, NodeView};
use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::{name, OpenOptions, Store};

fn key(text: &str) -> Vec<u8> {
    name::key_from_wire(&lmdns_loader::zonefile::parse_name(text, &[0]).unwrap()).unwrap()
}

const BIN: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/geo").join(name)
}

/// A database directory and a working directory in one temporary directory.
/// (condition, TTL, RDATAs) of one stored RRset.
type StoredRrset = (String, u32, Vec<Vec<u8>>);

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir(env.cwd()).unwrap();
        env
    }
    fn db(&self) -> PathBuf {
        self.dir.path().join("db")
    }
    fn cwd(&self) -> PathBuf {
        self.dir.path().join("work")
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN).arg("--db").arg(self.db()).args(["--map-size", "256M"]).args(args).current_dir(self.cwd()).output().unwrap()
    }
    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
    /// Runs and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} succeeded: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8(out.stderr).unwrap()
    }
    fn store(&self) -> Store {
        Store::open(&self.db(), &OpenOptions { map_size: 256 << 20, read_only: false }).unwrap()
    }
    /// Every stored key and value (names, zones, meta with its change counter).
    fn dump(&self) -> Vec<(u8, Vec<u8>, Vec<u8>)> {
        let store = self.store();
        let txn = store.read_txn().unwrap();
        let mut out = Vec::new();
        for (tag, db) in [(0u8, store.names), (1, store.zones), (2, store.meta)] {
            for item in db.iter(&txn).unwrap() {
                let (k, v) = item.unwrap();
                out.push((tag, k.to_vec(), v.to_vec()));
            }
        }
        out
    }
    fn meta(&self, zone: &str) -> ZoneMeta {
        let store = self.store();
        let txn = store.read_txn().unwrap();
        let key = key(zone);
        ZoneMeta::decode(store.zones.get(&txn, &key).unwrap().unwrap()).unwrap()
    }
    /// (condition, ttl, rdatas) of every RRset of `rtype` at `owner` in the zone with `depth`
    /// labels, plus the section flags.
    fn rrsets(&self, owner: &str, depth: u8, rtype: u16) -> (u8, Vec<StoredRrset>) {
        let store = self.store();
        let txn = store.read_txn().unwrap();
        let key = key(owner);
        let bytes = store.names.get(&txn, &key).unwrap().unwrap_or_else(|| panic!("no node {owner}"));
        let node = NodeView::parse(bytes).unwrap();
        let section = node.section(depth).unwrap();
        let sets = section
            .rrsets()
            .filter(|r| r.rtype() == rtype)
            .map(|r| (String::from_utf8(r.condition().to_vec()).unwrap(), r.ttl(), r.rdatas().map(<[u8]>::to_vec).collect()))
            .collect();
        (section.flags(), sets)
    }
}

const ZONE: &str =
    "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\nwww 300 A 192.0.2.1\n";

fn with_zone() -> Env {
    let env = Env::new();
    let zone = env.write("example.com.zone", ZONE);
    env.ok(&["zone", "import", zone.to_str().unwrap()]);
    env
}

/// The master file on stdout and the side file, if one was written (to a fresh path each time).
fn export(env: &Env, zone: &str) -> (String, Option<String>) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = env.cwd().join(format!("export-{}.geo.jsonl", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let out = env.ok(&["zone", "export", zone, "--geo-file", path.to_str().unwrap()]);
    let side = std::fs::read_to_string(&path).ok();
    (out, side)
}

#[test]
fn record_add_and_delete_with_when() {
    let env = with_zone();
    env.ok(&["record", "add", "--when", "country=DE", "www.example.com.", "60", "A", "198.51.100.1"]);
    env.ok(&["record", "add", "--when", "country=DE", "www.example.com", "60", "A", "198.51.100.2"]);
    env.ok(&["record", "add", "--when", "continent=EU", "www.example.com.", "90", "A", "203.0.113.7"]);

    let (section_flags, sets) = env.rrsets("www.example.com.", 2, 1);
    assert!(section_flags & flags::GEO != 0, "section has the GEO flag");
    assert_eq!(
        sets,
        vec![
            (String::new(), 300, vec![vec![192, 0, 2, 1]]),
            ("continent=EU".into(), 90, vec![vec![203, 0, 113, 7]]),
            ("country=DE".into(), 60, vec![vec![198, 51, 100, 1], vec![198, 51, 100, 2]]),
        ]
    );
    {
        let store = env.store();
        let txn = store.read_txn().unwrap();
        let key = key("www.example.com.");
        let node = NodeView::parse(store.names.get(&txn, &key).unwrap().unwrap()).unwrap();
        let section = node.section(2).unwrap();
        assert_eq!(section.rrset(1).unwrap().rdatas().next().unwrap(), &[192, 0, 2, 1]);
        assert_eq!(section.rrset_variant(1, b"country=DE").unwrap().rr_count(), 2);
    }
    // Records of variants count like any other; the serial moved on with each change.
    let meta = env.meta("example.com.");
    assert_eq!((meta.records, meta.soa.serial), (7, 4));

    // The same record again is an error naming the condition.
    let err = env.fails(&["record", "add", "--when", "country=DE", "www.example.com.", "60", "A", "198.51.100.1"]);
    assert!(err.contains("already present (when country=DE)"), "{err}");

    // Delete one record of a variant, then the whole variant: the default stays.
    env.ok(&["record", "delete", "--when", "country=DE", "www.example.com.", "A", "198.51.100.1"]);
    env.ok(&["record", "delete", "--when", "continent=EU", "www.example.com.", "A"]);
    let (_, sets) = env.rrsets("www.example.com.", 2, 1);
    assert_eq!(sets, vec![(String::new(), 300, vec![vec![192, 0, 2, 1]]), ("country=DE".into(), 60, vec![vec![198, 51, 100, 2]])]);
    // A variant that is not there, or a record only in the default, does not match.
    let err = env.fails(&["record", "delete", "--when", "country=FR", "www.example.com.", "A"]);
    assert!(err.contains("no A record at www.example.com. matches (when country=FR)"), "{err}");
    let err = env.fails(&["record", "delete", "--when", "country=DE", "www.example.com.", "A", "192.0.2.1"]);
    assert!(err.contains("matches"), "{err}");
    // Deleting the default RRset leaves the variant alone.
    env.ok(&["record", "delete", "www.example.com.", "A"]);
    let (section_flags, sets) = env.rrsets("www.example.com.", 2, 1);
    assert_eq!(sets, vec![("country=DE".into(), 60, vec![vec![198, 51, 100, 2]])]);
    assert!(section_flags & flags::GEO != 0);
    env.ok(&["record", "delete", "--when", "country=DE", "www.example.com.", "A"]);
    let store = env.store();
    assert!(store.names.get(&store.read_txn().unwrap(), &key("www.example.com.")).unwrap().is_none());
}

#[test]
fn variants_keep_cname_exclusivity_per_condition() {
    let env = with_zone();
    // A CNAME variant beside a default A is fine (different answers)...
    env.ok(&["record", "add", "--when", "pop=fra", "www.example.com.", "60", "CNAME", "fra.cdn.example.net."]);
    // ...but not beside an A of the same condition.
    let before = env.dump();
    let err = env.fails(&["record", "add", "--when", "pop=fra", "www.example.com.", "60", "A", "192.0.2.9"]);
    assert!(err.contains("CNAME cannot stand beside other data"), "{err}");
    assert_eq!(env.dump(), before);
    // SOA has no variants.
    let err = env.fails(&["record", "add", "--when", "pop=fra", "example.com.", "60", "SOA", "ns1.example.com. h.example.com. 9 1 1 1 1"]);
    assert!(err.contains("SOA cannot have variants"), "{err}");
    assert_eq!(env.dump(), before);
}

#[test]
fn bad_conditions_are_rejected_and_nothing_is_written() {
    let env = with_zone();
    let before = env.dump();
    let long = format!("pop={}", "x".repeat(252));
    for (when, expect) in [
        ("country", "not KEY=VALUE"),
        ("=DE", "empty metadata key"),
        ("country=", "empty value"),
        ("country=D=E", "contains '='"),
        ("Country=DE", "lower case"),
        ("coun try=DE", "use only a-z"),
        (long.as_str(), "at most 255"),
    ] {
        let err = env.fails(&["record", "add", "--when", when, "www.example.com.", "60", "A", "198.51.100.1"]);
        assert!(err.contains(expect), "--when {when}: {err}");
        let err = env.fails(&["record", "delete", "--when", when, "www.example.com.", "A"]);
        assert!(err.contains(expect), "--when {when}: {err}");
    }
    // The longest allowed condition is exactly 255 bytes.
    let max = format!("pop={}", "x".repeat(251));
    env.ok(&["record", "add", "--when", &max, "www.example.com.", "60", "A", "198.51.100.1"]);
    env.ok(&["record", "delete", "--when", &max, "www.example.com.", "A"]);

    assert_eq!(env.dump().len(), before.len(), "the 255-byte variant came and went");
    let before = env.dump();
    for (when, expect) in [
        (r#"{"country":"DE","continent":"EU"}"#, "exactly one key"),
        (r#"{}"#, "exactly one key"),
        (r#"{"country":""}"#, "empty value"),
        (r#"{"country":"D=E"}"#, "contains '='"),
        (r#"{"COUNTRY":"DE"}"#, "lower case"),
        (r#"{"country":true}"#, "must be a string"),
        (r#""country=DE""#, "not a valid change"),
    ] {
        let set = env.write(
            "bad.jsonl",
            &format!(
                "{{\"op\":\"add\",\"name\":\"ok.example.com.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.7\"}}\n\
                 {{\"op\":\"add\",\"name\":\"www.example.com.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"198.51.100.1\",\"when\":{when}}}\n"
            ),
        );
        let err = env.fails(&["apply", set.to_str().unwrap()]);
        assert!(err.contains("bad.jsonl:2") && err.contains(expect), "when {when}: {err}");
        assert_eq!(env.dump(), before, "nothing written for when {when}");
    }
    // Bad policies too.
    for (args, expect) in [
        (vec!["--table", "geo", "--keys", "pop,Country"], "lower case"),
        (vec!["--table", "geo", "--keys", "pop,pop"], "listed twice"),
        (vec!["--table", "bad/table", "--keys", "pop"], "table"),
        (vec!["--table", "geo"], "--keys"),
        (vec!["--keys", "pop"], "--table"),
        (vec!["--table", "geo", "--keys", "pop", "--clear"], "cannot be used with"),
    ] {
        let mut all = vec!["zone", "policy", "example.com."];
        all.extend(args.iter().copied());
        let err = env.fails(&all);
        assert!(err.contains(expect), "{args:?}: {err}");
    }
    let err = env.fails(&["zone", "policy", "www.example.com.", "--table", "geo", "--keys", "pop"]);
    assert!(err.contains("no zone www.example.com."), "{err}");
    assert_eq!(env.dump(), before);
}

#[test]
fn policy_set_show_clear() {
    let env = with_zone();
    assert_eq!(env.ok(&["zone", "policy", "example.com."]), "null\n");
    let serial = env.meta("example.com.").soa.serial;
    let out = env.run(&["zone", "policy", "example.com", "--table", "geo", "--keys", "pop,country,continent"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("example.com.: policy table geo, keys pop,country,continent, serial {}\n", serial + 1)
    );
    // The table is not there yet: a warning, not an error.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("range table \"geo\" does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.ok(&["zone", "policy", "example.com."]), "{\"table\":\"geo\",\"keys\":[\"pop\",\"country\",\"continent\"]}\n");
    let meta = env.meta("example.com.");
    assert_eq!(meta.policy.as_ref().unwrap().keys, ["pop", "country", "continent"]);
    // A policy changes what is served: the serial moves on, so secondaries pick it up.
    assert_eq!(meta.soa.serial, serial + 1);
    assert!(env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "pop,country,continent"]).contains("(unchanged)"));

    // A variant on a key outside the policy is allowed, with a warning.
    let out = env.run(&["record", "add", "--when", "asn=3320", "www.example.com.", "60", "A", "198.51.100.1"]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning") && err.contains("\"asn\"") && err.contains("never match"), "{err}");
    let out = env.run(&["record", "add", "--when", "country=DE", "www.example.com.", "60", "A", "198.51.100.1"]);
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    // A zone re-import without a side file keeps the policy (the variants added above go, so
    // the content changed at the file's older serial: --bump-serial serves it as the next).
    env.ok(&["zone", "import", "--bump-serial", env.path("example.com.zone").to_str().unwrap()]);
    assert!(env.meta("example.com.").policy.is_some());

    let out = env.ok(&["zone", "policy", "example.com.", "--clear"]);
    assert!(out.starts_with("example.com.: no policy, serial "), "{out}");
    assert_eq!(env.ok(&["zone", "policy", "example.com."]), "null\n");
    assert!(env.meta("example.com.").policy.is_none());
    let err = env.fails(&["zone", "policy", "nope.example.", "--clear"]);
    assert!(err.contains("no zone"), "{err}");
}

#[test]
fn changeset_with_when_and_policy() {
    let env = with_zone();
    let set = env.write(
        "changes.jsonl",
        r#"{"op":"add","name":"www.example.com.","ttl":60,"type":"A","rdata":"198.51.100.1","when":{"country":"DE"}}
{"op":"add","name":"www.example.com.","ttl":"2m","type":"A","rdata":"203.0.113.7","when":{"continent":"EU"}}
{"op":"add","name":"www.example.com.","ttl":60,"type":"AAAA","rdata":"2001:db8::1","when":{"asn":3320}}
{"op":"policy","zone":"example.com.","table":"geo","keys":["pop","country","continent"]}
{"op":"delete","name":"www.example.com.","type":"A","rdata":"203.0.113.7","when":{"continent":"EU"}}
"#,
    );
    let out = env.run(&["apply", set.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    // Only the asn variant is unmatchable with the final policy.
    assert!(err.contains("\"asn\"") && !err.contains("\"country\""), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("applied 5 changes"));
    let (section_flags, sets) = env.rrsets("www.example.com.", 2, 1);
    assert!(section_flags & flags::GEO != 0);
    assert_eq!(sets, vec![(String::new(), 300, vec![vec![192, 0, 2, 1]]), ("country=DE".into(), 60, vec![vec![198, 51, 100, 1]])]);
    let (_, aaaa) = env.rrsets("www.example.com.", 2, 28);
    assert_eq!(aaaa[0].0, "asn=3320");
    let meta = env.meta("example.com.");
    assert_eq!(meta.policy.unwrap().table, "geo");
    assert_eq!(meta.soa.serial, 2, "one serial bump per changeset");

    // A policy op on a name that is not an apex, or a bad one, fails the whole changeset.
    let before = env.dump();
    for (line, expect) in [
        (r#"{"op":"policy","zone":"www.example.com.","table":"geo","keys":["pop"]}"#, "no zone www.example.com."),
        (r#"{"op":"policy","zone":"example.com.","table":"geo","keys":[]}"#, "at least one"),
        (r#"{"op":"policy","zone":"example.com.","table":"geo"}"#, "missing field `keys`"),
        (r#"{"op":"delete","name":"www.example.com.","type":"A","when":{"country":"FR"}}"#, "(when country=FR)"),
    ] {
        let set = env.write(
            "bad.jsonl",
            &format!("{{\"op\":\"add\",\"name\":\"x.example.com.\",\"ttl\":1,\"type\":\"A\",\"rdata\":\"192.0.2.3\"}}\n{line}\n"),
        );
        let err = env.fails(&["apply", set.to_str().unwrap()]);
        assert!(err.contains("bad.jsonl:2") && err.contains(expect), "{line}: {err}");
        assert_eq!(env.dump(), before);
    }
}

#[test]
fn export_import_round_trip_with_side_file() {
    let env = Env::new();
    // Import the fixture: zone file plus its side file, one transaction.
    let out = env.ok(&["zone", "import", fixture("example.com.zone").to_str().unwrap()]);
    assert!(out.contains("geo variant RRsets from"), "{out}");
    let meta = env.meta("example.com.");
    assert_eq!(meta.policy.as_ref().unwrap().keys, ["pop", "country", "continent"]);
    let (section_flags, sets) = env.rrsets("www.example.com.", 2, 1);
    assert!(section_flags & flags::GEO != 0);
    assert_eq!(sets.len(), 3);
    assert_eq!(sets[2], ("country=DE".into(), 60, vec![vec![198, 51, 100, 1], vec![198, 51, 100, 2]]));
    let (cdn_flags, cnames) = env.rrsets("cdn.example.com.", 2, 5);
    assert!(cdn_flags & flags::GEO != 0 && cdn_flags & flags::CNAME != 0);
    assert_eq!(cnames.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(), ["", "continent=EU"]);
    // ns1 has no variants: no GEO flag.
    assert_eq!(env.rrsets("ns1.example.com.", 2, 1).0 & flags::GEO, 0);

    // Export to stdout: no file is written unasked, but the operator hears what was left out.
    let out = env.run(&["zone", "export", "example.com."]);
    assert!(out.status.success());
    let zone_text = String::from_utf8(out.stdout).unwrap();
    assert!(!zone_text.contains("198.51.100.1"), "variants stay out of the master file");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("6 geo variant records and a geo policy") && stderr.contains("--geo-file"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(env.cwd()).unwrap().filter(|e| e.as_ref().unwrap().path().to_string_lossy().ends_with(".jsonl")).count(),
        0
    );
    // With --geo-file, the side file goes there.
    let out = env.run(&["zone", "export", "example.com.", "--geo-file", "mine.jsonl"]);
    assert_eq!(String::from_utf8(out.stdout).unwrap(), zone_text);
    assert!(String::from_utf8_lossy(&out.stderr).contains("mine.jsonl"));
    let side = std::fs::read_to_string(env.cwd().join("mine.jsonl")).unwrap();
    let lines: Vec<&str> = side.lines().collect();
    assert_eq!(lines[0], r#"{"op":"policy","zone":"example.com.","table":"geo","keys":["pop","country","continent"]}"#);
    assert!(
        lines.contains(&r#"{"op":"add","name":"www.example.com.","ttl":60,"type":"A","rdata":"198.51.100.1","when":{"country":"DE"}}"#),
        "{side}"
    );
    assert_eq!(lines.len(), 7);

    // --output puts both files side by side; import of that file reads both back.
    let exported = env.path("out/example.com.zone");
    std::fs::create_dir(env.path("out")).unwrap();
    env.ok(&["zone", "export", "example.com.", "--output", exported.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&exported).unwrap(), zone_text);
    assert_eq!(std::fs::read_to_string(env.path("out/example.com.geo.jsonl")).unwrap(), side);

    // Into a fresh database: identical default data, variants and policy.
    let other = Env::new();
    other.ok(&["zone", "import", exported.to_str().unwrap()]);
    assert_eq!(export(&other, "example.com."), (zone_text.clone(), Some(side.clone())));
    assert_eq!(other.meta("example.com.").policy, meta.policy);
    assert_eq!(other.meta("example.com.").records, meta.records);
    // And import-dir does the same.
    let third = Env::new();
    third.ok(&["zone", "import-dir", env.path("out").to_str().unwrap()]);
    assert_eq!(export(&third, "example.com."), (zone_text.clone(), Some(side.clone())));

    // Files not ending in .zone take FILE.geo.jsonl.
    let plain = env.path("out/db.example");
    std::fs::copy(&exported, &plain).unwrap();
    std::fs::copy(env.path("out/example.com.geo.jsonl"), env.path("out/db.example.geo.jsonl")).unwrap();
    let fourth = Env::new();
    fourth.ok(&["zone", "import", "--origin", "example.com.", plain.to_str().unwrap()]);
    assert_eq!(export(&fourth, "example.com."), (zone_text, Some(side)));
}

#[test]
fn no_side_file_without_variants_or_policy() {
    let env = with_zone();
    // A file of the operator's that happens to have the old default name is never touched.
    let theirs = env.cwd().join("example.com.geo.jsonl");
    std::fs::write(&theirs, "not lmdns's\n").unwrap();
    let out = env.run(&["zone", "export", "example.com."]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let side_path = env.cwd().join("side.jsonl");
    env.ok(&["zone", "export", "example.com.", "--geo-file", side_path.to_str().unwrap()]);
    assert!(!side_path.exists());
    // A policy alone is worth a side file.
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country"]);
    let (_, side) = export(&env, "example.com.");
    assert_eq!(side.unwrap(), "{\"op\":\"policy\",\"zone\":\"example.com.\",\"table\":\"geo\",\"keys\":[\"country\"]}\n");
    env.ok(&["zone", "export", "example.com.", "--geo-file", side_path.to_str().unwrap()]);
    // Once there is nothing again, a side file at the path is kept, with a warning (an import
    // beside it would read it back).
    env.ok(&["zone", "policy", "example.com.", "--clear"]);
    let out = env.run(&["zone", "export", "example.com.", "--geo-file", side_path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("would read it back"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(side_path.exists());
    assert_eq!(std::fs::read_to_string(theirs).unwrap(), "not lmdns's\n");
}

#[test]
fn bad_side_file_fails_the_import_with_file_and_line() {
    let env = Env::new();
    let dir = env.path("in");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(fixture("example.com.zone"), dir.join("example.com.zone")).unwrap();
    std::fs::copy(fixture("example.com.geo.jsonl"), dir.join("example.com.geo.jsonl")).unwrap();
    std::fs::write(dir.join("example.net.zone"), ZONE.replace("example.com.", "example.net.")).unwrap();
    env.ok(&["zone", "import-dir", dir.to_str().unwrap()]);
    let before = env.dump();
    let good = std::fs::read_to_string(fixture("example.com.geo.jsonl")).unwrap();
    let add = |name: &str, when: &str| format!(r#"{{"op":"add","name":"{name}","ttl":60,"type":"A","rdata":"192.0.2.200","when":{when}}}"#);
    for (line, expect) in [
        ("not json".to_string(), "not a valid geo side-file line"),
        (add("www.example.com.", r#"{"country":"D=E"}"#), "contains '='"),
        (r#"{"op":"add","name":"www.example.com.","ttl":60,"type":"A","rdata":"192.0.2.200"}"#.to_string(), "has no \"when\""),
        (add("www.example.org.", r#"{"country":"DE"}"#), "outside the zone"),
        (r#"{"op":"delete","name":"www.example.com.","type":"A"}"#.to_string(), "not allowed in a geo side file"),
        (r#"{"op":"policy","zone":"example.net.","table":"geo","keys":["pop"]}"#.to_string(), "belongs to example.com."),
        (r#"{"op":"policy","zone":"example.com.","table":"geo","keys":["pop"]}"#.to_string(), "a second policy line"),
        (add("www.example.com.", r#"{"country":"DE"}"#).replace("192.0.2.200", "not-an-address"), "A RDATA"),
    ] {
        let side = format!("{good}\n{line}\n");
        std::fs::write(dir.join("example.com.geo.jsonl"), &side).unwrap();
        // Seven fixture lines, a blank one, then the bad one: line 9.
        let err = env.fails(&["zone", "import-dir", dir.to_str().unwrap()]);
        assert!(err.contains("example.com.geo.jsonl:9") && err.contains(expect), "{line}: {err}");
        let err = env.fails(&["zone", "import", dir.join("example.com.zone").to_str().unwrap()]);
        assert!(err.contains("example.com.geo.jsonl:9") && err.contains(expect), "{line}: {err}");
        assert_eq!(env.dump(), before, "nothing written for {line}");
    }
    // A variant that breaks CNAME exclusivity fails the zone, naming both files.
    std::fs::write(dir.join("example.com.geo.jsonl"), add("cdn.example.com.", r#"{"continent":"EU"}"#) + "\n" + &good).unwrap();
    let err = env.fails(&["zone", "import", dir.join("example.com.zone").to_str().unwrap()]);
    assert!(err.contains("CNAME cannot stand beside other data") && err.contains("example.com.geo.jsonl"), "{err}");
    assert_eq!(env.dump(), before);
}

#[test]
fn lib_entry_point_accepts_when() {
    // The same command line through the library: the flag parses and a bad one is a usage error.
    let env = with_zone();
    let db = env.db();
    let db = db.to_str().unwrap();
    let ok = lmdns_loader::cli::run_args([
        "--db",
        db,
        "--map-size",
        "256M",
        "record",
        "add",
        "--when",
        "pop=fra",
        "www.example.com.",
        "60",
        "A",
        "192.0.2.77",
    ]);
    assert!(ok.is_ok(), "{ok:?}");
    let err = lmdns_loader::cli::run_args([
        "--db",
        db,
        "--map-size",
        "256M",
        "record",
        "add",
        "--when",
        "pop",
        "www.example.com.",
        "60",
        "A",
        "192.0.2.78",
    ])
    .unwrap_err();
    assert!(err.to_string().contains("not KEY=VALUE"), "{err}");
    let (_, sets) = env.rrsets("www.example.com.", 2, 1);
    assert_eq!(sets[1], ("pop=fra".into(), 60, vec![vec![192, 0, 2, 77]]));
}

// ---------------------------------------------------------------------------------------------
// Whoami names of a zone's policy
// ---------------------------------------------------------------------------------------------

/// A zone with a delegation, a DNAME and a wildcard, for the whoami refusals.
const WHOAMI_ZONE: &str = "$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\n\
ns1 A 192.0.2.53\nwww 300 A 192.0.2.1\nsub NS ns.sub\nns.sub A 192.0.2.9\nd DNAME example.net.\n*.wild A 192.0.2.3\n";

fn with_whoami_zone() -> Env {
    let env = Env::new();
    let zone = env.write("example.com.zone", WHOAMI_ZONE);
    env.ok(&["zone", "import", zone.to_str().unwrap()]);
    env
}

impl Env {
    /// The flags of the zone's (depth 2) section at `owner` and its RRset count, if the name
    /// exists in the zone.
    fn section(&self, owner: &str) -> Option<(u8, u16)> {
        let store = self.store();
        let txn = store.read_txn().unwrap();
        let bytes = store.names.get(&txn, &key(owner)).unwrap()?;
        let node = NodeView::parse(bytes).unwrap();
        node.section(2).map(|s| (s.flags(), s.rrset_count()))
    }
}

#[test]
fn whoami_names_set_change_and_clear_with_the_policy() {
    let env = with_whoami_zone();
    let serial = env.meta("example.com.").soa.serial;
    // A relative name is taken from the apex; an absolute one in any case is stored lower case.
    let out = env.ok(&[
        "zone",
        "policy",
        "example.com.",
        "--table",
        "geo",
        "--keys",
        "country",
        "--whoami",
        "whoami",
        "--whoami",
        "Me.Deep.Example.COM.",
    ]);
    assert_eq!(
        out,
        format!("example.com.: policy table geo, keys country, whoami whoami.example.com.,me.deep.example.com., serial {}\n", serial + 1)
    );
    assert_eq!(
        env.ok(&["zone", "policy", "example.com."]),
        "{\"table\":\"geo\",\"keys\":[\"country\"],\"whoami\":[\"whoami.example.com.\",\"me.deep.example.com.\"]}\n"
    );
    let meta = env.meta("example.com.");
    assert_eq!(meta.policy.as_ref().unwrap().whoami, ["whoami.example.com.", "me.deep.example.com."]);
    assert_eq!(meta.soa.serial, serial + 1, "a policy change is a change of what is served");
    // Each name is an empty section flagged WHOAMI; its ancestors are plain empty non-terminals.
    assert_eq!(env.section("whoami.example.com."), Some((flags::WHOAMI, 0)));
    assert_eq!(env.section("me.deep.example.com."), Some((flags::WHOAMI, 0)));
    assert_eq!(env.section("deep.example.com."), Some((0, 0)));
    assert_eq!(env.section("www.example.com.").unwrap().0 & flags::WHOAMI, 0);
    // The same policy again changes nothing.
    let again = env.ok(&[
        "zone",
        "policy",
        "example.com",
        "--table",
        "geo",
        "--keys",
        "country",
        "--whoami",
        "whoami.example.com.",
        "--whoami",
        "me.deep",
    ]);
    assert!(again.ends_with("(unchanged)\n"), "{again}");

    // A new policy replaces the list: names left out stop being whoami names, nodes and all.
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country", "--whoami", "me.deep"]);
    assert_eq!(env.section("whoami.example.com."), None);
    assert_eq!(env.section("me.deep.example.com."), Some((flags::WHOAMI, 0)));
    // A record edit elsewhere keeps them (every write rebuilds them from the policy).
    env.ok(&["record", "add", "new.example.com.", "60", "A", "192.0.2.77"]);
    assert_eq!(env.section("me.deep.example.com."), Some((flags::WHOAMI, 0)));
    // A policy without --whoami has none.
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country"]);
    assert_eq!(env.section("me.deep.example.com."), None);
    assert_eq!(env.section("deep.example.com."), None, "the empty non-terminal went with it");
    assert_eq!(env.ok(&["zone", "policy", "example.com."]), "{\"table\":\"geo\",\"keys\":[\"country\"]}\n");

    // Through a changeset, then --clear removes policy and names together.
    let set = env.write(
        "whoami.jsonl",
        r#"{"op":"policy","zone":"example.com.","table":"geo","keys":["country"],"whoami":["whoami.example.com.","v6"]}
"#,
    );
    env.ok(&["apply", set.to_str().unwrap()]);
    assert_eq!(env.meta("example.com.").policy.unwrap().whoami, ["whoami.example.com.", "v6.example.com."]);
    assert_eq!(env.section("v6.example.com."), Some((flags::WHOAMI, 0)));
    assert!(env.ok(&["zone", "policy", "example.com.", "--clear"]).starts_with("example.com.: no policy, serial "));
    assert_eq!(env.section("whoami.example.com."), None);
    assert_eq!(env.section("v6.example.com."), None);
    assert!(env.meta("example.com.").policy.is_none());
    // --whoami needs the rest of a policy.
    let err = env.fails(&["zone", "policy", "example.com.", "--whoami", "whoami"]);
    assert!(err.contains("--table"), "{err}");
    let err = env.fails(&["zone", "policy", "example.com.", "--clear", "--whoami", "whoami"]);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn bad_whoami_names_are_refused_and_nothing_is_written() {
    let env = with_whoami_zone();
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country", "--whoami", "whoami"]);
    let before = env.dump();
    for (names, expect) in [
        (vec!["@"], "whoami name example.com.: is the zone apex"),
        (vec!["example.com."], "whoami name example.com.: is the zone apex"),
        (
            vec!["www"],
            "whoami name www.example.com.: owns A records; a whoami name is answered from the client's address; it cannot own records",
        ),
        (vec!["sub"], "whoami name sub.example.com.: owns NS records (it is a delegation point)"),
        (vec!["ns.sub"], "whoami name ns.sub.example.com.: owns A records"),
        (vec!["x.sub"], "whoami name x.sub.example.com.: is below the delegation point sub.example.com."),
        (vec!["d"], "whoami name d.example.com.: owns DNAME records"),
        (vec!["x.y.d"], "whoami name x.y.d.example.com.: is below the DNAME at d.example.com."),
        (vec!["*.wild"], "whoami name *.wild.example.com.: is a wildcard"),
        (vec!["*"], "whoami name *.example.com.: is a wildcard"),
        (vec!["whoami.example.net."], "whoami name whoami.example.net.: is outside the zone example.com."),
        (vec!["whoami", "WHOAMI.example.com."], "whoami name whoami.example.com.: is listed twice"),
        (vec!["a..b"], "whoami name a..b: not a valid name"),
    ] {
        let mut args = vec!["zone", "policy", "example.com.", "--table", "geo", "--keys", "country"];
        for n in &names {
            args.extend(["--whoami", n]);
        }
        let err = env.fails(&args);
        assert!(err.contains(expect), "{names:?}: {err}");
        assert_eq!(env.dump(), before, "nothing written for {names:?}");
        // The same through a changeset names the line.
        let list = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(",");
        let set = env.write(
            "bad.jsonl",
            &format!(
                "{{\"op\":\"add\",\"name\":\"ok.example.com.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.7\"}}\n\
                 {{\"op\":\"policy\",\"zone\":\"example.com.\",\"table\":\"geo\",\"keys\":[\"country\"],\"whoami\":[{list}]}}\n"
            ),
        );
        let err = env.fails(&["apply", set.to_str().unwrap()]);
        assert!(err.contains(expect), "apply {names:?}: {err}");
        assert_eq!(env.dump(), before, "nothing written by apply for {names:?}");
    }
    // A name inside another zone served here is answered by that zone, never by this policy.
    let child = env.write("child.example.com.zone", &ZONE.replace("example.com.", "child.example.com."));
    env.ok(&["zone", "import", child.to_str().unwrap()]);
    let before = env.dump();
    let err = env.fails(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country", "--whoami", "me.child"]);
    assert!(err.contains("whoami name me.child.example.com.: is inside the zone child.example.com. served here"), "{err}");
    assert_eq!(env.dump(), before);
}

#[test]
fn a_zone_that_would_take_over_a_whoami_name_is_refused() {
    let env = with_whoami_zone();
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country", "--whoami", "me.kid"]);
    let before = env.dump();
    // kid.example.com. would answer me.kid.example.com. and hide the parent's whoami name.
    for apex in ["kid.example.com.", "me.kid.example.com."] {
        let kid = env.write("kid.zone", &ZONE.replace("example.com.", apex));
        let err = env.fails(&["zone", "import", kid.to_str().unwrap()]);
        let expect = format!(
            "whoami name me.kid.example.com.: is a whoami name of the policy of example.com., and the zone {apex} would answer for it"
        );
        assert!(err.contains(&expect), "{apex}: {err}");
        assert_eq!(env.dump(), before, "nothing written for {apex}");
    }
    // A sibling zone is fine, and so is the child once the policy no longer names it.
    let other = env.write("other.zone", &ZONE.replace("example.com.", "other.example.com."));
    env.ok(&["zone", "import", other.to_str().unwrap()]);
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country"]);
    let kid = env.write("kid.zone", &ZONE.replace("example.com.", "kid.example.com."));
    env.ok(&["zone", "import", kid.to_str().unwrap()]);
}

#[test]
fn records_at_a_whoami_name_are_refused_on_every_write() {
    let env = with_whoami_zone();
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country", "--whoami", "whoami"]);
    let before = env.dump();
    let expect = "whoami name whoami.example.com.: is in the zone's policy, so the A record is refused; a whoami name is answered from the client's address; it cannot own records";
    let err = env.fails(&["record", "add", "whoami.example.com.", "60", "A", "192.0.2.8"]);
    assert!(err.contains(expect), "{err}");
    let err = env.fails(&["record", "add", "--when", "country=DE", "WhoAmI.example.com.", "60", "A", "192.0.2.8"]);
    assert!(err.contains(expect), "{err}");
    assert_eq!(env.dump(), before);
    let set = env.write(
        "add.jsonl",
        "{\"op\":\"add\",\"name\":\"ok.example.com.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.7\"}\n\
         {\"op\":\"add\",\"name\":\"whoami.example.com.\",\"ttl\":60,\"type\":\"TXT\",\"rdata\":\"hi\"}\n",
    );
    let err = env.fails(&["apply", set.to_str().unwrap()]);
    assert!(err.contains("add.jsonl:2") && err.contains("so the TXT record is refused"), "{err}");
    assert_eq!(env.dump(), before);
    // A changeset that sets the policy after adding the record is refused when the zone is written.
    let set = env.write(
        "late.jsonl",
        "{\"op\":\"add\",\"name\":\"me.example.com.\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.7\"}\n\
         {\"op\":\"policy\",\"zone\":\"example.com.\",\"table\":\"geo\",\"keys\":[\"country\"],\"whoami\":[\"whoami\",\"me\"]}\n",
    );
    let err = env.fails(&["apply", set.to_str().unwrap()]);
    assert!(err.contains("whoami name me.example.com.: owns A records; a whoami name is answered"), "{err}");
    assert_eq!(env.dump(), before);
    // A zone file re-imported with data at the name (no side file: the stored policy holds).
    let zone = env.write("example.com.zone", &format!("{WHOAMI_ZONE}whoami 60 AAAA 2001:db8::1\n"));
    let err = env.fails(&["zone", "import", zone.to_str().unwrap()]);
    assert!(err.contains("whoami name whoami.example.com.: owns AAAA records"), "{err}");
    assert_eq!(env.dump(), before);
    // Names below a whoami name are ordinary names.
    env.ok(&["record", "add", "x.whoami.example.com.", "60", "A", "192.0.2.8"]);
    assert_eq!(env.section("whoami.example.com."), Some((flags::WHOAMI, 0)));
    assert_eq!(env.section("x.whoami.example.com.").unwrap().1, 1);
}

#[test]
fn whoami_names_survive_export_and_import() {
    let env = with_whoami_zone();
    env.ok(&["zone", "policy", "example.com.", "--table", "geo", "--keys", "country", "--whoami", "whoami", "--whoami", "me.deep"]);
    env.ok(&["record", "add", "--when", "country=DE", "www.example.com.", "60", "A", "198.51.100.1"]);
    let (zone_text, side) = export(&env, "example.com.");
    assert!(!zone_text.contains("whoami"), "whoami names own no records: {zone_text}");
    let side = side.unwrap();
    assert_eq!(
        side.lines().next().unwrap(),
        r#"{"op":"policy","zone":"example.com.","table":"geo","keys":["country"],"whoami":["whoami.example.com.","me.deep.example.com."]}"#
    );
    let dir = env.path("out");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("example.com.zone"), &zone_text).unwrap();
    std::fs::write(dir.join("example.com.geo.jsonl"), &side).unwrap();
    let other = Env::new();
    other.ok(&["zone", "import", dir.join("example.com.zone").to_str().unwrap()]);
    assert_eq!(other.meta("example.com.").policy, env.meta("example.com.").policy);
    assert_eq!(other.section("whoami.example.com."), Some((flags::WHOAMI, 0)));
    assert_eq!(other.section("me.deep.example.com."), Some((flags::WHOAMI, 0)));
    assert_eq!(export(&other, "example.com."), (zone_text, Some(side.clone())));
    // A side file naming a whoami name that the zone file gives records is refused.
    std::fs::write(dir.join("example.com.geo.jsonl"), side.replace("me.deep.example.com.", "www.example.com.")).unwrap();
    let third = Env::new();
    let err = third.fails(&["zone", "import", dir.join("example.com.zone").to_str().unwrap()]);
    assert!(err.contains("whoami name www.example.com.: owns A records"), "{err}");
}
