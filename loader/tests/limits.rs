//! The format's limits are refused at write time with a clear message and nothing written: an
//! RRset that could never fit a 64 KiB answer (its 16-bit record count would wrap long before
//! the 65,536 records that once corrupted a node), and more RRsets at one name than the format
//! allows (65,536 geo variants wrapped the section's count; variants and types count alike). The
//! check is in the one writer every path goes through: zone import, a changeset, a record added.

use std::process::{Command, Output};

use lmdb_schema::node::{MAX_RRSETS_PER_NAME, MAX_RRSET_BYTES};

const LOADER: &str = env!("CARGO_BIN_EXE_lmdns-loader");

struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        Db { dir: tempfile::tempdir().unwrap() }
    }

    fn run(&self, args: &[&str]) -> Output {
        let db = self.dir.path().join("db");
        Command::new(LOADER).arg("--db").arg(db).args(["--map-size", "256M"]).args(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn write(&self, file: &str, text: &str) -> String {
        let path = self.dir.path().join(file);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    fn export(&self) -> String {
        let out = self.run(&["zone", "export", "limits.test."]);
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    }
}

const HEAD: &str = "$ORIGIN limits.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n";

#[test]
fn an_rrset_too_large_for_any_answer_is_refused_everywhere() {
    let db = Db::new();
    db.ok(&["zone", "import", "--origin", "limits.test.", &db.write("base.zone", HEAD)]);
    let before = db.export();

    // 16 bytes per A record with its owner pointer: one more than fits.
    let records = MAX_RRSET_BYTES / 16 + 1;
    let mut text = HEAD.replace(" 1 3600", " 2 3600");
    for i in 0..records {
        text.push_str(&format!("big A 10.{}.{}.{}\n", i >> 16, (i >> 8) & 255, i & 255));
    }
    let refused = db.fail(&["zone", "import", "--origin", "limits.test.", &db.write("big.zone", &text)]);
    assert!(refused.contains(&format!("big.limits.test. A: {records} records take {} bytes", records * 16)), "{refused}");
    assert!(refused.contains("64 KiB DNS message"), "{refused}");
    assert_eq!(db.export(), before, "the refused import wrote something");

    // The largest that fits is taken, and one record more by `record add` is refused.
    let fits = MAX_RRSET_BYTES / 16;
    let mut changeset = String::new();
    for i in 0..fits {
        changeset.push_str(&format!(
            "{{\"op\":\"add\",\"name\":\"big.limits.test.\",\"ttl\":300,\"type\":\"A\",\"rdata\":\"10.{}.{}.{}\"}}\n",
            i >> 16,
            (i >> 8) & 255,
            i & 255
        ));
    }
    db.ok(&["apply", &db.write("fits.jsonl", &changeset)]);
    let full = db.export();
    let refused = db.fail(&["record", "add", "big.limits.test.", "300", "A", "10.255.255.255"]);
    assert!(refused.contains("one RRset may take at most"), "{refused}");
    assert_eq!(db.export(), full);
}

#[test]
fn more_rrsets_at_one_name_than_the_format_allows_are_refused() {
    let db = Db::new();
    db.ok(&["zone", "import", "--origin", "limits.test.", &db.write("base.zone", HEAD)]);
    let before = db.export();
    // One RRset per (unassigned) type: the same count geo variants add to (65,536 of them once
    // wrapped it). Through an import: one node written with all of them.
    let mut text = HEAD.replace(" 1 3600", " 2 3600");
    for t in 0..=MAX_RRSETS_PER_NAME {
        text.push_str(&format!("many TYPE{} \\# 1 00\n", 20_000 + t));
    }
    let refused = db.fail(&["zone", "import", "--origin", "limits.test.", &db.write("many.zone", &text)]);
    assert!(refused.contains(&format!("many.limits.test.: {} RRsets", MAX_RRSETS_PER_NAME + 1)), "{refused}");
    assert!(refused.contains(&format!("at most {MAX_RRSETS_PER_NAME}")), "{refused}");
    assert_eq!(db.export(), before, "the refused import wrote something");
}
