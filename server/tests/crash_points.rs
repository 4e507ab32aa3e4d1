//! A writer killed at chosen points of a commit while the server answers: before the change
//! log is written and before the commit, the old state stays, exactly; right after the commit,
//! the new one is served; never a mix, never a SERVFAIL, and the next writer is not blocked.
//! The loader aborts itself at a point named by `LMDNS_CRASH_AT` (no unwinding, no cleanup:
//! what SIGKILL does), so each point is hit exactly, not by a timing guess.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::secondary::loader_bin;
use common::*;
use hickory_proto::rr::RecordType;

fn loader(db: &Path, crash_at: Option<&str>, args: &[&str]) -> std::process::ExitStatus {
    let mut cmd = Command::new(loader_bin());
    cmd.arg("--db").arg(db).args(["--map-size", "64M"]).args(args);
    if let Some(point) = crash_at {
        cmd.env("LMDNS_CRASH_AT", point);
    }
    cmd.output().unwrap().status
}

fn rcode_of(addr: std::net::SocketAddr, name: &str, qtype: RecordType) -> Option<String> {
    let q = TestQuery { line: 0, name: name.into(), qtype };
    ask(addr, &q, Form::Udp).ok().and_then(|ex| normalize(&ex.bytes).ok()).map(|n| n.rcode)
}

fn serial(addr: std::net::SocketAddr) -> Option<u32> {
    let q = TestQuery { line: 0, name: "crash.test.".into(), qtype: RecordType::SOA };
    let n = normalize(&ask(addr, &q, Form::Udp).ok()?.bytes).ok()?;
    n.answer.first()?.split_whitespace().nth(6)?.parse().ok()
}

#[test]
fn a_writer_killed_mid_commit_leaves_old_or_new_and_the_server_never_fails() {
    let db = TestDb::empty(64 << 20);
    let zone = db.dir.path().join("crash.test.zone");
    std::fs::write(
        &zone,
        "$ORIGIN crash.test.\n$TTL 60\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.80\n",
    )
    .unwrap();
    assert!(loader(&db.path, None, &["zone", "import", zone.to_str().unwrap()]).success());
    let server = LmdnsCommand::new(&db.path).args(["--listen", "127.0.0.1:0", "--threads", "1"]).attempts(3).start();
    let addr = server.addr();

    // Queries all along: every answer NOERROR (www) — a SERVFAIL or no answer is a failure.
    let done = Arc::new(AtomicBool::new(false));
    let (failures, asked) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let load = {
        let (done, failures, asked) = (done.clone(), failures.clone(), asked.clone());
        std::thread::spawn(move || {
            for _ in 0..1_000_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                asked.fetch_add(1, Ordering::Relaxed);
                if rcode_of(addr, "www.crash.test.", RecordType::A).as_deref() != Some("NoError") {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let add = ["record", "add", "new.crash.test.", "60", "A", "192.0.2.2"];
    for point in ["writer:before-change-log", "writer:finished"] {
        let status = loader(&db.path, Some(point), &add);
        assert!(status.code().is_none(), "{point}: the loader must have aborted there: {status:?}");
        assert_eq!(rcode_of(addr, "new.crash.test.", RecordType::A).as_deref(), Some("NXDomain"), "{point}: nothing of it served");
        assert_eq!(serial(addr), Some(1), "{point}: the old serial");
    }
    // A whole import killed before its commit: the old state too.
    let bigger = db.dir.path().join("import");
    std::fs::create_dir_all(&bigger).unwrap();
    std::fs::write(bigger.join("crash.test.zone"), "$ORIGIN crash.test.\n$TTL 60\n@ SOA ns hostmaster 5 3600 600 86400 60\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.80\nother A 192.0.2.3\n").unwrap();
    let status = loader(&db.path, Some("writer:finished"), &["zone", "import-dir", bigger.to_str().unwrap()]);
    assert!(status.code().is_none(), "{status:?}");
    assert_eq!((serial(addr), rcode_of(addr, "other.crash.test.", RecordType::A).as_deref()), (Some(1), Some("NXDomain")));

    // Killed right after its commit: the change is there, whole.
    let status = loader(&db.path, Some("record:after-commit"), &add);
    assert!(status.code().is_none(), "{status:?}");
    assert_eq!(rcode_of(addr, "new.crash.test.", RecordType::A).as_deref(), Some("NoError"));
    assert_eq!(serial(addr), Some(2));
    // And the next writer is not blocked by the dead ones.
    assert!(loader(&db.path, None, &["record", "add", "after.crash.test.", "60", "A", "192.0.2.4"]).success());
    assert_eq!(serial(addr), Some(3));

    done.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(asked.load(Ordering::Relaxed) > 0);
    assert_eq!(failures.load(Ordering::Relaxed), 0, "queries that did not get NOERROR during the crashes");
}
