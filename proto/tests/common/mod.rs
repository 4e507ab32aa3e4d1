//! Helpers of the interop tests: finding the reference tools, running them with deadlines, and
//! building the messages the tests answer with.

#![allow(dead_code)] // each test binary uses a different subset

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::name;
use lmdns_proto::tsig::{Algorithm, Key};
use lmdns_proto::wire::{class, flags, rtype};

/// The secret every test key uses (32 bytes, as `tsig-keygen` makes for hmac-sha256).
pub const SECRET_B64: &str = "2ZDY1b9oyXhT6wYzU0LBo+2uQ0a7k4mqe0Hq0gbm3bY=";
/// A different secret under the same key name, for BADSIG.
pub const WRONG_SECRET_B64: &str = "bm90IHRoZSBzZWNyZXQgb2YgdGhpcyBrZXkgISEhISE=";

/// Every wait of these tests ends by this long at most.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn secret(b64: &str) -> Vec<u8> {
    data_encoding::BASE64.decode(b64.as_bytes()).expect("test secret is base64")
}

pub fn key(name: &str, algorithm: Algorithm, b64: &str) -> Key {
    Key::new(name, algorithm, secret(b64)).expect("test key name")
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The tool's path, or a test failure saying which package to install: a test that silently
/// passes without its tool would hide that nothing was checked.
pub fn require(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("`{tool}` is not installed: these interop tests need it. Install it with `apt-get install {package}`."))
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
pub struct Running {
    pub child: Child,
    pub what: String,
}

impl Running {
    pub fn spawn(what: &str, mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Running { child, what: what.to_string() }
    }

    /// Starts `cmd` with its output going to the file `log`, for a server whose output nobody
    /// reads while it runs (a full pipe would stall it).
    pub fn spawn_logged(what: &str, mut cmd: Command, log: &std::path::Path) -> Running {
        let out = std::fs::File::create(log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Running { child, what: what.to_string() }
    }

    /// Whether the process has ended.
    pub fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits for the process to exit (bounded) and returns its status and stdout + stderr.
    pub fn wait_output(mut self, within: Duration) -> (ExitStatus, String) {
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if Instant::now() > deadline {
                panic!("{} did not exit within {within:?}", self.what);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut out = String::new();
        if let Some(mut s) = self.child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = self.child.stderr.take() {
            let _ = s.read_to_string(&mut out);
        }
        (status, out)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

pub fn n(text: &str) -> Vec<u8> {
    name::from_text(text).expect("test name")
}

pub fn soa_rdata(serial: u32) -> Vec<u8> {
    let mut r = n("ns1.example.com.");
    r.extend_from_slice(&n("hostmaster.example.com."));
    for v in [serial, 3600, 900, 604800, 300] {
        r.extend_from_slice(&v.to_be_bytes());
    }
    r
}

/// An authoritative answer to `request` (whose question it repeats) holding `records`.
pub fn answer(request: &[u8], records: &[(Vec<u8>, u16, Vec<u8>)]) -> Vec<u8> {
    let req = lmdns_proto::wire::parse(request).expect("request parses");
    let rd = req.header.flags & flags::RD;
    let mut b = MessageBuilder::new(req.header.id, flags::QR | flags::AA | rd);
    for q in &req.questions {
        b.question(&q.name, q.qtype, q.qclass).expect("question");
    }
    for (owner, t, rdata) in records {
        b.record(Section::Answer, owner, *t, class::IN, 300, rdata).expect("record fits");
    }
    b.finish()
}

pub fn soa_answer(request: &[u8], serial: u32) -> Vec<u8> {
    answer(request, &[(n("example.com."), rtype::SOA, soa_rdata(serial))])
}

/// `dig`/`kdig -y` argument for a key.
pub fn y_arg(algorithm: Algorithm, key_name: &str, b64: &str) -> String {
    format!("{}:{key_name}:{b64}", algorithm.name_text())
}
