//! DNS UPDATE end to end with the clients automation runs: `nsupdate -y` and `knsupdate`
//! scripts, certbot's rfc2136 plugin (its own client, an hmac-sha512 key), and what
//! external-dns's rfc2136 provider writes (dnspython). UPDATEs go to lmdns-server, which hands
//! them to the writer (`lmdns-loader serve`, run in process here) over the database's local
//! socket; the server answers the new data on the next query, and a Knot secondary gets the
//! change by IXFR. Refusals (wrong key, expired signature, a name outside the grant) write
//! nothing; with no writer the server answers REFUSED; concurrent clients each get their own
//! result.

mod common;

use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::peers::{self, Peer, SecondaryZone};
use common::{require_tool, LmdnsCommand, LmdnsProcess, TestDb};
use lmdns_loader::serve::ServeArgs;
use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::tsig::{self, Algorithm, Key};
use lmdns_proto::wire;

const ZONE: &str = "dyn.test.";
const KEY: &str = "update-key.";
const SECRET: &str = "3q2+7wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=";
const ACME_KEY: &str = "acme-key.";
const ACME_SECRET: &str = "YWNtZS1zZWNyZXQtYWNtZS1zZWNyZXQtYWNtZS1zZWNyZXQtYWNtZS1zZWNyZXQtYWNtZS1zZWNyZXQtYWNtZS1zZWNyZXQtYWNtZQ==";

fn loader(db: &Path, args: &[&str]) {
    let mut all = vec!["--db", db.to_str().unwrap()];
    all.extend_from_slice(args);
    assert_eq!(lmdns_loader::cli::run_args(all.clone()).unwrap(), std::process::ExitCode::SUCCESS, "{all:?}");
}

