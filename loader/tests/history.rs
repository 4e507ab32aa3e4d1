//! What every commit leaves besides the zones: the IXFR journal (bounded per zone), the change
//! log, the catalog member list; and the settings secondaries depend on (TSIG keys, NOTIFY
//! targets, catalog groups), through the loader's command line.

use std::process::ExitCode;

use lmdb_schema::catalog::{member_id, Member, MemberChange};
use lmdb_schema::journal::{self, EntryView};
use lmdb_schema::keys::StoredKey;
use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::{changes, meta_keys, name, OpenOptions, Store};

struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        Db { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> String {
        self.dir.path().join("db").display().to_string()
    }

    fn run(&self, args: &[&str]) -> anyhow::Result<ExitCode> {
        let path = self.path();
        let mut all = vec!["--db", path.as_str(), "--map-size", "64M"];
        all.extend_from_slice(args);
        lmdns_loader::cli::run_args(all)
    }

    fn ok(&self, args: &[&str]) {
        match self.run(args) {
            Ok(code) if code == ExitCode::SUCCESS => {}
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn fail(&self, args: &[&str]) -> String {
        match self.run(args) {
            Err(e) => format!("{e:#}"),
            Ok(code) => panic!("{args:?} succeeded ({code:?})"),
        }
    }

    fn import(&self, apex: &str, serial: u32, extra: &str) {
        let file = self.dir.path().join(format!("{apex}zone"));
        let text =
            format!("$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\n{extra}");
        std::fs::write(&file, text).unwrap();
        self.ok(&["zone", "import", file.to_str().unwrap()]);
    }

    fn store(&self) -> Store {
        Store::open(std::path::Path::new(&self.path()), &OpenOptions { map_size: 64 << 20, read_only: false }).unwrap()
    }

    fn meta(&self, apex: &str) -> ZoneMeta {
        let store = self.store();
        let txn = store.read_txn().unwrap();
        ZoneMeta::decode(store.zones.get(&txn, &name::key_from_dotted(apex).unwrap()).unwrap().unwrap()).unwrap()
    }

    /// (serial from, serial to) of every journal entry of a zone, oldest first.
    fn journal(&self, apex: &str) -> Vec<(u32, u32)> {
        let meta = self.meta(apex);
        let store = self.store();
        let txn = store.read_txn().unwrap();
        let key = name::key_from_dotted(apex).unwrap();
        let prefix = journal::zone_prefix(&key);
        let stored: Vec<(u32, u32)> = store
            .journal
            .prefix_iter(&txn, &prefix)
            .unwrap()
            .map(|i| i.unwrap())
            .filter(|(k, _)| k.len() == prefix.len() + 8)
            .map(|(_, v)| {
                let e = EntryView::parse(v).unwrap();
                (e.serial_from(), e.serial_to())
            })
            .collect();
        assert_eq!(stored.len() as u64, meta.journal.entries(), "the metadata's window matches what is stored");
        stored
    }
}

#[test]
fn the_journal_keeps_the_newest_changes_within_its_bounds() {
    let db = Db::new();
    db.import("j.test.", 10, "");
    db.ok(&["db", "journal", "--max-changes", "3"]);
    for i in 0..5 {
        db.ok(&["record", "add", &format!("h{i}.j.test."), "300", "A", "192.0.2.1"]);
    }
    assert_eq!(db.journal("j.test."), vec![(12, 13), (13, 14), (14, 15)], "the oldest two went");
    let meta = db.meta("j.test.");
    assert_eq!((meta.journal.first, meta.journal.next), (2, 5), "sequence numbers, not serials, key the entries");

    // A byte bound smaller than one entry keeps nothing: secondaries get AXFR.
    db.ok(&["db", "journal", "--max-bytes", "64"]);
    db.ok(&["record", "add", "big.j.test.", "300", "TXT", "a fairly long text record that makes the entry bigger than the bound"]);
    assert_eq!(db.journal("j.test."), Vec::<(u32, u32)>::new());
    assert_eq!(db.meta("j.test.").journal.bytes, 0);

    // Deleting the zone deletes its journal too.
    db.ok(&["db", "journal", "--max-bytes", "16M"]);
    db.ok(&["record", "add", "h9.j.test.", "300", "A", "192.0.2.9"]);
    assert_eq!(db.journal("j.test.").len(), 1);
    db.ok(&["zone", "delete", "j.test."]);
    let store = db.store();
    let txn = store.read_txn().unwrap();
    assert!(store.journal.is_empty(&txn).unwrap());
}

#[test]
fn every_commit_logs_the_zones_it_changed_once() {
    let db = Db::new();
    db.import("a.test.", 1, "");
    db.import("b.test.", 1, "");
    let changes_file = db.dir.path().join("c.jsonl");
    std::fs::write(
        &changes_file,
        concat!(
            r#"{"op":"add","name":"x.a.test.","ttl":60,"type":"A","rdata":"192.0.2.1"}"#,
            "\n",
            r#"{"op":"add","name":"y.a.test.","ttl":60,"type":"A","rdata":"192.0.2.2"}"#,
            "\n",
            r#"{"op":"delete-zone","zone":"b.test."}"#,
            "\n"
        ),
    )
    .unwrap();
    db.ok(&["apply", changes_file.to_str().unwrap()]);
    let store = db.store();
    let txn = store.read_txn().unwrap();
    let counter = store.change_counter(&txn).unwrap();
    assert_eq!(counter, 3, "one per command: two imports and the changeset");
    let logged: Vec<(changes::Kind, String)> = changes::decode(store.changes.get(&txn, &changes::key(counter)).unwrap().unwrap())
        .map(|(k, apex)| (k, name::key_to_text(apex)))
        .collect();
    assert_eq!(logged, vec![(changes::Kind::Content, "a.test.".to_string()), (changes::Kind::Deleted, "b.test.".to_string())]);
    let first: Vec<_> = changes::decode(store.changes.get(&txn, &changes::key(1)).unwrap().unwrap()).map(|(k, _)| k).collect();
    assert_eq!(first, vec![changes::Kind::Added]);
    // The zone remembers the commit that last changed it.
    drop(txn);
    assert_eq!(db.meta("a.test.").changed_at, 3);
}

#[test]
fn the_catalog_member_list_follows_zones_and_groups() {
    let db = Db::new();
    db.import("a.test.", 1, "");
    db.import("b.test.", 1, "");
    db.ok(&["zone", "group", "a.test.", "gold"]);
    assert!(db.fail(&["zone", "group", "a.test.", "not a group"]).contains("catalog group"));
    db.ok(&["zone", "delete", "b.test."]);
    let store = db.store();
    let txn = store.read_txn().unwrap();
    let members: Vec<Member> = store.catalog_members.iter(&txn).unwrap().map(|i| Member::decode(i.unwrap().1).unwrap()).collect();
    assert_eq!(members, vec![Member { zone: "a.test.".into(), group: Some("gold".into()) }]);
    let key = name::key_from_dotted("a.test.").unwrap();
    assert!(store.catalog_members.get(&txn, &member_id(&key)).unwrap().is_some(), "keyed by the member ID");
    // Four versions: two zones added, a group set, a zone removed; each logged.
    assert_eq!(store.meta_u64(&txn, meta_keys::ZONE_SET_VERSION, 0).unwrap(), 4);
    let group: Vec<MemberChange> = serde_json::from_slice(store.catalog_log.get(&txn, &3u64.to_be_bytes()).unwrap().unwrap()).unwrap();
    assert_eq!(group[0].removed.as_ref().unwrap().group, None);
    assert_eq!(group[0].added.as_ref().unwrap().group.as_deref(), Some("gold"));
    // A record change is not a zone-set change.
    drop(txn);
    db.ok(&["record", "add", "x.a.test.", "60", "A", "192.0.2.1"]);
    let txn = store.read_txn().unwrap();
    assert_eq!(store.meta_u64(&txn, meta_keys::ZONE_SET_VERSION, 0).unwrap(), 4);
}

#[test]
fn keys_are_added_imported_listed_and_deleted_without_showing_secrets() {
    let db = Db::new();
    db.ok(&["key", "add", "xfr.example", "hmac-sha256", "3q2+7wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw="]);
    let file = db.dir.path().join("keys.conf");
    std::fs::write(
        &file,
        "# from tsig-keygen\nkey \"update.example.\" {\n\talgorithm hmac-sha512;\n\tsecret \"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\";\n};\nkey old { algorithm hmac-sha1; secret \"b2xkb2xkb2xk\"; };\n",
    )
    .unwrap();
    db.ok(&["key", "import", file.to_str().unwrap()]);
    let store = db.store();
    let txn = store.read_txn().unwrap();
    let names: Vec<(String, String)> = store
        .tsig_keys
        .iter(&txn)
        .unwrap()
        .map(|i| i.unwrap())
        .map(|(k, v)| (name::key_to_text(k), StoredKey::decode(v).unwrap().algorithm))
        .collect();
    assert_eq!(
        names,
        vec![
            ("update.example.".into(), "hmac-sha512".into()),
            ("xfr.example.".into(), "hmac-sha256".into()),
            ("old.".into(), "hmac-sha1".into())
        ],
        "in canonical name order"
    );
    drop(txn);
    // Adding the same name with another secret is refused unless --replace.
    let err = db.fail(&["key", "add", "xfr.example.", "hmac-sha256", "AAAA"]);
    assert!(err.contains("already exists") && !err.contains("AAAA"), "{err}");
    db.ok(&["key", "add", "--replace", "xfr.example.", "hmac-sha256", "AAAA"]);
    // Bad input names the problem and never echoes the secret.
    let err = db.fail(&["key", "add", "k.", "hmac-md5", "AAAA"]);
    assert!(err.contains("hmac-md5"), "{err}");
    let err = db.fail(&["key", "add", "k.", "hmac-sha256", "not*base64!secret"]);
    assert!(err.contains("base64") && !err.contains("not*base64!secret"), "{err}");
    std::fs::write(&file, "key \"k.\" {\n algorithm hmac-sha256;\n secret \"!!zz-secret-zz!!\";\n};\n").unwrap();
    let err = db.fail(&["key", "import", file.to_str().unwrap()]);
    assert!(err.contains("line 3") && !err.contains("zz-secret-zz"), "{err}");
    // A generated key: printed once, in the format peers read, and stored.
    db.ok(&["key", "add", "gen.example.", "hmac-sha512"]);
    db.ok(&["key", "delete", "old.", "gen.example."]);
    let txn = store.read_txn().unwrap();
    assert_eq!(store.tsig_keys.len(&txn).unwrap(), 2);
    drop(txn);
    assert!(db.fail(&["key", "delete", "nothere."]).contains("no key nothere."));
}

#[test]
fn notify_targets_are_zone_settings_that_do_not_move_the_serial() {
    let db = Db::new();
    db.import("n.test.", 7, "");
    assert!(db.fail(&["zone", "notify", "n.test.", "192.0.2.53:53", "--key", "missing."]).contains("no TSIG key missing."));
    db.ok(&["key", "add", "k.", "hmac-sha256", "AAAA"]);
    db.ok(&["zone", "notify", "n.test.", "192.0.2.53:53", "[2001:db8::53]:5353", "--key", "k"]);
    let meta = db.meta("n.test.");
    assert_eq!(meta.soa.serial, 7, "settings are not zone content");
    let targets: Vec<(String, Option<String>)> = meta.notify.iter().map(|t| (t.addr.to_string(), t.key.clone())).collect();
    assert_eq!(targets, vec![("192.0.2.53:53".into(), Some("k.".into())), ("[2001:db8::53]:5353".into(), Some("k.".into()))]);
    db.ok(&["zone", "notify", "n.test.", "--clear"]);
    assert!(db.meta("n.test.").notify.is_empty());
    assert_eq!(db.journal("n.test."), vec![], "no journal entry for a setting");
}
