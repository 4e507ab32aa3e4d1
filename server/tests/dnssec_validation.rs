//! A real validating resolver on lmdns's signed answers: Unbound, with the test zones' DS as
//! trust anchors and stub zones pointing at lmdns on loopback, must mark every positive,
//! NXDOMAIN, NODATA, wildcard, empty non-terminal, CNAME, DNAME and signed-delegation answer
//! secure (AD), for NSEC and NSEC3 zones, and must refuse (SERVFAIL) an answer whose RRSIG was
//! tampered with. And what an AXFR from lmdns returns verifies with `ldns-verify-zone`.

mod common;
#[path = "common/signing.rs"]
mod signing;

use std::fs;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use hickory_proto::rr::RecordType;
use lmdns_testkit::{free_port, require_tool};
use signing::{sign_zones, Chain, SignedZones};

/// How long Unbound may take to answer its first question.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Unbound in the foreground, ended on drop.
struct Unbound {
    addr: SocketAddr,
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Unbound {
    fn start(lmdns: SocketAddr, signed: &SignedZones, anchored: &[&str]) -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let port = free_port();
        let mut conf = format!(
            "server:\n  interface: 127.0.0.1\n  port: {port}\n  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  \
             pidfile: \"{dir}/unbound.pid\"\n  use-syslog: no\n  logfile: \"{dir}/unbound.log\"\n  verbosity: 1\n  val-log-level: 2\n  \
             num-threads: 1\n  so-reuseport: no\n  do-not-query-localhost: no\n  qname-minimisation: no\n  \
             module-config: \"validator iterator\"\n  access-control: 127.0.0.0/8 allow\n",
            dir = d.display()
        );
        for (zone, ds) in &signed.ds {
            if anchored.contains(&zone.as_str()) {
                for line in ds.lines().filter(|l| !l.trim().is_empty()) {
                    conf.push_str(&format!("  trust-anchor: \"{}\"\n", line.trim()));
                }
            }
        }
        for (zone, _) in &signed.ds {
            conf.push_str(&format!("stub-zone:\n  name: \"{zone}\"\n  stub-addr: {}@{}\n", lmdns.ip(), lmdns.port()));
        }
        conf.push_str("remote-control:\n  control-enable: no\n");
        let conf_path = d.join("unbound.conf");
        fs::write(&conf_path, conf).unwrap();
        let check = Command::new(require_tool("unbound-checkconf", "unbound")).arg(&conf_path).output().unwrap();
        assert!(check.status.success(), "unbound-checkconf: {}", String::from_utf8_lossy(&check.stdout));
        let child = Command::new(require_tool("unbound", "unbound"))
            .args(["-d", "-c"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let unbound = Unbound { addr: ([127, 0, 0, 1], port).into(), child, log: d.join("unbound.log"), _dir: dir };
        let deadline = Instant::now() + START_DEADLINE;
        while unbound.resolve("example.com.", RecordType::SOA).is_none() {
            assert!(Instant::now() < deadline, "unbound did not answer within {START_DEADLINE:?}:\n{}", unbound.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        unbound
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// (RCODE, AD, answer count) of a recursive query with DO set.
    fn resolve(&self, name: &str, qtype: RecordType) -> Option<(u8, bool, u16)> {
        let q = TestQuery { line: 0, name: name.into(), qtype };
        let mut query = build_query(&q, Form::Edns, 0x5151);
        let mut at = 12;
        while query[at] != 0 {
            at += 1 + query[at] as usize;
        }
        query[at + 5 + 7] |= 0x80; // the OPT TTL's flags byte: DO
        let bytes = exchange_udp(self.addr, &query).ok()?;
        Some((bytes[3] & 0x0F, bytes[3] & 0x20 != 0, u16::from_be_bytes([bytes[6], bytes[7]])))
    }
}

/// Imports `signed` and starts lmdns-server on it, transfers allowed from loopback.
fn start_lmdns_on(signed: &SignedZones) -> LmdnsProcess {
    let db = TestDb::empty(64 << 20);
    let args: Vec<std::ffi::OsString> =
        vec!["--db".into(), db.path.clone().into(), "zone".into(), "import-dir".into(), signed.zones_dir().into()];
    let code = lmdns_loader::cli::run_args(args).expect("import");
    assert_eq!(code, std::process::ExitCode::SUCCESS);
    LmdnsCommand::owning(db).args(["--listen", "127.0.0.1:0", "--threads", "1", "--allow-transfer", "127.0.0.0/8"]).attempts(3).start()
}

const NOERROR: u8 = 0;
const NXDOMAIN: u8 = 3;
const SERVFAIL: u8 = 2;

/// (name, type, RCODE, answers > 0, proven by a covering NSEC3) — each must come back secure,
/// except, under opt-out, those whose proof rests on a covering NSEC3: an opt-out NSEC3 covering
/// the next closer name leaves the answer insecure (RFC 5155 §9.2), validated but without AD.
const SECURE: &[(&str, RecordType, u8, bool, bool)] = &[
    ("www.example.com.", RecordType::A, NOERROR, true, false),
    ("example.com.", RecordType::MX, NOERROR, true, false),
    ("nope.example.com.", RecordType::A, NXDOMAIN, false, true),
    ("a.b.c.nope.example.com.", RecordType::TXT, NXDOMAIN, false, true),
    ("www.example.com.", RecordType::MX, NOERROR, false, false),
    ("anything.wild.example.com.", RecordType::A, NOERROR, true, true),
    ("anything.wild.example.com.", RecordType::AAAA, NOERROR, false, true),
    ("host.wild.example.com.", RecordType::AAAA, NOERROR, false, false),
    ("a.ent.example.com.", RecordType::A, NOERROR, false, false),
    ("z.x.entw.example.com.", RecordType::A, NOERROR, true, true),
    ("c1.example.com.", RecordType::A, NOERROR, true, false),
    ("z.wcname.example.com.", RecordType::A, NOERROR, true, true),
    // DNAME into example.net, where x.example.net does not exist.
    ("x.dname.example.com.", RecordType::A, NXDOMAIN, true, true),
    ("dname.example.com.", RecordType::A, NOERROR, true, false),
    ("deleg.example.com.", RecordType::DS, NOERROR, true, false),
    ("www.sub.example.com.", RecordType::A, NOERROR, true, false),
    ("nope.sub.example.com.", RecordType::A, NXDOMAIN, false, true),
    ("www.example.net.", RecordType::A, NOERROR, true, false),
    ("nope.example.net.", RecordType::A, NXDOMAIN, false, true),
];

fn check_secure(unbound: &Unbound, chain: Chain, cases: &[(&str, RecordType, u8, bool, bool)], problems: &mut Vec<String>) {
    for &(name, qtype, rcode, answered, covered) in cases {
        let want_ad = !(covered && chain == Chain::Nsec3OptOut);
        match unbound.resolve(name, qtype) {
            Some((got, ad, answers)) if got == rcode && ad == want_ad && (answers > 0) == answered => {}
            other => problems.push(format!(
                "{chain:?} {name} {qtype}: want rcode {rcode} AD={want_ad} answers={answered}, got (rcode, AD, answers) {other:?}"
            )),
        }
    }
}

#[test]
fn unbound_validates_every_kind_of_answer() {
    let mut problems = Vec::new();
    for chain in Chain::ALL {
        let signed = sign_zones(&zones_dir(), chain);
        let lmdns = start_lmdns_on(&signed);
        // sub.example.com has no anchor: it is trusted through example.com's DS for it.
        let unbound = Unbound::start(lmdns.addr(), &signed, &["example.com", "example.net", "10.in-addr.arpa", "empty.as112.arpa"]);
        check_secure(&unbound, chain, SECURE, &mut problems);
        // No DS at the unsigned delegation: proven (secure NODATA) by NSEC or NSEC3; under
        // opt-out the proof makes the delegation insecure (RFC 5155 §6: no AD).
        let want_ad = chain != Chain::Nsec3OptOut;
        match unbound.resolve("unsigned.example.com.", RecordType::DS) {
            Some((NOERROR, ad, 0)) if ad == want_ad => {}
            other => problems.push(format!("{chain:?} unsigned.example.com DS: want NODATA with AD={want_ad}, got {other:?}")),
        }
        if !problems.is_empty() {
            println!("=== unbound log ({chain:?}):\n{}", unbound.log_text());
        }
    }
    assert!(problems.is_empty(), "answers Unbound did not validate:\n  {}", problems.join("\n  "));
}

/// Changes one character of the signature of `owner`'s RRSIG over `covered` in a zone text.
fn tamper(text: &str, owner: &str, covered: &str) -> String {
    let mut done = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if done || f.first() != Some(&owner) || f.get(3) != Some(&"RRSIG") || f.get(4) != Some(&covered) {
                return line.to_string();
            }
            done = true;
            let signature = f.last().unwrap();
            let mut chars: Vec<char> = signature.chars().collect();
            let i = chars.len() / 2;
            chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
            line.replace(signature, &chars.into_iter().collect::<String>())
        })
        .collect();
    assert!(done, "no RRSIG {covered} at {owner}");
    lines.join("\n") + "\n"
}

#[test]
fn a_tampered_signature_is_refused_and_the_rest_stays_secure() {
    let signed = sign_zones(&zones_dir(), Chain::Nsec3);
    let path = signed.zones_dir().join("example.net.zone");
    fs::write(&path, tamper(&signed.zone_text("example.net"), "www.example.net.", "A")).unwrap();
    let lmdns = start_lmdns_on(&signed);
    let unbound = Unbound::start(lmdns.addr(), &signed, &["example.com", "example.net", "10.in-addr.arpa", "empty.as112.arpa"]);
    assert_eq!(unbound.resolve("www.example.net.", RecordType::A).map(|r| r.0), Some(SERVFAIL), "{}", unbound.log_text());
    let mut problems = Vec::new();
    let others = [("nope.example.net.", RecordType::A, NXDOMAIN, false, true), ("www.example.com.", RecordType::A, NOERROR, true, false)];
    check_secure(&unbound, Chain::Nsec3, &others, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn an_axfr_from_lmdns_verifies() {
    for chain in [Chain::Nsec, Chain::Nsec3] {
        let signed = sign_zones(&zones_dir(), chain);
        let lmdns = start_lmdns_on(&signed);
        let out = Command::new(require_tool("dig", "bind9-dnsutils"))
            .args(["+nocmd", "+nostats", "+nocomments", "+noquestion", "+time=5", "+tries=1", "-p"])
            .arg(lmdns.addr().port().to_string())
            .args(["@127.0.0.1", "example.com.", "AXFR"])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let mut records: Vec<&str> = text.lines().filter(|l| !l.is_empty() && !l.starts_with(';')).collect();
        assert!(records.len() > 100, "{chain:?}: AXFR gave {} records: {text}", records.len());
        // The transfer ends with the SOA again; a zone file has it once.
        records.pop();
        let file = signed.dir.path().join("axfr.zone");
        fs::write(&file, records.join("\n") + "\n").unwrap();
        let verify = Command::new(require_tool("ldns-verify-zone", "ldnsutils")).arg(&file).output().unwrap();
        let report = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
        assert!(verify.status.success(), "{chain:?}: ldns-verify-zone on the AXFR: {report}");
    }
}
