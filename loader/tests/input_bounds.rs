//! What the loader reads is bounded, and errors never echo what is not text: `/dev/zero` as a
//! zone file, a changeset or a range file; `$INCLUDE /dev/zero`; an include fan-out (a file
//! including one file 1,100 times; one including itself at every level); includes outside the
//! include root; inputs over `--max-input`. Each fails fast with the file, the line and the
//! reason, and nothing is written.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

const LOADER: &str = env!("CARGO_BIN_EXE_lmdns-loader");

fn loader(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(LOADER).arg("--db").arg(dir.join("db")).args(["--map-size", "64M"]).args(args).current_dir(dir).output().unwrap()
}

/// Runs a command that must fail within a few seconds; returns its stderr.
fn fails_fast(dir: &std::path::Path, args: &[&str]) -> String {
    let start = Instant::now();
    let out = loader(dir, args);
    assert!(start.elapsed() < Duration::from_secs(20), "{args:?} took {:?}", start.elapsed());
    assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const HEAD: &str = "$ORIGIN bounds.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.1\n";

#[test]
fn endless_or_binary_inputs_fail_fast_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let zero = fails_fast(d, &["zone", "import", "--origin", "bounds.test.", "/dev/zero"]);
    assert!(zero.contains("/dev/zero") && zero.contains("NUL byte"), "{zero}");
    let changeset = fails_fast(d, &["apply", "/dev/zero"]);
    assert!(changeset.contains("NUL byte"), "{changeset}");
    let ranges = fails_fast(d, &["ranges", "import", "--table", "geo", "/dev/zero"]);
    assert!(ranges.contains("NUL byte"), "{ranges}");
    // Included, with the root opened up to reach it: the NUL is still refused.
    std::fs::write(d.join("zero.zone"), format!("{HEAD}$INCLUDE /dev/zero\n")).unwrap();
    let included = fails_fast(d, &["--include-root", "/", "zone", "import", "--origin", "bounds.test.", "zero.zone"]);
    assert!(included.contains("zero.zone:6") && included.contains("NUL byte"), "{included}");
    // A line without an end.
    std::fs::write(d.join("long.zone"), format!("{HEAD}long TXT \"{}\"\n", "x".repeat(2 << 20))).unwrap();
    let long = fails_fast(d, &["zone", "import", "--origin", "bounds.test.", "long.zone"]);
    assert!(long.contains("line 6 is longer than"), "{long}");
    // Over --max-input.
    let big = fails_fast(d, &["--max-input", "100", "zone", "import", "--origin", "bounds.test.", "long.zone"]);
    assert!(big.contains("raise --max-input"), "{big}");
    // Every command failed on a database it created: none is left behind.
    assert!(!d.join("db").exists(), "a database was left after failed imports only");
}

#[test]
fn includes_are_bounded_in_number_and_kept_inside_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let zones = d.join("zones");
    std::fs::create_dir_all(&zones).unwrap();
    // Fan-out: one level including a (comment-only) file 1,100 times.
    std::fs::write(zones.join("empty.inc"), "; nothing\n").unwrap();
    std::fs::write(zones.join("fan.zone"), format!("{HEAD}{}", "$INCLUDE empty.inc\n".repeat(1100))).unwrap();
    let fan = fails_fast(d, &["zone", "import", "--origin", "bounds.test.", "zones/fan.zone"]);
    assert!(fan.contains("more than 1024 $INCLUDEs"), "{fan}");
    // A file including itself at every level stops at the depth bound.
    std::fs::write(zones.join("self.zone"), format!("{HEAD}$INCLUDE self.inc\n")).unwrap();
    std::fs::write(zones.join("self.inc"), "$INCLUDE self.inc\n$INCLUDE self.inc\n").unwrap();
    let deep = fails_fast(d, &["zone", "import", "--origin", "bounds.test.", "zones/self.zone"]);
    assert!(deep.contains("nested deeper"), "{deep}");
    // Outside the zone file's directory: refused, and the file's bytes are not shown.
    std::fs::write(d.join("secret.txt"), "root:x:0:0:TOP SECRET\n").unwrap();
    std::fs::write(zones.join("out.zone"), format!("{HEAD}$INCLUDE ../secret.txt\n")).unwrap();
    let out = fails_fast(d, &["zone", "import", "--origin", "bounds.test.", "zones/out.zone"]);
    assert!(out.contains("outside the include root"), "{out}");
    assert!(!out.contains("TOP SECRET"), "{out}");
    // Inside: taken.
    std::fs::write(zones.join("part.inc"), "www A 192.0.2.80\n").unwrap();
    std::fs::write(zones.join("in.zone"), format!("{HEAD}$INCLUDE part.inc\n")).unwrap();
    let ok = loader(d, &["zone", "import", "--origin", "bounds.test.", "zones/in.zone"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
}
