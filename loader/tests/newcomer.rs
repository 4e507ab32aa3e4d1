//! The loader as a newcomer meets it: a mistyped `--db`, a failed first import, a missing file,
//! `ranges drop --table`. Each through the real binary, checking what is printed and what is
//! left on disk.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn loader(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .env_remove("LMDNS_DB")
        .env_remove("RUST_LOG")
        .arg("--db")
        .arg(db)
        .args(["--map-size", "64M"])
        .args(args)
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const ZONE: &str = "$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n";

#[test]
fn read_commands_refuse_a_missing_database_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("dbb");
    for args in [
        &["zone", "list"][..],
        &["zone", "list", "--json"],
        &["zone", "export", "example.test."],
        &["db", "info"],
        &["key", "list"],
        &["ranges", "list"],
        &["ranges", "lookup", "192.0.2.1"],
        &["ranges", "export"],
    ] {
        let out = loader(&typo, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("no lmdns database at") && err.contains("dbb") && err.contains("--db"), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?} printed {:?}", String::from_utf8_lossy(&out.stdout));
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
}

#[test]
fn a_failed_first_write_leaves_no_database_behind() {
    let dir = tempfile::tempdir().unwrap();
    // import-dir of a directory that does not exist, into a new path.
    let db = dir.path().join("new-db");
    let out = loader(&db, &["zone", "import-dir", dir.path().join("no-such-dir").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!db.exists(), "a failed import-dir left {} behind", db.display());
    // A bad zone into a new database inside a directory that was there: the directory stays
    // (it is not ours), the database files go.
    let existing = dir.path().join("existing");
    std::fs::create_dir(&existing).unwrap();
    let bad = dir.path().join("bad.test.zone");
    std::fs::write(&bad, "$ORIGIN bad.test.\n@ 300 A 192.0.2.1\n").unwrap();
    let out = loader(&existing, &["zone", "import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(existing.is_dir());
    assert_eq!(std::fs::read_dir(&existing).unwrap().count(), 0, "database files left in {}", existing.display());
    // A good one creates the database.
    let good = dir.path().join("example.test.zone");
    std::fs::write(&good, ZONE).unwrap();
    let out = loader(&db, &["zone", "import", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 1 zone,"));
    assert!(db.join("data.mdb").is_file());
    // Later failures on an existing database leave it as it was.
    let out = loader(&db, &["zone", "import", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let out = loader(&db, &["zone", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("example.test."));
}

#[test]
fn errors_say_one_cause_once_and_no_line_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let missing = dir.path().join("missing.zone");
    let out = loader(&db, &["zone", "import", missing.to_str().unwrap()]);
    let err = stderr(&out);
    assert!(err.contains(&format!("{}: ", missing.display())) && !err.contains(":0:"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    // A changeset's JSON error names file and line, without serde's own position.
    std::fs::write(dir.path().join("example.test.zone"), ZONE).unwrap();
    assert!(loader(&db, &["zone", "import", dir.path().join("example.test.zone").to_str().unwrap()]).status.success());
    let changes = dir.path().join("c.jsonl");
    std::fs::write(
        &changes,
        "{\"op\":\"add\",\"name\":\"a.example.test.\",\"ttl\":300,\"type\":\"A\",\"rdata\":\"192.0.2.9\"}\n{\"op\":\"add\",\"name\":7}\n",
    )
    .unwrap();
    let err = stderr(&loader(&db, &["apply", changes.to_str().unwrap()]));
    assert!(err.contains("c.jsonl:2:") && !err.contains("column"), "{err}");
}

#[test]
fn ranges_drop_takes_table_like_the_other_range_commands() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = dir.path().join("r.csv");
    std::fs::write(&csv, "start,end,country\n192.0.2.0,192.0.2.255,NL\n").unwrap();
    for table in ["one", "two"] {
        let out = loader(&db, &["ranges", "import", "--table", table, csv.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    assert!(loader(&db, &["ranges", "drop", "--table", "one"]).status.success());
    assert!(loader(&db, &["ranges", "drop", "two"]).status.success());
    let list = loader(&db, &["ranges", "list"]);
    assert!(list.stdout.is_empty(), "{}", String::from_utf8_lossy(&list.stdout));
    // Neither, or both: a usage error.
    assert_eq!(loader(&db, &["ranges", "drop"]).status.code(), Some(2));
    assert_eq!(loader(&db, &["ranges", "drop", "a", "--table", "b"]).status.code(), Some(2));
}
