//! Zone files as they come from the field (issue 16): no TTL anywhere, AXFR dumps, duplicates
//! that differ only in case, out-of-zone data, RRSIG dates past 2106. Where BIND reads the same
//! file, `named-checkzone -D` is the reference: the records it loads must be the records we load.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use lmdns_loader::zonefile::{parse_file, parse_name, parse_rdata, parse_str, rdata_to_text, tidy_zone, validate_zone, ZoneFile};
use lmdns_testkit::require_tool;

const BIN: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/realworld").join(rel)
}

fn s(path: &Path) -> &str {
    path.to_str().expect("UTF-8 test paths")
}

fn loader(args: &[&str]) -> Output {
    Command::new(BIN).env_remove("LMDNS_DB").env_remove("RUST_LOG").args(args).stdin(Stdio::null()).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parsed and tidied as `zone import` reads it (not strict), and valid.
fn read(path: &Path) -> ZoneFile {
    let mut z = parse_file(path, None).unwrap_or_else(|e| panic!("{e}"));
    tidy_zone(&mut z, false).unwrap_or_else(|e| panic!("{e}"));
    validate_zone(&z).unwrap_or_else(|e| panic!("{e}"));
    z
}

/// `owner TTL TYPE rdata` lines, lower-cased: RFC 2181 §5 compares names without case, and
/// which spelling of a case-only duplicate a server keeps is its own choice.
fn record_set(z: &ZoneFile) -> BTreeSet<String> {
    z.records
        .iter()
        .map(|r| {
            let owner = lmdb_schema::name::wire_to_text(&r.owner);
            let line = format!("{owner} {} {} {}", r.ttl, r.rtype, rdata_to_text(r.rtype, &r.rdata));
            // TXT is case-sensitive data; the fixtures' other RDATA is names and numbers.
            if r.rtype == 16 {
                line
            } else {
                line.to_ascii_lowercase()
            }
        })
        .collect()
}

/// What BIND loads from `path` as zone `origin`: `named-checkzone -D` output read back.
fn bind_loads(origin: &str, path: &Path) -> (ZoneFile, String) {
    let tool = require_tool("named-checkzone", "bind9utils");
    let tmp = tempfile::tempdir().unwrap();
    let dump_path = tmp.path().join("dump");
    let out = Command::new(tool).args(["-D", "-o", s(&dump_path), origin, s(path)]).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "named-checkzone refused {}: {}{}", path.display(), stdout, text(&out.stderr));
    let dump = std::fs::read_to_string(&dump_path).unwrap();
    let origin_wire = parse_name(&format!("{origin}."), &[0]).unwrap();
    let z = parse_str(&dump, Path::new("bind-dump"), &origin_wire).unwrap_or_else(|e| panic!("{e}\n{dump}"));
    (z, text(&out.stderr) + &stdout)
}

#[test]
fn no_ttl_anywhere_takes_the_soa_minimum_as_bind_does() {
    let path = fixture("nottl.test.zone");
    let z = read(&path);
    assert_eq!(z.warnings.len(), 1, "{:?}", z.warnings);
    assert!(z.warnings[0].starts_with(&format!("{}:3: ", path.display())), "{:?}", z.warnings);
    assert!(z.warnings[0].contains("SOA MINIMUM 900"), "{:?}", z.warnings);
    let (bind, log) = bind_loads("nottl.test", &path);
    assert!(log.contains("using SOA MINTTL"), "BIND warns too: {log}");
    assert_eq!(record_set(&z), record_set(&bind));
    // The explicit 120 on `mail` does not become the default for `after`.
    let ttls: Vec<u32> = z.records.iter().map(|r| r.ttl).collect();
    assert_eq!(ttls, [900, 900, 900, 900, 120, 900]);
}

#[test]
fn axfr_dump_with_duplicates_loads_as_bind_loads_it() {
    let path = fixture("axfr.test.zone");
    let z = read(&path);
    let (bind, log) = bind_loads("axfr.test", &path);
    assert!(log.contains("ignoring out-of-zone data"), "{log}");
    let ours = record_set(&z);
    assert_eq!(ours, record_set(&bind));
    // 15 records in the file: the closing SOA, the MX and CNAME duplicates and the
    // out-of-zone A go.
    // Owner-case and exact duplicates of types without names in RDATA are left to the zone
    // build (the import prints 9 records); those with names go here.
    assert_eq!(z.records.len(), 11, "{ours:#?}");
    assert_eq!(z.records.iter().filter(|r| r.rtype == 6).count(), 1);
    assert_eq!(z.records.iter().filter(|r| r.rtype == 5).count(), 1, "two CNAMEs that differ in case are one");
    // The first spelling is kept.
    let mx = z.records.iter().find(|r| r.rtype == 15).unwrap();
    assert_eq!(rdata_to_text(15, &mx.rdata), "10 mail.axfr.test.");
    assert_eq!(z.warnings.len(), 1, "{:?}", z.warnings);
    assert!(z.warnings[0].starts_with(&format!("{}:16: ns.elsewhere.example. A is outside the zone axfr.test.", path.display())));

    // --strict: the out-of-zone record is the error it was.
    let mut strict = parse_file(&path, None).unwrap();
    tidy_zone(&mut strict, true).unwrap();
    let e = validate_zone(&strict).unwrap_err();
    assert_eq!(e.line, 16);
    assert!(e.message.contains("ns.elsewhere.example. is outside the zone axfr.test."), "{e}");
}

