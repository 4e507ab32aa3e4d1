//! Instant updates: the real server runs while `lmdns-loader` changes, adds and deletes
//! records; the very next query sees each change. No restart, no signal.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};

struct Running {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn loader(db: &std::path::Path, args: &[&str]) {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    let code = lmdns_loader::cli::run_args(all.clone()).unwrap_or_else(|e| panic!("lmdns-loader {all:?}: {e:#}"));
    assert_eq!(code, std::process::ExitCode::SUCCESS, "lmdns-loader {all:?}");
}

fn query(addr: SocketAddr, name: &str, rtype: RecordType, tcp: bool) -> Message {
    let mut msg = Message::new(9, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_str(name).unwrap(), rtype));
    let bytes = msg.to_vec().unwrap();
    let reply = if tcp { common::exchange_tcp(addr, &bytes) } else { common::exchange_udp(addr, &bytes) };
    Message::from_vec(&reply.expect("the server answers")).unwrap()
}

fn a_records(addr: SocketAddr, name: &str, tcp: bool) -> (ResponseCode, Vec<String>) {
    let r = query(addr, name, RecordType::A, tcp);
    let mut v: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    v.sort();
    (r.metadata.response_code, v)
}

fn start(db: &std::path::Path) -> Running {
    let port = common::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lmdns-server"));
    cmd.args(["--db", db.to_str().unwrap(), "--listen", &addr.to_string(), "--threads", "2"]);
    cmd.args(common::SERVER_EXTRA_ARGS);
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("start lmdns-server");
    let running = Running { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let mut msg = Message::new(1, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(Name::from_str("example.com.").unwrap(), RecordType::SOA));
        if common::exchange_udp(addr, &msg.to_vec().unwrap()).is_ok() {
            return running;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("lmdns-server did not answer within 20 s");
}

#[test]
fn loader_changes_are_answered_on_the_next_query() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let zones = common::zones_dir();
    loader(&db, &["zone", "import", zones.join("example.com.zone").to_str().unwrap()]);
    let server = start(&db);
    let addr = server.addr;

    for tcp in [false, true] {
        let name = if tcp { "live-tcp.example.com." } else { "live.example.com." };
        assert_eq!(a_records(addr, name, tcp).0, ResponseCode::NXDomain);

        loader(&db, &["record", "add", name, "60", "A", "192.0.2.77"]);
        assert_eq!(a_records(addr, name, tcp), (ResponseCode::NoError, vec!["192.0.2.77".into()]), "added");

        // A change: a changeset replaces the address in one transaction.
        let changes = dir.path().join(format!("change-{tcp}.jsonl"));
        std::fs::write(
            &changes,
            format!(
                "{{\"op\":\"delete\",\"name\":\"{name}\",\"type\":\"A\",\"rdata\":\"192.0.2.77\"}}\n{{\"op\":\"add\",\"name\":\"{name}\",\"ttl\":60,\"type\":\"A\",\"rdata\":\"192.0.2.78\"}}\n"
            ),
        )
        .unwrap();
        loader(&db, &["apply", changes.to_str().unwrap()]);
        assert_eq!(a_records(addr, name, tcp), (ResponseCode::NoError, vec!["192.0.2.78".into()]), "changed");

        loader(&db, &["record", "delete", name, "A"]);
        assert_eq!(a_records(addr, name, tcp).0, ResponseCode::NXDomain, "deleted");
    }

    // A whole zone appears and disappears.
    assert_eq!(query(addr, "example.net.", RecordType::SOA, false).metadata.response_code, ResponseCode::Refused);
    loader(&db, &["zone", "import", zones.join("example.net.zone").to_str().unwrap()]);
    assert_eq!(query(addr, "example.net.", RecordType::SOA, false).answers.len(), 1);
    loader(&db, &["zone", "delete", "example.net."]);
    assert_eq!(query(addr, "example.net.", RecordType::SOA, false).metadata.response_code, ResponseCode::Refused);

    // The serial moved with every record change.
    let soa = query(addr, "example.com.", RecordType::SOA, false);
    match &soa.answers[0].data {
        hickory_proto::rr::RData::SOA(soa) => assert_eq!(soa.serial, 2024010101 + 6),
        other => panic!("{other:?}"),
    }
}
