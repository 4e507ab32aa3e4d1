//! The numbers of zone transfers out (issue "transfers out"), against real peers on loopback:
//!
//! * `notify`: loader commit → Knot and BIND secondaries of lmdns serving the new serial
//!   (NOTIFY, then IXFR), p50/p95 over `--changes` changes.
//! * `axfr`: one AXFR of a `--records`-record zone from lmdns, Knot and NSD as primaries, same
//!   zone, same client: seconds, messages, and the primary's RSS before and at its peak
//!   (total and anonymous, i.e. not the file-backed pages of lmdns's LMDB map).
//! * `catalog`: a `--zones`-zone catalog consumed by Knot, from lmdns (generated catalog) and
//!   from Knot itself (`catalog-role: generate`): seconds until Knot serves every member.
//! * `load`: lmdns's UDP worker CPU per query (dnsperf, one worker pinned to core 0, dnsperf on
//!   core 1, transfers kept off the worker's core by `--pin`) idle and while AXFRs of the big
//!   zone run back to back.
//!
//! Usage: `replication [notify|axfr|catalog|load|all] [--changes N] [--interval-ms MS]
//! [--records N] [--zones N] [--seconds S]`. Needs release builds of lmdns-server and lmdns-loader (bench/replication.sh
//! builds them), knot, bind9, nsd and dnsperf. Prints markdown tables. Everything runs on
//! 127.0.0.1 and stops by itself: every wait has a deadline, every server is stopped on exit.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lmdns_bench::procs::*;
use lmdns_proto::build::MessageBuilder;
use lmdns_proto::wire;
use lmdns_testkit::peers::{self, Peer, SecondaryZone};
use lmdns_testkit::{free_port, require_tool};

struct Options {
    changes: usize,
    records: usize,
    zones: usize,
    seconds: u64,
    /// Pause between changes in `notify`.
    interval_ms: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut what = "all".to_string();
    let mut o = Options { changes: 50, records: 1_000_000, zones: 10_000, seconds: 10, interval_ms: 1000 };
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{} needs a number", args[i]));
        match args[i].as_str() {
            "--changes" => o.changes = value(),
            "--records" => o.records = value(),
            "--zones" => o.zones = value(),
            "--seconds" => o.seconds = value() as u64,
            "--interval-ms" => o.interval_ms = value() as u64,
            other if !other.starts_with("--") => {
                what = other.to_string();
                i += 1;
                continue;
            }
            other => panic!("unknown flag {other}"),
        }
        i += 2;
    }
    let all = what == "all";
    if all || what == "notify" {
        notify(&o);
    }
    if all || what == "axfr" {
        axfr(&o);
    }
    if all || what == "catalog" {
        catalog(&o);
    }
    if all || what == "load" {
        load(&o);
    }
}

// ---------------------------------------------------------------------------------------------
// lmdns processes
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// notify: commit → secondary serving
// ---------------------------------------------------------------------------------------------