#[test]
fn closing_soa_that_differs_is_an_error() {
    let path = fixture("axfr-bad.zone");
    let mut z = parse_file(&path, Some(&parse_name("axfr.test.", &[0]).unwrap())).unwrap();
    let e = tidy_zone(&mut z, false).unwrap_err();
    assert_eq!((e.file.as_path(), e.line), (path.as_path(), 17));
    assert!(e.message.contains("closing SOA"), "{e}");
}

#[test]
fn rrsig_dates_use_serial_arithmetic() {
    let origin = parse_name("example.", &[0]).unwrap();
    // Knot's future.zone has this expiration; 2122-02-22 13:28:04 UTC is 4801210084 s after the
    // epoch, 506242788 modulo 2^32 (RFC 4034 §3.1.5).
    let rdata = parse_rdata(46, "A 13 2 300 21220222132804 20220222132804 1 example. AAAA", &origin).unwrap();
    assert_eq!(u32::from_be_bytes(rdata[8..12].try_into().unwrap()), (4_801_210_084u64 % (1 << 32)) as u32);
    // Presented as the date in 1970..2106 with the same serial value, which reads back the same.
    let shown = rdata_to_text(46, &rdata);
    assert_eq!(parse_rdata(46, &shown, &origin).unwrap(), rdata, "{shown}");
    // Still not a date: month 13.
    assert!(parse_rdata(46, "A 13 2 300 21221322132804 20220222132804 1 example. AAAA", &origin).unwrap_err().contains("bad date"));
}

#[test]
fn import_warns_of_out_of_zone_data_and_strict_refuses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    let path = fixture("axfr.test.zone");
    assert!(loader(&["--db", s(&db), "db", "init"]).status.success());
    let strict = loader(&["--db", s(&db), "zone", "import", "--strict", s(&path)]);
    assert!(!strict.status.success());
    let stderr = text(&strict.stderr);
    assert!(stderr.contains(&format!("{}:16: ", path.display())) && stderr.contains("outside the zone"), "{stderr}");
    let list = loader(&["--db", s(&db), "zone", "list"]);
    assert!(!text(&list.stdout).contains("axfr.test"), "a refused import wrote nothing: {}", text(&list.stdout));

    let out = loader(&["--db", s(&db), "zone", "import", s(&path)]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!("warning: {}:16: ns.elsewhere.example. A is outside the zone", path.display())), "{stderr}");
    assert!(text(&out.stdout).contains("axfr.test.: 9 records"), "{}", text(&out.stdout));

    let check = loader(&["zone", "check", s(&path)]);
    assert!(check.status.success(), "{}", text(&check.stderr));
    assert!(text(&check.stderr).contains("outside the zone"), "{}", text(&check.stderr));
    let check = loader(&["zone", "check", "--strict", s(&path)]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check.stderr));
}

#[test]
fn generate_directives_make_what_bind_makes() {
    let path = fixture("2.0.192.in-addr.arpa.db");
    let z = read(&path);
    let (bind, _) = bind_loads("2.0.192.in-addr.arpa", &path);
    let ours = record_set(&z);
    assert_eq!(ours, record_set(&bind));
    // 2 + 20 + 3 + 3 + 2 + 2 + 2 + 2 + 2 records; each names the directive's line.
    assert_eq!(z.records.len(), 38);
    assert!(z.records.iter().filter(|r| r.rtype == 12).take(20).all(|r| r.line == 6));
    assert!(ours.contains("61.2.0.192.in-addr.arpa. 3600 12 nib-d.3.0.0.isp.test."), "{ours:#?}");
}

#[test]
fn generate_errors_name_the_line() {
    let origin = parse_name("gen.test.", &[0]).unwrap();
    let head = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\n";
    for (line, why) in [
        ("$GENERATE 5-1 $ A 192.0.2.$", "stop is below start"),
        ("$GENERATE 1-10/0 $ A 192.0.2.$", "the step is 0"),
        ("$GENERATE 0-2000000 $ A 192.0.2.1", "more than"),
        ("$GENERATE 1-3 $ A 192.0.2.${0,3,q}", "bad $GENERATE modifier"),
        ("$GENERATE 1-3 $ A 192.0.2.${-5}", "negative"),
        ("$GENERATE 250-260 $ A 192.0.2.$", "bad IPv4 address '192.0.2.256'"),
        ("$GENERATE 1-3 $", "needs a type"),
    ] {
        let e = parse_str(&format!("{head}{line}\n"), Path::new("gen.test.zone"), &origin).unwrap_err();
        assert_eq!(e.line, 4, "{line}: {e}");
        assert!(e.message.contains(why), "{line}: {e}");
    }
}

