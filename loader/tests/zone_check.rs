//! `lmdns-loader zone check`: the import's checks with no database. The real binary in a real
//! process, compared with what `zone import` says of the same files, and never creating the
//! database it is pointed at.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test paths")
}

/// Runs the loader with `args` and no LMDNS_DB from the environment, in `cwd`.
fn loader(cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN).env_remove("LMDNS_DB").env_remove("RUST_LOG").current_dir(cwd).args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `zone check` with these arguments, and a `--db` that must never come to exist.
fn check(tmp: &Path, args: &[&str]) -> Output {
    let db = tmp.join("never-created-db");
    let mut all = vec!["--db", s(&db), "zone", "check"];
    all.extend_from_slice(args);
    let out = loader(tmp, &all);
    assert!(!db.exists(), "zone check created the database {}", db.display());
    out
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

const GOOD: &str = "$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n@ NS ns1\nns1 A 192.0.2.1\nwww A 192.0.2.80\n";

fn bad_fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture("loader/reject")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(files.len() >= 10, "the reject fixtures are there");
    files
}

#[test]
fn good_files_pass_with_exit_code_0() {
    let tmp = tempfile::tempdir().unwrap();
    let files = [fixture("zonefile/example.com.zone"), fixture("loader/reject.test.zone"), fixture("demo/geo.example.zone")];
    let out = check(tmp.path(), &files.iter().map(|p| s(p)).collect::<Vec<_>>());
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    for file in &files {
        assert!(stdout.contains(&format!("{}: zone ", file.display())), "{file:?} reported: {stdout}");
    }
    assert!(stdout.contains("zone example.com.,") && stdout.contains("zone reject.test.,"), "{stdout}");
    assert!(stdout.contains("checked 3 files: 3 ok, 0 with errors"), "{stdout}");
    assert_eq!(text(&out.stderr), "", "no warnings or errors for good files");

    // Without --db and without LMDNS_DB, too; other commands still want a database.
    let zone = write(tmp.path(), "plain.test.zone", GOOD);
    let out = loader(tmp.path(), &["zone", "check", s(&zone)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("zone plain.test., 4 records: ok"), "{}", text(&out.stdout));
    let out = loader(tmp.path(), &["zone", "list"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("pass --db DIR"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "nothing but the zone file was written");
}

#[test]
fn bad_files_fail_with_exit_code_1_and_the_import_message() {
    let tmp = tempfile::tempdir().unwrap();
    // --strict: outside-zone.zone is only a warning without it.
    for bad in bad_fixtures() {
        let out = check(tmp.path(), &["--strict", s(&bad)]);
        assert_eq!(out.status.code(), Some(1), "{bad:?}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{bad:?}: one line per problem: {stderr}");
        assert!(lines[0].starts_with(&format!("error: {}:", bad.display())), "{bad:?}: names the file: {stderr}");
        let line = lines[0][format!("error: {}:", bad.display()).len()..].split(':').next().unwrap();
        assert!(line.parse::<usize>().is_ok(), "{bad:?}: names the line: {stderr}");

        // Exactly what the import says of it.
        let db = tmp.path().join("import-db");
        let import = loader(tmp.path(), &["--db", s(&db), "zone", "import", "--strict", s(&bad)]);
        assert!(!import.status.success());
        assert_eq!(text(&import.stderr).trim_end(), lines[0], "{bad:?}: the same message as zone import");
        assert!(!db.exists(), "{bad:?}: a failed first import leaves no database behind");
    }

    // A good file among bad ones is still reported good; the exit code is 1.
    let mut args = vec![fixture("zonefile/example.com.zone")];
    args.extend(bad_fixtures());
    let out = check(tmp.path(), &[&["--strict"], &args.iter().map(|p| s(p)).collect::<Vec<_>>()[..]].concat());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).lines().count(), args.len() - 1, "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("example.com.zone: zone example.com., "), "{}", text(&out.stdout));
}

#[test]
fn json_report_for_ci() {
    let tmp = tempfile::tempdir().unwrap();
    let good = fixture("zonefile/example.com.zone");
    let syntax = fixture("loader/reject/syntax.zone");
    let no_ns = fixture("loader/reject/no-apex-ns.zone");
    // Two files of one zone: the second is refused, as by the import.
    let twin = write(tmp.path(), "twin.zone", "$ORIGIN example.com.\n$TTL 60\n@ SOA ns hm 1 1 1 1 1\n@ NS ns\nns A 192.0.2.1\n");
    let out = check(tmp.path(), &["--json", s(&good), s(&syntax), s(&no_ns), s(&twin)]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr), "", "--json keeps stderr quiet");
    let reports: Vec<Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(reports.len(), 4);
    for report in &reports {
        let keys: Vec<&str> = report.as_object().unwrap().keys().map(String::as_str).collect();
        for key in ["file", "origin", "ok", "records", "errors", "warnings"] {
            assert!(keys.contains(&key), "{key} in {report}");
        }
    }
    let [good_r, syntax_r, no_ns_r, twin_r] = &reports[..] else { unreachable!() };
    assert_eq!(good_r["file"], s(&good));
    assert_eq!(good_r["origin"], "example.com.");
    assert_eq!(good_r["ok"], true);
    assert_eq!(good_r["records"], 31);
    assert_eq!(good_r["errors"], serde_json::json!([]));

    assert_eq!(syntax_r["ok"], false);
    assert_eq!(syntax_r["records"], Value::Null);
    assert_eq!(syntax_r["errors"], serde_json::json!([{"file": s(&syntax), "line": 6, "message": "bad IPv4 address '192.0.2.256'"}]));

    assert_eq!(no_ns_r["errors"][0]["line"], 3);
    assert_eq!(no_ns_r["errors"][0]["message"], "zone reject.test. has no NS records at the apex");

    assert_eq!(twin_r["ok"], false);
    assert_eq!(twin_r["origin"], "example.com.");
    assert_eq!(twin_r["errors"][0]["line"], Value::Null);
    let message = twin_r["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("both hold zone example.com."), "{message}");
}

#[test]
fn checks_of_the_writer_and_the_side_file_too() {
    let tmp = tempfile::tempdir().unwrap();
    let agree = |file: &Path, expect: &str| {
        let out = check(tmp.path(), &[s(file)]);
        assert_eq!(out.status.code(), Some(1), "{file:?}: {}", text(&out.stdout));
        let stderr = text(&out.stderr);
        assert!(stderr.contains(expect), "{file:?}: {stderr}");
        let db = tmp.path().join("import-db");
        let import = loader(tmp.path(), &["--db", s(&db), "zone", "import", s(file)]);
        assert_eq!(text(&import.stderr), stderr, "{file:?}: the same message as zone import");
        let _ = std::fs::remove_dir_all(&db);
        stderr
    };

    // NSEC3 past RFC 9276's limit: refused by the writer when it stores the name.
    let nsec3 = write(tmp.path(), "nsec3.test.zone", &format!("{GOOD}@ NSEC3PARAM 1 0 150 -\n"));
    agree(&nsec3, "150 NSEC3 iterations");

    // A geo variant without RRSIG in a signed zone (an RRSIG over the SOA is what "signed" means).
    let rrsig = "@ RRSIG SOA 13 2 300 20371231000000 20260101000000 12345 signed.test. AAAA\n";
    let signed = write(tmp.path(), "signed.test.zone", &format!("{GOOD}{rrsig}"));
    let side = r#"{"op":"add","name":"www.signed.test.","ttl":60,"type":"A","rdata":"198.51.100.1","when":{"country":"DE"}}"#;
    write(tmp.path(), "signed.test.geo.jsonl", &format!("{side}\n"));
    agree(&signed, "www.signed.test. A variant for country=DE");

    // A bad side-file line: the side file and its line are named.
    write(tmp.path(), "side.test.zone", GOOD);
    let side_file = write(tmp.path(), "side.test.geo.jsonl", "\n{\"op\":\"delete-zone\",\"zone\":\"side.test.\"}\n");
    let stderr = agree(&tmp.path().join("side.test.zone"), "is not allowed in a geo side file");
    assert!(stderr.contains(&format!("{}:2: ", side_file.display())), "{stderr}");
    let out = check(tmp.path(), &["--json", s(&tmp.path().join("side.test.zone"))]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["errors"][0]["file"], s(&side_file));
    assert_eq!(report[0]["errors"][0]["line"], 2);

    // A whoami name of the side file's policy that owns records.
    write(tmp.path(), "who.test.zone", GOOD);
    write(
        tmp.path(),
        "who.test.geo.jsonl",
        "{\"op\":\"policy\",\"zone\":\"who.test.\",\"table\":\"geo\",\"keys\":[\"country\"],\"whoami\":[\"www\"]}\n",
    );
    agree(&tmp.path().join("who.test.zone"), "whoami name www.who.test.: owns A records");
}

#[test]
fn origin_flag_and_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let zone = write(tmp.path(), "no-origin", "@ 300 SOA ns hm 1 1 1 1 1\n@ 300 NS ns\nns 300 A 192.0.2.1\n");
    let out = check(tmp.path(), &["--origin", "given.test", s(&zone)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("zone given.test., 3 records: ok"), "{}", text(&out.stdout));

    let out = check(tmp.path(), &["--origin", "given.test", s(&zone), s(&zone)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--origin applies to one zone file"), "{}", text(&out.stderr));

    let missing = tmp.path().join("missing.zone");
    let out = check(tmp.path(), &["--json", s(&missing)]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["errors"][0]["line"], Value::Null, "an unreadable file has no line");

    let help = text(&loader(tmp.path(), &["zone", "check", "--help"]).stdout);
    for flag in ["--origin", "--json", "<FILE>", "no database"] {
        assert!(help.contains(flag), "help explains {flag}: {help}");
    }
}