fn notify(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let zone = "bench.test.";
    let file = dir.path().join("bench.test.zone");
    std::fs::write(&file, zone_text(zone, 1, 10)).unwrap();
    loader(&db, &["zone", "import", file.to_str().unwrap()]);
    let server = Lmdns::start(&db, &["--threads", "1", "--allow-transfer", "127.0.0.0/8"], None);
    let secondaries: Vec<(Peer, peers::PeerServer)> = [Peer::Knot, Peer::Bind]
        .into_iter()
        .map(|p| (p, peers::start_secondary(p, &[SecondaryZone::new(zone, server.addr, None)])))
        .collect();
    let mut targets = vec!["zone".to_string(), "notify".into(), zone.into()];
    for (peer, s) in &secondaries {
        s.wait_serial(zone, 1, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{peer}: {e}"));
        targets.push(s.addr().to_string());
    }
    loader(&db, &targets.iter().map(String::as_str).collect::<Vec<_>>());
    let mut delays: Vec<Vec<f64>> = vec![Vec::new(); secondaries.len()];
    let mut loader_ms = Vec::new();
    for i in 0..o.changes {
        std::thread::sleep(Duration::from_millis(o.interval_ms));
        let took = loader(&db, &["record", "add", &format!("c{i}.bench.test."), "300", "A", "192.0.2.9"]);
        let committed = Instant::now();
        loader_ms.push(took.as_secs_f64() * 1e3);
        let serial = 2 + i as u32;
        let mut pending: BTreeSet<usize> = (0..secondaries.len()).collect();
        while !pending.is_empty() {
            assert!(committed.elapsed() < Duration::from_secs(30), "change {i} not seen by {pending:?}");
            for s in pending.clone() {
                if secondaries[s].1.serial(zone).is_some_and(|v| peers::serial_ge(v, serial)) {
                    delays[s].push(committed.elapsed().as_secs_f64() * 1e3);
                    pending.remove(&s);
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    println!("\n### Loader commit → secondary serving the new serial ({} changes {} ms apart, NOTIFY + IXFR)\n", o.changes, o.interval_ms);
    println!("| secondary | p50 ms | p95 ms | max ms |\n|---|---|---|---|");
    for ((peer, _), d) in secondaries.iter().zip(&mut delays) {
        let max = d.iter().cloned().fold(0.0, f64::max);
        println!("| {peer} | {:.1} | {:.1} | {:.1} |", percentile(d, 0.5), percentile(d, 0.95), max);
    }
    println!("\n(`lmdns-loader record add`, process start to exit: p50 {:.1} ms)", percentile(&mut loader_ms, 0.5));
    if std::env::var_os("SHOW_LOGS").is_some() {
        for (peer, s) in &secondaries {
            eprintln!("--- {peer}\n{}", s.log_tail(60));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// axfr: one big zone out of each primary
// ---------------------------------------------------------------------------------------------

/// Pulls one AXFR over TCP; returns (records, messages, bytes). With `expect`, records are
/// counted from the message headers only and the pull ends at that count (a client that
/// does no work of its own, for timing the server); without, every record is parsed and the
/// pull ends at the second SOA.
fn pull_axfr(addr: SocketAddr, zone: &str, expect: Option<u64>) -> (u64, u64, u64) {
    let mut m = MessageBuilder::new(0xA1, 0);
    m.question(&lmdns_testkit::wire(zone), 252, 1).unwrap();
    let query = m.finish();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&query);
    s.write_all(&framed).unwrap();
    let (mut records, mut messages, mut bytes, mut soas) = (0u64, 0u64, 0u64, 0);
    let mut len = [0u8; 2];
    let mut msg = Vec::new();
    let mut rec = wire::Record::default();
    loop {
        match expect {
            Some(n) if records >= n => break,
            None if soas >= 2 => break,
            _ => {}
        }
        s.read_exact(&mut len).unwrap();
        msg.resize(u16::from_be_bytes(len) as usize, 0);
        s.read_exact(&mut msg).unwrap();
        messages += 1;
        bytes += msg.len() as u64 + 2;
        if expect.is_some() {
            records += u64::from(u16::from_be_bytes([msg[6], msg[7]]));
            continue;
        }
        let mut reader = wire::Reader::new(&msg).unwrap();
        let mut q = wire::Question::default();
        while reader.next_question(&mut q).unwrap() {}
        while let Some(section) = reader.next_record(&mut rec).unwrap() {
            if section == wire::Section::Answer {
                records += 1;
                soas += usize::from(rec.rtype == 6);
            }
        }
    }
    (records, messages, bytes)
}

/// NSD as the primary of one zone (the test kit runs NSD only as a secondary).
fn nsd_primary(dir: &Path, zone: &str, text: &str) -> (Child, SocketAddr) {
    let nsd = require_tool("nsd", "nsd");
    let port = free_port();
    std::fs::write(dir.join("zone"), text).unwrap();
    let conf = format!(
        "server:\n  ip-address: 127.0.0.1@{port}\n  zonesdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  zonelistfile: \"{d}/zone.list\"\n  database: \"\"\n  username: \"\"\n  chroot: \"\"\n  rrl-ratelimit: 0\n  server-count: 1\n  verbosity: 1\nremote-control:\n  control-enable: no\nzone:\n  name: \"{zone}\"\n  zonefile: \"{d}/zone\"\n  provide-xfr: 127.0.0.0/8 NOKEY\n",
        d = dir.display()
    );
    std::fs::write(dir.join("nsd.conf"), conf).unwrap();
    let child =
        Command::new(nsd).arg("-d").arg("-c").arg(dir.join("nsd.conf")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Checks one AXFR from `addr` whole, then times another while sampling the server's memory
/// and CPU (the whole process tree of `pid`).
fn measured_axfr(name: &str, pid: u32, addr: SocketAddr, zone: &str) {
    let (records, _, _) = pull_axfr(addr, zone, None);
    let pids = tree(pid);
    let before = rss(&pids);
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(Mutex::new(before));
    let sampler = {
        let (stop, peak, pids) = (stop.clone(), peak.clone(), pids.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let now = rss(&pids);
                let mut p = peak.lock().unwrap();
                *p = (p.0.max(now.0), p.1.max(now.1));
                drop(p);
                std::thread::sleep(Duration::from_millis(2));
            }
        })
    };
    // Five timed pulls: the median time, the mean server CPU.
    const RUNS: usize = 5;
    let cpu_before = cpu_ticks(&pids);
    let mut times = Vec::new();
    let (mut counted, mut messages, mut bytes) = (0, 0, 0);
    for _ in 0..RUNS {
        let started = Instant::now();
        (counted, messages, bytes) = pull_axfr(addr, zone, Some(records));
        times.push(started.elapsed().as_secs_f64());
    }
    let secs = percentile(&mut times, 0.5);
    let cpu = (cpu_ticks(&pids) - cpu_before) as f64 / 100.0 / RUNS as f64;
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert_eq!(counted, records);
    let peak = *peak.lock().unwrap();
    println!(
        "| {name} | {secs:.3} | {cpu:.2} | {records} | {messages} | {:.1} | {} → {} | {} → {} (+{}) |",
        bytes as f64 / 1e6,
        before.0 / 1024,
        peak.0 / 1024,
        before.1 / 1024,
        peak.1 / 1024,
        (peak.1.saturating_sub(before.1)) / 1024
    );
}

fn axfr(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let zone = "big.test.";
    let names = o.records.saturating_sub(3) / 2;
    let text = zone_text(zone, 1, names);
    let file = dir.path().join("big.test.zone");
    std::fs::write(&file, &text).unwrap();
    let db = dir.path().join("db");
    let import = loader(&db, &["zone", "import", file.to_str().unwrap()]);
    println!("\n### AXFR of a {}-record zone, one client, loopback\n", names * 2 + 3);
    println!("(lmdns-loader zone import: {:.1} s)\n", import.as_secs_f64());
    println!("| primary | seconds (median of 5) | server CPU s (mean) | records | messages | MB | RSS MiB before → peak | anonymous RSS MiB before → peak |\n|---|---|---|---|---|---|---|---|");
    {
        let server = Lmdns::start(&db, &["--threads", "1", "--allow-transfer", "127.0.0.0/8"], None);
        wait_soa(server.addr, zone, Duration::from_secs(30));
        measured_axfr("lmdns", server.pid(), server.addr, zone);
    }
    {
        let knot = peers::start_primary(Peer::Knot, &[(zone.to_string(), text.clone())], None, &[], true);
        measured_axfr("Knot 3.2", knot.pid() as u32, knot.addr(), zone);
    }
    {
        let nsd_dir = tempfile::tempdir().unwrap();
        let (mut child, addr) = nsd_primary(nsd_dir.path(), zone, &text);
        wait_soa(addr, zone, Duration::from_secs(300));
        measured_axfr("NSD 4.6", child.id(), addr, zone);
        let _ = child.kill();
        let _ = child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// catalog: Knot provisioning a big catalog
// ---------------------------------------------------------------------------------------------

fn catalog(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let zdir = dir.path().join("zones");
    std::fs::create_dir_all(&zdir).unwrap();
    for i in 0..o.zones {
        std::fs::write(zdir.join(format!("{}zone", member(i))), zone_text(&member(i), 1, 1)).unwrap();
    }
    let db = dir.path().join("db");
    loader(&db, &["zone", "import-dir", zdir.to_str().unwrap()]);
    println!("\n### A {}-zone catalog consumed by Knot 3.2: start until every member is served\n", o.zones);
    println!("| catalog primary | seconds |\n|---|---|");
    {
        let server = Lmdns::start(&db, &["--threads", "1", "--allow-transfer", "127.0.0.0/8", "--catalog", "catalog.invalid."], None);
        let started = Instant::now();
        let consumer = peers::start_catalog_consumer(Peer::Knot, "catalog.invalid.", server.addr, None);
        println!("| lmdns (generated catalog) | {:.1} |", until_all_served(consumer.addr(), o.zones, started));
    }
    {
        let kdir = tempfile::tempdir().unwrap();
        let (mut knot, addr) = knot_catalog_primary(kdir.path(), o.zones);
        wait_soa(addr, &member(o.zones - 1), Duration::from_secs(300));
        let started = Instant::now();
        let consumer = peers::start_catalog_consumer(Peer::Knot, "catalog.invalid.", addr, None);
        println!("| Knot 3.2 (catalog-role: generate) | {:.1} |", until_all_served(consumer.addr(), o.zones, started));
        let _ = knot.kill();
        let _ = knot.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// load: query CPU while transfers run
// ---------------------------------------------------------------------------------------------

fn load(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let zone = "big.test.";
    let names = o.records.saturating_sub(3) / 2;
    let file = dir.path().join("big.test.zone");
    std::fs::write(&file, zone_text(zone, 1, names)).unwrap();
    let db = dir.path().join("db");
    loader(&db, &["zone", "import", file.to_str().unwrap()]);
    let queries = dir.path().join("queries");
    let mut q = String::new();
    for i in (0..names).step_by((names / 10_000).max(1)) {
        q.push_str(&format!("h{i}.{zone} A\n"));
    }
    std::fs::write(&queries, q).unwrap();
    // One worker pinned to core 0; with --pin the transfer threads keep to the other core.
    let server = Lmdns::start(&db, &["--threads", "1", "--pin", "--allow-transfer", "127.0.0.0/8"], None);
    wait_soa(server.addr, zone, Duration::from_secs(30));
    let tck = 100.0; // USER_HZ on Linux
    let run = |label: &str, transfers: bool| {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let puller = transfers.then(|| {
            let (stop, done, addr) = (stop.clone(), done.clone(), server.addr);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    pull_axfr(addr, zone, None);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        });
        let before = thread_ticks(server.pid(), "udp-0");
        let answered = dnsperf(server.addr, &queries, o.seconds);
        let ticks = thread_ticks(server.pid(), "udp-0") - before;
        stop.store(true, Ordering::Relaxed);
        if let Some(p) = puller {
            p.join().unwrap();
        }
        let us = ticks as f64 / tck * 1e6 / answered as f64;
        println!("| {label} | {answered} | {us:.2} | {} |", done.load(Ordering::Relaxed));
        us
    };
    println!("\n### lmdns UDP worker CPU per query, idle and during AXFRs of the {}-record zone\n", names * 2 + 3);
    println!("| run | answered | worker µs/query | AXFRs completed |\n|---|---|---|---|");
    let idle = run("idle", false);
    let busy = run("AXFRs back to back", true);
    println!("\nratio: {:.3}", busy / idle);
}