#[test]
fn import_dir_with_a_pattern_reads_bind_style_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("zones");
    std::fs::create_dir(&dir).unwrap();
    let zone = |name: &str| format!("$TTL 300\n@ SOA ns1.{name}. h.{name}. 1 3600 600 86400 300\n@ NS ns1.{name}.\n");
    std::fs::write(dir.join("db.alpha.test"), zone("alpha.test")).unwrap();
    std::fs::write(dir.join("db.beta.test"), zone("beta.test")).unwrap();
    std::fs::write(dir.join("gamma.test.db"), zone("gamma.test")).unwrap();
    std::fs::write(dir.join("db.alpha.test.jnl"), "not a zone").unwrap();
    let db = tmp.path().join("db");
    let out = loader(&["--db", s(&db), "zone", "import-dir", "--pattern", "db.*", s(&dir)]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("imported 2 zones"), "{stdout}");
    let out = loader(&["--db", s(&db), "zone", "import-dir", "--pattern", "*.db", s(&dir)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = text(&loader(&["--db", s(&db), "zone", "list"]).stdout);
    for apex in ["alpha.test.", "beta.test.", "gamma.test."] {
        assert!(list.contains(apex), "{apex}: {list}");
    }
    // A pattern needs exactly one '*', where the zone name is.
    let out = loader(&["--db", s(&db), "zone", "import-dir", "--pattern", "db.x", s(&dir)]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--pattern"), "{}", text(&out.stderr));
}

#[test]
fn txt_of_backslash_hash_and_text_is_two_strings_as_bind_reads_it() {
    let origin = parse_name("b.test.", &[0]).unwrap();
    let rdata = parse_rdata(16, "\\# text", &origin).unwrap();
    assert_eq!(rdata, b"\x01#\x04text");
    assert_eq!(rdata_to_text(16, &rdata), "\"#\" \"text\"");
    // With a length it is RFC 3597 RDATA as before; TXT can still not be empty.
    assert_eq!(parse_rdata(16, "\\# 5 0474657874", &origin).unwrap(), b"\x04text");
    assert!(parse_rdata(16, "\\# 0", &origin).is_err());
    // Other types keep refusing a `\#` without a length.
    assert!(parse_rdata(1, "\\# x", &origin).unwrap_err().contains("RDATA length"));

    // named-checkzone reads the same file to the same strings.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("b.test.zone");
    std::fs::write(&path, "$TTL 300\n@ SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 A 192.0.2.1\nc TXT \\# text\n").unwrap();
    let (bind, _) = bind_loads("b.test", &path);
    assert_eq!(record_set(&read(&path)), record_set(&bind));
}

#[test]
fn svcparam_keys_with_leading_zeros_read_as_knot_and_nsd_read_them() {
    let origin = parse_name("s.test.", &[0]).unwrap();
    let zeros = parse_rdata(64, "1 . key0001=h2 key00003=443 key065000=x", &origin).unwrap();
    assert_eq!(zeros, parse_rdata(64, "1 . alpn=h2 port=443 key65000=x", &origin).unwrap());
    assert_eq!(rdata_to_text(64, &zeros), "1 . alpn=\"h2\" port=443 key65000=\"x\"");
    assert!(parse_rdata(64, "1 . key65536=x", &origin).is_err());
}

#[test]
fn new_types_import_export_import_and_bind_reads_the_export() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("db");
    for (zone, rel) in [("types.test", "answers/knot/types.test.zone"), ("more.test", "answers/bind/more.test.zone")] {
        let path = fixture(rel);
        let out = loader(&["--db", s(&db), "zone", "import", s(&path)]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let exported = tmp.path().join(format!("{zone}.export"));
        let out = loader(&["--db", s(&db), "zone", "export", zone, "--output", s(&exported)]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let origin = parse_name(&format!("{zone}."), &[0]).unwrap();
        let again = parse_file(&exported, Some(&origin)).unwrap_or_else(|e| panic!("{e}"));
        // Exactly the records of the file (duplicates gone), in wire form.
        let wire = |z: &ZoneFile| -> BTreeSet<(Vec<u8>, u16, Vec<u8>)> {
            z.records.iter().map(|r| (r.owner.to_ascii_lowercase(), r.rtype, r.rdata.clone())).collect()
        };
        let original = read(&path);
        assert_eq!(wire(&again), wire(&original), "{zone}: export does not read back to the same records");
        assert_eq!(again.records.len(), original.records.len());
        // BIND reads our presentation of every type to the same records.
        let (bind, _) = bind_loads(zone, &exported);
        assert_eq!(record_set(&bind), record_set(&original), "{zone}: BIND reads the export differently");
    }
}
