//! `dist/grafana-lmdns.json` against the real server: every metric the dashboard's PromQL
//! queries (panels and template variables) is one `/metrics` exposes — a histogram's series by
//! its `_bucket`, `_sum` and `_count` — so a renamed metric cannot leave a panel silently empty.
//! The server runs with what makes every family appear: RRL on, a secondary zone, a zone change.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use common::{example_zone, workspace_root, write_zones, DnsQuery, LmdnsCommand};
use hickory_proto::rr::RecordType;
use serde_json::Value;

const IO_TIMEOUT: Duration = Duration::from_secs(5);

fn dashboard() -> Value {
    let path = workspace_root().join("dist/grafana-lmdns.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Every PromQL text of the dashboard: targets' `expr` and query variables' `query`.
fn queries(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "definition", Value::String(q)) => out.push(q.clone()),
                    ("query", Value::String(q)) if q.contains("lmdns_") => out.push(q.clone()),
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| queries(v, out)),
        _ => {}
    }
}

/// The metric names in a PromQL expression: identifiers starting `lmdns_`.
fn metric_names(expr: &str) -> Vec<String> {
    let bytes = expr.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while let Some(at) = expr[i..].find("lmdns_") {
        let start = i + at;
        let boundary = start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
            end += 1;
        }
        if boundary {
            names.push(expr[start..end].to_string());
        }
        i = end;
    }
    names
}

/// `# TYPE name kind` of a scrape: family name → kind.
fn families(scrape: &str) -> BTreeMap<String, String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            (words.next().unwrap().to_string(), words.next().unwrap_or("untyped").to_string())
        })
        .collect()
}

/// Whether `name` is a series of the scrape: a family, or a histogram's (or summary's) part.
fn exposed(name: &str, families: &BTreeMap<String, String>) -> bool {
    if families.contains_key(name) {
        return true;
    }
    let parts: &[(&str, &[&str])] =
        &[("_bucket", &["histogram"]), ("_sum", &["histogram", "summary"]), ("_count", &["histogram", "summary"])];
    parts.iter().any(|(suffix, kinds)| {
        name.strip_suffix(suffix).and_then(|base| families.get(base)).is_some_and(|kind| kinds.contains(&kind.as_str()))
    })
}

fn loader(db: &Path, args: &[&str]) {
    let mut all = vec!["--db".to_string(), db.display().to_string(), "--map-size".into(), "64M".into()];
    all.extend(args.iter().map(|s| s.to_string()));
    assert_eq!(lmdns_loader::cli::run_args(all).unwrap_or_else(|e| panic!("loader {args:?}: {e:#}")), ExitCode::SUCCESS);
}

fn scrape(http: std::net::SocketAddr) -> String {
    let mut s = TcpStream::connect_timeout(&http, IO_TIMEOUT).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    body.to_string()
}

#[test]
fn the_parsers_of_this_test() {
    assert_eq!(metric_names("sum by (le) (rate(lmdns_a_bucket{x=\"lmdns_no\"}[5m])) / lmdns_b"), ["lmdns_a_bucket", "lmdns_no", "lmdns_b"]);
    assert!(metric_names("my_lmdns_x").is_empty(), "only whole identifiers");
    let f = families("# TYPE lmdns_h histogram\n# TYPE lmdns_c counter\n# TYPE lmdns_g_count gauge\n");
    assert!(exposed("lmdns_h_bucket", &f) && exposed("lmdns_h_sum", &f) && exposed("lmdns_h_count", &f));
    assert!(exposed("lmdns_g_count", &f), "a family whose name ends in _count");
    assert!(!exposed("lmdns_c_bucket", &f) && !exposed("lmdns_c_count", &f), "a counter has no parts");
    assert!(!exposed("lmdns_h", &f) || f.contains_key("lmdns_h"));
    assert!(!exposed("lmdns_missing", &f));
}

#[test]
fn every_metric_the_dashboard_queries_is_exposed() {
    let dash = dashboard();
    let mut exprs = Vec::new();
    queries(&dash, &mut exprs);
    assert!(exprs.len() >= 20, "the dashboard has its queries: {exprs:?}");
    let referenced: BTreeSet<String> = exprs.iter().flat_map(|e| metric_names(e)).collect();
    // The figures the dashboard is for, each queried by some panel.
    for wanted in [
        "lmdns_queries_total",
        "lmdns_zone_queries_total",
        "lmdns_rrl_dropped_total",
        "lmdns_tcp_connections",
        "lmdns_querylog_dropped_total",
        "lmdns_db_map_used_bytes",
        "lmdns_transfers_total",
        "lmdns_notify_total",
        "lmdns_secondary_zones",
        "lmdns_secondary_refresh_lag_seconds_bucket",
    ] {
        assert!(referenced.contains(wanted), "the dashboard queries {wanted}");
    }

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    write_zones(&db, &[("example.com.", example_zone("example.com."))]);
    loader(&db, &["zone", "secondary", "add", "copy.test.", "--primary", "192.0.2.1:53"]);
    let server = LmdnsCommand::new(&db)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--http", "127.0.0.1:0", "--rrl-rate", "1000"])
        .attempts(3)
        .start();
    // A change after the start, and an answered query: the families with samples have some.
    loader(&db, &["record", "add", "new.example.com.", "60", "A", "192.0.2.7"]);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    socket.send_to(&DnsQuery::new(7, "www.example.com.", RecordType::A).bytes(), server.addr()).unwrap();
    socket.recv_from(&mut [0u8; 1500]).expect("an answer");

    let body = scrape(server.http());
    let families = families(&body);
    let missing: Vec<&String> = referenced.iter().filter(|name| !exposed(name, &families)).collect();
    assert!(missing.is_empty(), "queried by the dashboard but not in /metrics: {missing:?}\nexposed: {:?}", families.keys());
}

#[test]
fn the_dashboard_is_well_formed() {
    let dash = dashboard();
    assert_eq!(dash["uid"], "lmdns-server");
    let panels = dash["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(ids.insert(panel["id"].as_u64().expect("a numeric id")), "ids are unique: {}", panel["id"]);
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24, "{} fits the 24-column grid", panel["title"]);
        if panel["type"] == "row" {
            continue;
        }
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{} has targets", panel["title"]));
        assert!(!targets.is_empty());
        for target in targets {
            let expr = target["expr"].as_str().unwrap();
            // Scoped to the instances picked at the top, whatever the panel.
            assert!(expr.contains("instance=~\"$instance\""), "{}: {expr}", panel["title"]);
            assert_eq!(expr.matches('(').count(), expr.matches(')').count(), "balanced: {expr}");
        }
    }
    let variables: Vec<&str> = dash["templating"]["list"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(variables, ["datasource", "instance", "topn"]);
}