/// The writer, in process, stopped (and joined) on drop.
struct Writer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Writer {
    fn start(db: &Path) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = std::sync::mpsc::channel();
        let (db, flag) = (db.to_path_buf(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let store = lmdb_schema::Store::open(&db, &lmdb_schema::OpenOptions { map_size: 256 << 20, read_only: false }).unwrap();
            let args = ServeArgs { max_connections: 16, ..ServeArgs::default() };
            lmdns_loader::serve::run_until(&store, &db, args, flag, |_| tx.send(()).unwrap()).unwrap();
        });
        rx.recv_timeout(Duration::from_secs(10)).expect("the writer started");
        Writer { stop, thread: Some(thread) }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A zone, the keys, a policy in the spirit of what each client needs, a writer and a server.
fn setup(extra_server_args: &[&str]) -> (TestDb, Writer, LmdnsProcess) {
    let db = TestDb::empty(256 << 20);
    let file = db.dir.path().join("dyn.test.zone");
    std::fs::write(
        &file,
        "$ORIGIN dyn.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\nwww A 192.0.2.1\n",
    )
    .unwrap();
    loader(&db.path, &["zone", "import", file.to_str().unwrap()]);
    loader(&db.path, &["key", "add", KEY, "hmac-sha256", SECRET]);
    loader(&db.path, &["key", "add", ACME_KEY, "hmac-sha512", ACME_SECRET]);
    loader(
        &db.path,
        &[
            "zone",
            "update-policy",
            ZONE,
            "grant update-key. zonesub ANY",
            "grant acme-key. subdomain _acme-challenge.dyn.test. TXT",
            "grant 127.0.0.2 name open.dyn.test. A",
        ],
    );
    let writer = Writer::start(&db.path);
    let mut args = vec!["--listen", "127.0.0.1:0", "--threads", "1", "--allow-transfer", "127.0.0.0/8"];
    args.extend_from_slice(extra_server_args);
    let server = LmdnsCommand::new(&db.path).args(args).start();
    (db, writer, server)
}

fn serial(db: &Path) -> u32 {
    let store = lmdb_schema::Store::open(db, &lmdb_schema::OpenOptions { map_size: 256 << 20, read_only: false }).unwrap();
    let txn = store.read_txn().unwrap();
    let meta = store.zones.get(&txn, &lmdb_schema::name::key_from_dotted(ZONE).unwrap()).unwrap().unwrap();
    lmdb_schema::zone::ZoneMeta::decode(meta).unwrap().soa.serial
}

/// The answer records' RDATA for `name` `rtype`, asked of `server` over UDP.
fn ask(server: SocketAddr, name: &str, rtype: u16) -> (u8, Vec<Vec<u8>>) {
    let mut m = MessageBuilder::new(0x77, 0);
    m.question(&common::wire(name), rtype, 1).unwrap();
    let reply = common::exchange_udp(server, &m.finish()).unwrap();
    let parsed = wire::parse(&reply).unwrap();
    (parsed.header.rcode(), parsed.answers.into_iter().map(|r| r.rdata).collect())
}

/// Runs a tool with `script` on its stdin; returns (success, stdout + stderr).
fn run_script(tool: &Path, args: &[&str], script: &str) -> (bool, String) {
    let mut child = Command::new(tool).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn nsupdate(server: SocketAddr, key: &str, extra: &[&str], commands: &str) -> (bool, String) {
    let tool = require_tool("nsupdate", "bind9-dnsutils");
    let mut args = vec!["-y", key];
    args.extend_from_slice(extra);
    run_script(&tool, &args, &format!("server {} {}\nzone {ZONE}\n{commands}send\n", server.ip(), server.port()))
}

fn key_arg() -> String {
    format!("hmac-sha256:{KEY}:{SECRET}")
}

#[test]
fn nsupdate_adds_replaces_deletes_and_fails_prerequisites_over_udp_and_tcp() {
    let (db, _writer, server) = setup(&[]);
    let key = key_arg();
    let (ok, out) =
        nsupdate(server.addr(), &key, &[], "update add new.dyn.test. 60 A 192.0.2.70\nupdate add new.dyn.test. 60 TXT \"hello\"\n");
    assert!(ok, "{out}");
    // The next query sees it.
    assert_eq!(ask(server.addr(), "new.dyn.test.", 1).1, vec![vec![192, 0, 2, 70]]);
    assert_eq!(serial(&db.path), 2);
    // Replace: delete the RRset and add, in one UPDATE, over TCP (-v).
    let (ok, out) = nsupdate(server.addr(), &key, &["-v"], "update delete new.dyn.test. A\nupdate add new.dyn.test. 60 A 192.0.2.71\n");
    assert!(ok, "{out}");
    assert_eq!(ask(server.addr(), "new.dyn.test.", 1).1, vec![vec![192, 0, 2, 71]]);
    // A prerequisite that fails: nothing changes, nsupdate reports the rcode.
    let (ok, out) = nsupdate(server.addr(), &key, &[], "prereq nxdomain new.dyn.test.\nupdate add new.dyn.test. 60 A 192.0.2.72\n");
    assert!(!ok && out.contains("YXDOMAIN"), "{out}");
    let (ok, out) = nsupdate(server.addr(), &key, &[], "prereq yxrrset new.dyn.test. MX\nupdate delete new.dyn.test.\n");
    assert!(!ok && out.contains("NXRRSET"), "{out}");
    assert_eq!(serial(&db.path), 3);
    // Delete.
    let (ok, out) = nsupdate(server.addr(), &key, &[], "update delete new.dyn.test.\n");
    assert!(ok, "{out}");
    assert_eq!(ask(server.addr(), "new.dyn.test.", 1).0, 3, "NXDOMAIN once deleted");
}

#[test]
fn knsupdate_scripts_work_too() {
    let (_db, _writer, server) = setup(&[]);
    let tool = require_tool("knsupdate", "knot-dnsutils");
    let script =
        format!("server {} {}\nzone {ZONE}\nadd k.dyn.test. 60 AAAA 2001:db8::7\nsend\nanswer\n", server.addr().ip(), server.addr().port());
    let (ok, out) = run_script(&tool, &["-y", &key_arg()], &script);
    assert!(ok && out.contains("NOERROR"), "{out}");
    assert_eq!(ask(server.addr(), "k.dyn.test.", 28).1.len(), 1);
    let script = format!(
        "server {} {}\nzone {ZONE}\nprereq nxrrset k.dyn.test. AAAA\nadd k.dyn.test. 60 AAAA 2001:db8::8\nsend\nanswer\n",
        server.addr().ip(),
        server.addr().port()
    );
    let (_, out) = run_script(&tool, &["-y", &key_arg()], &script);
    assert!(out.contains("YXRRSET"), "{out}");
}

/// A Python with certbot-dns-rfc2136 and dnspython (./test.sh makes one in target/pyenv).
fn python() -> PathBuf {
    let venv = common::workspace_root().join("target/pyenv/bin/python3");
    let python = std::env::var_os("LMDNS_TEST_PYTHON").map(PathBuf::from).unwrap_or(venv);
    assert!(
        python.is_file(),
        "{} is missing: these tests need certbot-dns-rfc2136 and dnspython (./test.sh installs them: python3 -m venv target/pyenv && target/pyenv/bin/pip install certbot-dns-rfc2136 dnspython)",
        python.display()
    );
    python
}

fn client_script(name: &str) -> PathBuf {
    common::workspace_root().join("server/tests/clients").join(name)
}

#[test]
fn certbot_rfc2136_adds_and_removes_its_acme_challenge() {
    let (db, _writer, server) = setup(&[]);
    let (addr, port) = (server.addr().ip().to_string(), server.addr().port().to_string());
    let run = |action: &str, name: &str| {
        let out = Command::new(python())
            .arg(client_script("certbot_rfc2136.py"))
            .args([addr.as_str(), port.as_str(), ACME_KEY, ACME_SECRET, action, name, "challenge-token-1"])
            .output()
            .unwrap();
        (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    };
    // The challenge for dyn.test. itself (its key's grant: that name and below, TXT).
    let (ok, out) = run("add", "_acme-challenge.dyn.test.");
    assert!(ok, "{out}");
    assert_eq!(ask(server.addr(), "_acme-challenge.dyn.test.", 16).1, vec![b"\x11challenge-token-1".to_vec()]);
    let (ok, out) = run("del", "_acme-challenge.dyn.test.");
    assert!(ok, "{out}");
    assert_eq!(ask(server.addr(), "_acme-challenge.dyn.test.", 16).0, 3);
    // Its key may touch the challenge names only.
    let before = serial(&db.path);
    let (ok, out) = run("add", "www.dyn.test.");
    assert!(!ok && out.contains("REFUSED"), "{out}");
    assert_eq!(serial(&db.path), before, "refused: nothing written");
}

#[test]
fn external_dns_writes_its_record_and_ownership_txt_together() {
    let (_db, _writer, server) = setup(&[]);
    let (addr, port) = (server.addr().ip().to_string(), server.addr().port().to_string());
    let run = |action: &str| {
        let out = Command::new(python())
            .arg(client_script("external_dns.py"))
            .args([addr.as_str(), port.as_str(), ZONE, KEY, SECRET, action, "nginx.dyn.test.", "192.0.2.80"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string() + &String::from_utf8_lossy(&out.stderr)
    };
    assert_eq!(run("create"), "NOERROR");
    assert_eq!(ask(server.addr(), "nginx.dyn.test.", 1).1, vec![vec![192, 0, 2, 80]]);
    let txt = ask(server.addr(), "a-nginx.dyn.test.", 16).1;
    assert!(txt.len() == 1 && String::from_utf8_lossy(&txt[0]).contains("heritage=external-dns"), "{txt:?}");
    assert_eq!(run("delete"), "NOERROR");
    assert_eq!(ask(server.addr(), "nginx.dyn.test.", 1).0, 3);
    assert_eq!(ask(server.addr(), "a-nginx.dyn.test.", 16).0, 3);
}

#[test]
fn wrong_keys_expired_signatures_and_names_outside_the_grant_write_nothing() {
    let (db, _writer, server) = setup(&[]);
    let wrong = format!("hmac-sha256:{KEY}:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
    let (ok, out) = nsupdate(server.addr(), &wrong, &[], "update add x.dyn.test. 60 A 192.0.2.9\n");
    assert!(!ok && (out.contains("NOTAUTH") || out.contains("tsig")), "{out}");
    // Signed an hour ago.
    let mut m = MessageBuilder::new(9, 5 << 11);
    m.question(&common::wire(ZONE), 6, 1).unwrap();
    m.record(Section::Authority, &common::wire("x.dyn.test."), 1, 1, 60, &[192, 0, 2, 9]).unwrap();
    let mut late = m.finish();
    let key = Key::new(KEY, Algorithm::HmacSha256, data_encoding::BASE64.decode(SECRET.as_bytes()).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tsig::sign_request(&mut late, &key, now - 3600, tsig::DEFAULT_FUDGE);
    let reply = common::exchange_udp(server.addr(), &late).unwrap();
    assert_eq!((reply[3] & 0x0F, tsig::find(&reply).unwrap().unwrap().error), (9, tsig::BADTIME));
    // Unsigned from an address the policy names, for a name it does not.
    let unsigned = |name: &str| {
        let mut m = MessageBuilder::new(10, 5 << 11);
        m.question(&common::wire(ZONE), 6, 1).unwrap();
        m.record(Section::Authority, &common::wire(name), 1, 1, 60, &[192, 0, 2, 10]).unwrap();
        let socket = UdpSocket::bind("127.0.0.2:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        socket.send_to(&m.finish(), server.addr()).unwrap();
        let mut buf = [0u8; 512];
        socket.recv(&mut buf).unwrap();
        buf[3] & 0x0F
    };
    assert_eq!(unsigned("x.dyn.test."), 5, "REFUSED outside the grant");
    assert_eq!(serial(&db.path), 1, "nothing was written");
    assert_eq!(unsigned("open.dyn.test."), 0, "the network may change open.dyn.test. A");
    assert_eq!(serial(&db.path), 2);
}

#[test]
fn without_a_writer_the_server_refuses_updates() {
    let (_db, writer, server) = setup(&[]);
    drop(writer);
    let (ok, out) = nsupdate(server.addr(), &key_arg(), &[], "update add x.dyn.test. 60 A 192.0.2.9\n");
    assert!(!ok && out.contains("REFUSED"), "{out}");
}

#[test]
fn concurrent_clients_each_get_their_own_result_and_serial() {
    let (db, _writer, server) = setup(&[]);
    let key = Key::new(KEY, Algorithm::HmacSha256, data_encoding::BASE64.decode(SECRET.as_bytes()).unwrap()).unwrap();
    let addr = server.addr();
    let threads: Vec<_> = (0..16u8)
        .map(|client| {
            let key = key.clone();
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let mut codes = Vec::new();
                for i in 0..10u8 {
                    let mut m = MessageBuilder::new(u16::from(client) << 8 | u16::from(i), 5 << 11);
                    m.question(&common::wire(ZONE), 6, 1).unwrap();
                    let name = format!("c{client}-{i}.dyn.test.");
                    if client == 0 {
                        // One client's UPDATEs all fail their prerequisite, inside the same groups.
                        m.record(Section::Answer, &common::wire("www.dyn.test."), 255, 254, 0, &[]).unwrap();
                    }
                    m.record(Section::Authority, &common::wire(&name), 1, 1, 60, &[10, 0, client, i]).unwrap();
                    let mut message = m.finish();
                    tsig::sign_request(
                        &mut message,
                        &key,
                        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
                        300,
                    );
                    socket.send_to(&message, addr).unwrap();
                    let mut buf = [0u8; 1024];
                    socket.recv(&mut buf).unwrap();
                    codes.push(buf[3] & 0x0F);
                }
                codes
            })
        })
        .collect();
    let results: Vec<Vec<u8>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(results[0].iter().all(|&c| c == 6), "client 0's prerequisite fails every time: {:?}", results[0]);
    for (client, codes) in results.iter().enumerate().skip(1) {
        assert!(codes.iter().all(|&c| c == 0), "client {client}: {codes:?}");
    }
    // Every success is its own change: 150 serial steps.
    assert_eq!(serial(&db.path), 151);
    for client in 1..16u8 {
        assert_eq!(ask(addr, &format!("c{client}-9.dyn.test."), 1).1, vec![vec![10, 0, client, 9]]);
    }
    assert_eq!(ask(addr, "c0-0.dyn.test.", 1).0, 3, "nothing of the failed ones");
}

#[test]
fn a_knot_secondary_gets_updates_by_ixfr() {
    let (db, _writer, server) = setup(&[]);
    let secondary = peers::start_secondary(Peer::Knot, &[SecondaryZone::new(ZONE, server.addr(), None)]);
    secondary.wait_serial(ZONE, 1, Duration::from_secs(20)).unwrap();
    loader(&db.path, &["zone", "notify", ZONE, &secondary.addr().to_string()]);
    let (ok, out) = nsupdate(server.addr(), &key_arg(), &[], "update add seen.dyn.test. 60 A 192.0.2.99\n");
    assert!(ok, "{out}");
    secondary.wait_serial(ZONE, 2, Duration::from_secs(20)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while secondary.incremental_transfers(ZONE) == 0 {
        assert!(Instant::now() < deadline, "Knot logged no IXFR:\n{}", secondary.log_tail(20));
        std::thread::sleep(Duration::from_millis(50));
    }
    let reply = wire::parse(&secondary.query("seen.dyn.test.", 1)).unwrap();
    assert_eq!(reply.answers[0].rdata, vec![192, 0, 2, 99]);
}
