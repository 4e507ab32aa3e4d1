//! Signing the fixture zones in the test itself, with throw-away keys: `ldns-signzone` for NSEC
//! and NSEC3, BIND's `dnssec-signzone -A` for NSEC3 opt-out (ldns marks its NSEC3 opt-out but
//! still chains insecure delegations; BIND leaves them out, which is what opt-out proofs are
//! about). sub.example.com is signed first and its real DS replaces the fixture's placeholder in
//! example.com, so the chain of trust holds for a validator. Algorithms: example.com ECDSA P-256
//! (13), example.net RSA/SHA-256 (8), sub.example.com Ed25519 (15), the rest 13; a KSK and a ZSK
//! each (zones with several ZSKs are in `loader/tests/signed.rs`: their answers outgrow 1232
//! bytes, where the servers' truncation points differ with their name compression).
//! Signatures are valid from 2026-01-01 to 2037-12-31 (ldns compares 32-bit times).

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use lmdns_testkit::require_tool;

/// How a zone set is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chain {
    Nsec,
    /// Salt `beef`, 1 iteration.
    Nsec3,
    /// NSEC3 without records for insecure delegations (BIND's signer).
    Nsec3OptOut,
}

impl Chain {
    pub const ALL: [Chain; 3] = [Chain::Nsec, Chain::Nsec3, Chain::Nsec3OptOut];
}

/// A signed copy of a zone directory: the zone files (same names as the originals) and each
/// zone's DS, for trust anchors.
pub struct SignedZones {
    pub dir: tempfile::TempDir,
    /// (zone without final dot, DS records in presentation form)
    pub ds: Vec<(String, String)>,
}

impl SignedZones {
    pub fn zones_dir(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    pub fn zone_text(&self, zone: &str) -> String {
        fs::read_to_string(self.zones_dir().join(format!("{zone}.zone"))).unwrap()
    }
}

fn algorithm(zone: &str) -> &'static str {
    match zone {
        "example.net" => "RSASHA256",
        "sub.example.com" => "ED25519",
        _ => "ECDSAP256SHA256",
    }
}

fn run(mut cmd: Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Signs every `*.zone` of `fixtures` with `chain`; child zones (more labels) first, so their
/// DS goes into their parents.
pub fn sign_zones(fixtures: &Path, chain: Chain) -> SignedZones {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let zones_dir = dir.path().join("zones");
    fs::create_dir_all(&keys).unwrap();
    fs::create_dir_all(&zones_dir).unwrap();
    let mut zones: Vec<String> = fs::read_dir(fixtures)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|n| n.strip_suffix(".zone")).map(str::to_string))
        .collect();
    zones.sort_by_key(|z| std::cmp::Reverse(z.matches('.').count()));
    let mut ds: Vec<(String, String)> = Vec::new();
    for zone in &zones {
        let mut text = fs::read_to_string(fixtures.join(format!("{zone}.zone"))).unwrap();
        // A child signed here: its real DS replaces the placeholder at the cut.
        for (child, records) in &ds {
            let Some(label) = child.strip_suffix(&format!(".{zone}")) else { continue };
            if label.contains('.') {
                continue;
            }
            text = text.lines().filter(|l| !(l.starts_with(&format!("{label}\t")) && l.contains("\tDS\t"))).collect::<Vec<_>>().join("\n");
            text.push('\n');
            text.push_str(records);
        }
        let unsigned = keys.join(format!("{zone}.unsigned"));
        let signed = zones_dir.join(format!("{zone}.zone"));
        let records = match chain {
            Chain::Nsec | Chain::Nsec3 => sign_with_ldns(&keys, zone, &text, &unsigned, &signed, chain),
            Chain::Nsec3OptOut => sign_with_bind(&keys, zone, &text, &unsigned, &signed),
        };
        ds.push((zone.clone(), records));
    }
    SignedZones { dir, ds }
}

/// `ldns-signzone`; returns the zone's DS (from its KSK).
fn sign_with_ldns(keys: &Path, zone: &str, text: &str, unsigned: &Path, signed: &Path, chain: Chain) -> String {
    fs::write(unsigned, text).unwrap();
    let keygen = |ksk: bool| {
        let mut cmd = Command::new(require_tool("ldns-keygen", "ldnsutils"));
        cmd.args(["-a", algorithm(zone)]).current_dir(keys);
        if algorithm(zone) == "RSASHA256" {
            cmd.args(["-b", "1024"]);
        }
        if ksk {
            cmd.arg("-k");
        }
        cmd.arg(zone);
        run(cmd).trim().to_string()
    };
    let ksk = keygen(true);
    let zsks = vec![keygen(false)];
    let mut cmd = Command::new(require_tool("ldns-signzone", "ldnsutils"));
    cmd.args(["-i", "20260101000000", "-e", "20371231000000", "-o", zone, "-f"]).arg(signed).current_dir(keys);
    if chain == Chain::Nsec3 {
        cmd.args(["-n", "-s", "beef", "-t", "1"]);
    }
    cmd.arg(unsigned).arg(&ksk).args(&zsks);
    run(cmd);
    // ldns-keygen writes KEY.ds with the KSK's DS (SHA-256).
    fs::read_to_string(keys.join(format!("{ksk}.ds"))).unwrap()
}

/// BIND's `dnssec-signzone -3 beef -A` (opt-out); returns the zone's DS.
fn sign_with_bind(keys: &Path, zone: &str, text: &str, unsigned: &Path, signed: &Path) -> String {
    let keygen = |ksk: bool| {
        let mut cmd = Command::new(require_tool("dnssec-keygen", "bind9-utils"));
        cmd.args(["-q", "-a", algorithm(zone)]).current_dir(keys);
        if algorithm(zone) == "RSASHA256" {
            cmd.args(["-b", "1024"]);
        }
        if ksk {
            cmd.args(["-f", "KSK"]);
        }
        cmd.arg(zone);
        run(cmd).trim().to_string()
    };
    let (ksk, zsk) = (keygen(true), keygen(false));
    let mut text = text.to_string();
    for key in [&ksk, &zsk] {
        text.push_str(&format!("\n$INCLUDE {}/{key}.key\n", keys.display()));
    }
    fs::write(unsigned, text).unwrap();
    let mut cmd = Command::new(require_tool("dnssec-signzone", "bind9-utils"));
    cmd.args(["-q", "-3", "beef", "-H", "1", "-A", "-s", "20260101000000", "-e", "20371231000000", "-K"]).arg(keys);
    cmd.args(["-o", zone, "-f"]).arg(signed).arg(unsigned).current_dir(keys);
    run(cmd);
    let mut cmd = Command::new(require_tool("dnssec-dsfromkey", "bind9-utils"));
    cmd.args(["-2"]).arg(keys.join(format!("{ksk}.key")));
    run(cmd)
}

/// The owner of the first NSEC3 record of a signed zone text (a hash name), if any.
pub fn first_nsec3_owner(text: &str) -> Option<String> {
    text.lines().find(|l| l.split_whitespace().nth(3) == Some("NSEC3")).and_then(|l| l.split_whitespace().next()).map(str::to_string)
}
