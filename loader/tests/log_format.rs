//! `lmdns-loader --log-format json`: every stderr line of the writer (`serve`, from start to a
//! SIGTERM stop) and a fatal error is one JSON object with a level and a message.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LOADER: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}\nlog:\n{log}"));
            assert!(value["level"].is_string() && value["message"].is_string() && value["timestamp"].is_string(), "{line}");
            value
        })
        .collect()
}

#[test]
fn serve_logs_json_lines_from_start_to_stop() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let zone = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/zonefile/example.com.zone");
    let out = Command::new(LOADER).arg("--db").arg(&db).args(["zone", "import", zone]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The flag is global: after the subcommand as well as before it.
    let mut child = Command::new(LOADER)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped once it has started: its socket appears in the database directory.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !db.join("writer.sock").exists() {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let mut log = String::new();
    child.stderr.take().unwrap().read_to_string(&mut log).unwrap();
    assert!(child.wait().unwrap().success(), "{log}");
    let lines = json_lines(&log);
    let started = lines.iter().find(|l| l["message"] == "lmdns-loader serve started").unwrap_or_else(|| panic!("{log}"));
    assert_eq!(started["level"], "INFO");
    assert!(started["listen"].as_str().is_some_and(|l| l.starts_with("127.0.0.1:")), "fields are top-level keys: {started}");
    assert!(lines.iter().any(|l| l["message"] == "lmdns-loader serve stopped"), "{log}");
}

#[test]
fn fatal_errors_are_json_lines_and_text_stays_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let missing = dir.path().join("missing.zone");
    let out = Command::new(LOADER).arg("--db").arg(&db).args(["--log-format", "json", "zone", "import"]).arg(&missing).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines = json_lines(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(lines[0]["message"].as_str().unwrap().contains("missing.zone"), "{stderr}");

    let out = Command::new(LOADER).arg("--db").arg(&db).args(["zone", "import"]).arg(&missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: ") && stderr.contains("missing.zone"), "{stderr}");

    let out = Command::new(LOADER).args(["--log-format", "xml", "zone", "list"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown format");
}
