//! Zones signed elsewhere, through the loader: signed in the test with `ldns-signzone` and
//! throw-away keys (NSEC, NSEC3, NSEC3 opt-out; algorithms 8, 13 and 15, several keys), imported,
//! exported back record for record, the NSEC3 index kept in step with edits; the rules for edits
//! of signed zones (warnings naming stale RRsets, variants that need their own RRSIGs) and
//! RFC 9276's iteration limit, each refusal leaving the database as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lmdb_schema::{name, OpenOptions, Store};
use lmdns_testkit::require_tool;

const LOADER: &str = env!("CARGO_BIN_EXE_lmdns-loader");

/// A zone with the shapes proofs are made of: a wildcard, an empty non-terminal, a CNAME, a
/// signed and an unsigned delegation with glue.
const ZONE: &str = "$ORIGIN signed.test.
$TTL 3600
@	SOA	ns1 hostmaster 2026120201 7200 3600 1209600 300
	NS	ns1
	MX	10 mail
ns1	A	192.0.2.1
mail	A	192.0.2.25
www	A	192.0.2.80
	AAAA	2001:db8::80
*.wild	TXT	\"wildcard\"
c.b.ent	A	192.0.2.90
alias	CNAME	www
secure	NS	ns.secure
	DS	12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.secure	A	192.0.2.53
insecure	NS	ns.insecure
ns.insecure	A	192.0.2.54
";

struct Signer {
    dir: tempfile::TempDir,
    keys: Vec<String>,
}

impl Signer {
    /// Keys for `signed.test.`: a KSK and ZSK of `algorithm`, plus a second ZSK when `two_zsks`.
    fn new(algorithm: &str, two_zsks: bool) -> Signer {
        let keygen = require_tool("ldns-keygen", "ldnsutils");
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        let mut runs: Vec<Vec<&str>> = vec![vec!["-a", algorithm, "-k"], vec!["-a", algorithm]];
        if two_zsks {
            runs.push(vec!["-a", algorithm]);
        }
        for mut args in runs {
            if algorithm == "RSASHA256" {
                args.extend(["-b", "1024"]);
            }
            args.push("signed.test");
            let out = Command::new(&keygen).args(&args).current_dir(dir.path()).output().unwrap();
            assert!(out.status.success(), "ldns-keygen {args:?}: {}", String::from_utf8_lossy(&out.stderr));
            keys.push(String::from_utf8(out.stdout).unwrap().trim().to_string());
        }
        Signer { dir, keys }
    }

    /// Signs `text` with `options` (e.g. `-n -p` for NSEC3 opt-out); returns the signed file.
    fn sign(&self, text: &str, options: &[&str]) -> PathBuf {
        let unsigned = self.dir.path().join("signed.test.zone");
        std::fs::write(&unsigned, text).unwrap();
        let signed = self.dir.path().join(format!("signed{}.zone", options.join("").replace(['-', ' '], "")));
        let mut cmd = Command::new(require_tool("ldns-signzone", "ldnsutils"));
        // Fixed validity (expiry before 2038: ldns compares 32-bit times).
        cmd.args(["-i", "20260101000000", "-e", "20371231000000", "-o", "signed.test", "-f"]).arg(&signed);
        cmd.args(options).arg(&unsigned).args(&self.keys).current_dir(self.dir.path());
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "ldns-signzone {options:?}: {}", String::from_utf8_lossy(&out.stderr));
        signed
    }
}

struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    fn new() -> Db {
        Db { dir: tempfile::tempdir().unwrap() }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(LOADER).arg("--db").arg(self.path()).args(["--map-size", "64M"]).args(args).output().unwrap()
    }

    /// Runs a command that must succeed; returns its stderr (warnings).
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        stderr
    }

    /// Runs a command that must fail; returns its stderr.
    fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn export(&self) -> String {
        let out = self.run(&["zone", "export", "signed.test."]);
        assert!(out.status.success(), "export: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Entries of the NSEC3 index for `signed.test.`.
    fn nsec3_entries(&self) -> usize {
        let store = Store::open(&self.path(), &OpenOptions { map_size: 64 << 20, read_only: true }).unwrap();
        let txn = store.read_txn().unwrap();
        let apex = name::key_from_dotted("signed.test.").unwrap();
        let mut prefix = vec![apex.len() as u8];
        prefix.extend_from_slice(&apex);
        store.nsec3.prefix_iter(&txn, &prefix).unwrap().count()
    }
}

/// A zone file's records in canonical form, sorted (`ldns-read-zone -c -z`), to compare files.
fn canonical(path: &Path) -> String {
    let out = Command::new(require_tool("ldns-read-zone", "ldnsutils")).args(["-c", "-z"]).arg(path).output().unwrap();
    assert!(out.status.success(), "ldns-read-zone {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn verify(path: &Path) {
    let out = Command::new(require_tool("ldns-verify-zone", "ldnsutils")).arg(path).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "ldns-verify-zone {}: {text}", path.display());
}

fn count(text: &str, rtype: &str) -> usize {
    text.lines().filter(|l| l.split_whitespace().nth(3) == Some(rtype)).count()
}

#[test]
fn signed_zones_import_and_export_record_for_record() {
    let cases: [(&str, bool, &[&str]); 4] = [
        ("ECDSAP256SHA256", true, &[]),
        ("RSASHA256", false, &["-n", "-s", "beef", "-t", "3"]),
        ("ED25519", false, &["-n", "-p"]),
        ("ECDSAP256SHA256", false, &["-n", "-t", "0"]),
    ];
    for (algorithm, two_zsks, options) in cases {
        let signer = Signer::new(algorithm, two_zsks);
        let signed = signer.sign(ZONE, options);
        let db = Db::new();
        db.ok(&["zone", "import", "--origin", "signed.test.", signed.to_str().unwrap()]);
        let exported = signer.dir.path().join("exported.zone");
        std::fs::write(&exported, db.export()).unwrap();
        let (given, got) = (canonical(&signed), canonical(&exported));
        assert_eq!(given, got, "{algorithm} {options:?}: the export differs from the signed file");
        verify(&exported);
        // One index entry per NSEC3 owner; an opt-out chain leaves the insecure delegation out.
        let nsec3 = count(&given, "NSEC3");
        assert_eq!(db.nsec3_entries(), nsec3, "{algorithm} {options:?}: NSEC3 index");
        if options.contains(&"-n") {
            assert!(nsec3 > 0);
        }
        if options.contains(&"-p") {
            // ldns marks every NSEC3 opt-out (it still chains the insecure delegation).
            let flags: Vec<&str> = given
                .lines()
                .filter(|l| l.split_whitespace().nth(3) == Some("NSEC3"))
                .filter_map(|l| l.split_whitespace().nth(5))
                .collect();
            assert!(flags.iter().all(|f| *f == "1"), "opt-out flags: {flags:?}");
        }
    }
}

#[test]
fn edits_of_signed_zones_warn_and_variants_need_their_own_signatures() {
    let signer = Signer::new("ECDSAP256SHA256", false);
    let signed = signer.sign(ZONE, &["-n"]);
    let db = Db::new();
    db.ok(&["zone", "import", "--origin", "signed.test.", signed.to_str().unwrap()]);
    let entries = db.nsec3_entries();

    // An edit is taken, with a warning naming each RRset it left without a matching RRSIG.
    let warning = db.ok(&["record", "add", "www.signed.test.", "300", "A", "192.0.2.81"]);
    assert!(warning.contains("zone signed.test. is signed"), "{warning}");
    assert!(warning.contains("www.signed.test. A"), "{warning}");
    assert!(warning.contains("signed.test. SOA"), "{warning}");
    // Glue and a delegation's NS are never signed: no warning for them.
    let glue = db.ok(&["record", "add", "ns.insecure.signed.test.", "300", "A", "192.0.2.55"]);
    assert!(!glue.contains("ns.insecure"), "{glue}");

    // A geo variant without its own RRSIG is refused, naming the way to give one.
    let before = db.export();
    let refused = db.fail(&["record", "add", "--when", "country=DE", "www.signed.test.", "60", "A", "198.51.100.1"]);
    assert!(refused.contains("www.signed.test. A variant for country=DE"), "{refused}");
    assert!(refused.contains("record add --when country=DE"), "{refused}");
    assert_eq!(db.export(), before, "a refused variant changed the zone");
    // With its RRSIG given first, the variant is taken.
    let rrsig = "A 13 3 60 20371231000000 20260101000000 12345 signed.test. AAAA";
    db.ok(&["record", "add", "--when", "country=DE", "www.signed.test.", "60", "RRSIG", rrsig]);
    db.ok(&["record", "add", "--when", "country=DE", "www.signed.test.", "60", "A", "198.51.100.1"]);
    // ... and its RRSIG cannot then be taken away from it.
    let orphaned = db.fail(&["record", "delete", "--when", "country=DE", "www.signed.test.", "RRSIG"]);
    assert!(orphaned.contains("has no RRSIG of its own"), "{orphaned}");

    // Deleting an NSEC3 owner's record takes it out of the index; nothing else touched it.
    assert_eq!(db.nsec3_entries(), entries);
    let exported = db.export();
    let owner = exported.lines().find(|l| l.split_whitespace().nth(3) == Some("NSEC3")).unwrap().split_whitespace().next().unwrap();
    db.ok(&["record", "delete", owner, "NSEC3"]);
    assert_eq!(db.nsec3_entries(), entries - 1);
}

#[test]
fn nsec3_with_more_than_100_iterations_is_refused_and_nothing_is_written() {
    let signer = Signer::new("ECDSAP256SHA256", false);
    let db = Db::new();
    db.ok(&["zone", "import", "--origin", "signed.test.", signer.sign(ZONE, &["-n", "-t", "5"]).to_str().unwrap()]);
    let before = db.export();
    let bumped = ZONE.replace("2026120201", "2026120202");
    let refused = db.fail(&["zone", "import", "--origin", "signed.test.", signer.sign(&bumped, &["-n", "-t", "101"]).to_str().unwrap()]);
    assert!(refused.contains("101 NSEC3 iterations"), "{refused}");
    assert!(refused.contains("RFC 9276"), "{refused}");
    assert_eq!(db.export(), before, "a refused import changed the zone");
}
