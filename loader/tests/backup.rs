//! Backups that cannot be mistaken for whole ones, and databases cut short refused with a
//! message instead of a SIGBUS: `db backup` writes `data.mdb.partial` and renames it when
//! complete; a `data.mdb` shorter than its own header says is refused by every command.

use std::process::{Command, Output};

const LOADER: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn loader(db: &std::path::Path, args: &[&str]) -> Output {
    Command::new(LOADER).arg("--db").arg(db).args(["--map-size", "64M"]).args(args).output().unwrap()
}

fn zone_db(dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("db");
    let zone = dir.join("backup.test.zone");
    let mut text = String::from("$ORIGIN backup.test.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 192.0.2.1\n");
    for i in 0..2000 {
        text.push_str(&format!("h{i} TXT \"padding so that the database spans many pages {i}\"\n"));
    }
    std::fs::write(&zone, text).unwrap();
    let out = loader(&db, &["zone", "import", zone.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    db
}

#[test]
fn a_backup_appears_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = zone_db(dir.path());
    let dest = dir.path().join("backup");
    std::fs::create_dir_all(&dest).unwrap();
    // What a backup killed mid-way leaves: replaced, never taken for the copy.
    std::fs::write(dest.join("data.mdb.partial"), b"half a copy").unwrap();
    let out = loader(&db, &["db", "backup", dest.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!dest.join("data.mdb.partial").exists(), "the temporary copy is renamed");
    let listed = loader(&dest, &["zone", "list"]);
    assert!(listed.status.success() && String::from_utf8_lossy(&listed.stdout).contains("backup.test."), "{listed:?}");
}

#[test]
fn a_truncated_database_is_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let db = zone_db(dir.path());
    let file = db.join("data.mdb");
    let len = std::fs::metadata(&file).unwrap().len();
    for cut in [len / 2, 100, 5000] {
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.set_len(cut).unwrap();
        drop(f);
        for args in [&["zone", "list"][..], &["db", "info"], &["record", "add", "x.backup.test.", "60", "A", "192.0.2.9"]] {
            let out = loader(&db, args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // An exit code, not a signal: the process was not killed by SIGBUS.
            assert_eq!(out.status.code(), Some(1), "{args:?} at {cut} bytes: {out:?}");
            assert!(stderr.contains("truncated"), "{args:?} at {cut} bytes: {stderr}");
        }
        assert_eq!(std::fs::metadata(&file).unwrap().len(), cut, "the damaged file was left as it was");
    }
}
