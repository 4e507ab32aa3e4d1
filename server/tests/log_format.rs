//! `--log-format json` (and `log_format` in the config file) against the real binary: every
//! line the server writes on stderr, from the start line to the stop and a fatal error, is one
//! JSON object with a level and a message. Every wait is bounded.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::{example_zone, run_lmdns, write_zones, DnsQuery, LmdnsCommand, LmdnsProcess, START_LINE};
use hickory_proto::rr::RecordType;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Every stderr line as a JSON object with string `level` and `message` (panics naming the
/// line that is not).
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}\nlog:\n{log}"));
            assert!(value["level"].is_string(), "no level: {line}");
            assert!(value["message"].is_string(), "no message: {line}");
            assert!(value["timestamp"].is_string(), "no timestamp: {line}");
            value
        })
        .collect()
}

/// Waits (bounded) for a JSON line whose message is `message`.
fn wait_for(server: &LmdnsProcess, message: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = server.log();
        // Only whole lines: the last may still be arriving.
        let whole = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
        if let Some(line) = json_lines(whole).into_iter().find(|v| v["message"] == message) {
            return line;
        }
        assert!(Instant::now() < deadline, "no {message:?} line within {WAIT:?}; log:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Serves example.com with `config` as --config and `args`, asks one question, stops it with
/// SIGTERM and checks every line it wrote.
fn serve_and_check(config_text: &str, args: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    write_zones(&db, &[("example.com.", example_zone("example.com."))]);
    let config = dir.path().join("lmdns.toml");
    std::fs::write(&config, config_text).unwrap();
    let mut server = LmdnsCommand::new(&db)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0", "--config", config.to_str().unwrap()])
        .args(args)
        .spawn();
    let started = wait_for(&server, START_LINE);
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["zones"], 1, "the event's fields are top-level keys: {started}");
    let addr: SocketAddr = started["listen"].as_str().unwrap().split(',').next().unwrap().parse().unwrap();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    socket.send_to(&DnsQuery::new(1, "www.example.com.", RecordType::A).bytes(), addr).unwrap();
    let mut buf = [0u8; 1500];
    socket.recv_from(&mut buf).expect("an answer");
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(WAIT).success(), "{}", server.log());
    let lines = json_lines(&server.log());
    assert!(lines.iter().any(|l| l["message"].as_str().unwrap().starts_with("http listening on ")), "{lines:?}");
    assert!(lines.len() >= 3, "start, http and stop lines at least: {lines:?}");
}

#[test]
fn log_format_json_flag_makes_every_line_json() {
    serve_and_check("log_level = \"info\"\n", &["--log-format", "json"]);
}

#[test]
fn log_format_json_in_the_config_file() {
    serve_and_check("log_level = \"info\"\nlog_format = \"json\"\n", &[]);
}

#[test]
fn fatal_errors_are_json_lines_too() {
    let dir = tempfile::tempdir().unwrap();
    // An invalid configuration: the format still comes from the flag, or from the file.
    let out = run_lmdns(&["--log-format", "json", "--threads", "0", "--db", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let lines = json_lines(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["level"], "ERROR");
    assert!(lines[0]["message"].as_str().unwrap().contains("threads must be between 1 and"), "{lines:?}");
    let config = dir.path().join("bad.toml");
    std::fs::write(&config, "log_format = \"json\"\nthreads = 0\n").unwrap();
    let out = run_lmdns(&["--config", config.to_str().unwrap(), "--db", dir.path().to_str().unwrap()]);
    assert_eq!(json_lines(&String::from_utf8_lossy(&out.stderr))[0]["level"], "ERROR");
    // A failure while starting: no database there.
    let missing = dir.path().join("missing");
    let out = run_lmdns(&["--log-format", "json", "--db", missing.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&String::from_utf8_lossy(&out.stderr));
    assert_eq!(lines.last().unwrap()["level"], "ERROR", "{lines:?}");

    // Text stays the default, and the config key round-trips through --check-config.
    let out = run_lmdns(&["--check-config", "--db", "/d", "--log-format", "json"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("log_format = \"json\""));
    let out = run_lmdns(&["--check-config", "--db", "/d"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("log_format = \"text\""));
    let out = run_lmdns(&["--check-config", "--db", "/d", "--log-format", "xml"]);
    assert!(!out.status.success());
}
