//! `lmdns-loader serve` as an operator runs it: it listens where told, logs one line per
//! UPDATE (zone, key, client, result), refuses to start beside another writer of the same
//! database, and stops cleanly on SIGTERM (exit 0, socket removed).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::tsig::{self, Algorithm, Key};

const LOADER: &str = env!("CARGO_BIN_EXE_lmdns-loader");
const SECRET: &str = "3q2+7wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=";

fn loader(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(LOADER).arg("--db").arg(db).args(args).output().unwrap()
}

/// A running `serve`, its stderr lines arriving on a channel; killed on drop.
struct Serve {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Serve {
    fn start(db: &std::path::Path) -> Serve {
        let mut child = Command::new(LOADER)
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Serve { child, lines, log: Vec::new() }
    }

    /// The first log line containing `what`, within a deadline.
    fn wait_for(&mut self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(line) = self.log.iter().find(|l| l.contains(what)) {
                return line.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.log.push(line),
                Err(_) => panic!("no log line with {what:?}; log so far:\n{}", self.log.join("\n")),
            }
        }
    }

    fn listen(&mut self) -> SocketAddr {
        let line = self.wait_for("lmdns-loader serve started");
        let listen = line.split_whitespace().find_map(|w| w.strip_prefix("listen=")).unwrap();
        listen.trim_matches('"').split(',').next().unwrap().parse().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_logs_each_update_refuses_a_second_writer_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let zone = dir.path().join("s.test.zone");
    std::fs::write(&zone, "$ORIGIN s.test.\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\n").unwrap();
    assert!(loader(&db, &["zone", "import", zone.to_str().unwrap()]).status.success());
    assert!(loader(&db, &["key", "add", "k.", "hmac-sha256", SECRET]).status.success());
    assert!(loader(&db, &["zone", "update-policy", "s.test.", "grant k. zonesub ANY"]).status.success());

    let mut serve = Serve::start(&db);
    let addr = serve.listen();
    assert!(db.join("writer.sock").exists(), "the local socket is in the database directory");

    // A second writer on the same database is refused, naming why.
    let second = loader(&db, &["serve"]);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already running"), "{}", String::from_utf8_lossy(&second.stderr));

    // An UPDATE on --listen: committed, answered, logged once with zone, key and result.
    let mut m = MessageBuilder::new(0x51, 5 << 11);
    m.question(&lmdns_testkit::wire("s.test."), 6, 1).unwrap();
    m.record(Section::Authority, &lmdns_testkit::wire("www.s.test."), 1, 1, 60, &[192, 0, 2, 1]).unwrap();
    let mut message = m.finish();
    let key = Key::new("k.", Algorithm::HmacSha256, data_encoding::BASE64.decode(SECRET.as_bytes()).unwrap()).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    tsig::sign_request(&mut message, &key, now, 300);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    socket.send_to(&message, addr).unwrap();
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).unwrap();
    assert_eq!(buf[3] & 0x0F, 0, "NOERROR");
    assert!(n > 12);
    let line = serve.wait_for("UPDATE");
    for field in ["zone=\"s.test.\"", "key=\"k.\"", "result=\"NOERROR\"", "serial=2", "client=127.0.0.1:"] {
        assert!(line.contains(field), "{field} in {line}");
    }

    // SIGTERM: a clean stop.
    // SAFETY: kill(2) on our own child.
    assert_eq!(unsafe { libc::kill(serve.child.id() as i32, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = serve.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    serve.wait_for("lmdns-loader serve stopped");
    assert!(!db.join("writer.sock").exists(), "the socket is removed");
}
