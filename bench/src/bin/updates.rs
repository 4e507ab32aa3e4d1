//! The numbers of updates at any zone size (issue "updates"), on loopback:
//!
//! * `latency`: one change until lmdns-server answers it, p50/p95, for `lmdns-loader record
//!   add` (process start to visible) and for a signed UPDATE from a resident client (send to
//!   visible), on a 20-record zone and on a `--names`-name zone.
//! * `rate`: separate changes committed per second: UPDATEs from one resident client (each
//!   waiting for its reply), from 16 concurrent clients, and `record add` processes back to
//!   back.
//! * `load`: server CPU per query (dnsperf, one worker on core 0, dnsperf on core 1) idle and
//!   while UPDATEs arrive at 100 per second; SERVFAIL and lost queries counted.
//! * `rpz`: a `--names`-name RPZ (RFC 8626 style) served by lmdns and secondaried by a BIND 9.18
//!   resolver (`response-policy`): a name added by UPDATE is blocked at the resolver after how
//!   long; the resolver's and lmdns's memory.
//!
//! Usage: `updates [latency|rate|load|rpz|all] [--names N] [--changes N] [--seconds S]`. Needs
//! release builds (bench/updates.sh builds them), dnsperf and bind9. Prints markdown tables.
//! Everything runs on 127.0.0.1 and stops by itself.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lmdns_proto::build::{MessageBuilder, Section};
use lmdns_proto::tsig::{self, Algorithm, Key};
use lmdns_proto::wire;
use lmdns_testkit::{free_port, require_tool, wire as name_wire};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

struct Options {
    names: usize,
    changes: usize,
    seconds: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut what = "all".to_string();
    let mut o = Options { names: 1_000_000, changes: 200, seconds: 10 };
    let mut i = 0;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse::<usize>().ok()).unwrap_or_else(|| panic!("{} needs a number", args[i]));
        match args[i].as_str() {
            "--names" => o.names = value(),
            "--changes" => o.changes = value(),
            "--seconds" => o.seconds = value() as u64,
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
    if all || what == "latency" {
        latency(&o);
    }
    if all || what == "rate" {
        rate(&o);
    }
    if all || what == "load" {
        load(&o);
    }
    if all || what == "rpz" {
        rpz(&o);
    }
}

fn bin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release").join(name);
    assert!(path.is_file(), "{} missing: build it with `cargo build --release -p {name}`", path.display());
    path
}

fn loader(db: &Path, args: &[&str]) {
    let out = Command::new(bin("lmdns-loader")).arg("--db").arg(db).args(args).stdout(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "lmdns-loader {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A process stopped on drop, its stderr drained.
struct Proc {
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child; SIGTERM first so the writer removes its socket.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `cmd` and waits for a stderr line containing `ready`; returns the process and that line.
fn start(mut cmd: Command, ready: &str) -> (Proc, String) {
    let mut child = cmd.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = loop {
        let line = lines.next().unwrap_or_else(|| panic!("{cmd:?} exited before {ready:?}")).unwrap();
        if line.contains(ready) {
            break line;
        }
    };
    // SHOW_LOGS=1 passes the rest of each process's log through, for diagnosis.
    let show = std::env::var_os("SHOW_LOGS").is_some();
    std::thread::spawn(move || {
        for line in lines.by_ref().map_while(Result::ok) {
            if show {
                eprintln!("{line}");
            }
        }
    });
    (Proc { child }, line)
}

/// The writer and the server on `db` (server: one worker; `cpu`: pinned there).
fn lmdns(db: &Path, cpu: Option<usize>, extra: &[&str]) -> (Proc, Proc, SocketAddr) {
    let mut w = Command::new(bin("lmdns-loader"));
    w.arg("--db").arg(db).arg("serve").env("RUST_LOG", "warn,lmdns_loader::serve=info");
    let (writer, _) = start(w, "serve started");
    let mut s = match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(bin("lmdns-server"));
            c
        }
        None => Command::new(bin("lmdns-server")),
    };
    s.arg("--db")
        .arg(db)
        .args(["--listen", "127.0.0.1:0", "--threads", "1", "--allow-root", "--allow-transfer", "127.0.0.0/8"])
        .args(extra);
    s.env("RUST_LOG", "info");
    let (server, line) = start(s, "lmdns-server started");
    let listen = line.split_whitespace().find_map(|w| w.strip_prefix("listen=")).unwrap();
    let addr = listen.split(',').next().unwrap().parse().unwrap();
    (writer, server, addr)
}

/// A zone `apex` with `names` names (A each), a key and an update policy, imported.
fn zone(dir: &Path, apex: &str, names: usize) -> PathBuf {
    let db = dir.join(format!("db-{names}"));
    let file = dir.join(format!("{apex}zone"));
    let mut text = format!("$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster 1 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\n");
    for i in 0..names.saturating_sub(3) {
        text.push_str(&format!("n{i} A 10.{}.{}.{}\n", (i >> 16) & 255, (i >> 8) & 255, i & 255));
    }
    std::fs::write(&file, text).unwrap();
    loader(&db, &["zone", "import", file.to_str().unwrap()]);
    loader(&db, &["key", "add", "bench-key.", "hmac-sha256", &data_encoding::BASE64.encode(SECRET)]);
    loader(&db, &["zone", "update-policy", apex, "grant bench-key. zonesub ANY"]);
    db
}

fn key() -> Key {
    Key::new("bench-key.", Algorithm::HmacSha256, SECRET.to_vec()).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A signed UPDATE adding `owner` A `addr`.
fn update(apex: &str, owner: &str, addr: [u8; 4], id: u16) -> Vec<u8> {
    let mut m = MessageBuilder::new(id, 5 << 11);
    m.question(&name_wire(apex), 6, 1).unwrap();
    m.record(Section::Authority, &name_wire(owner), 1, 1, 60, &addr).unwrap();
    let mut message = m.finish();
    tsig::sign_request(&mut message, &key(), now(), 300);
    message
}

/// Sends and waits for the reply; returns its rcode.
fn exchange(socket: &UdpSocket, to: SocketAddr, message: &[u8]) -> u8 {
    socket.send_to(message, to).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let (n, _) = socket.recv_from(&mut buf).expect("a reply within the timeout");
        if n >= 12 && buf[..2] == message[..2] {
            return buf[3] & 0x0F;
        }
    }
}

/// Whether `server` answers `owner` A with `addr`.
fn visible(socket: &UdpSocket, server: SocketAddr, owner: &str, addr: [u8; 4]) -> bool {
    // RD set: the resolver applies its RPZ to recursive queries; lmdns ignores the bit.
    let mut m = MessageBuilder::new(0xBEEF, 0x0100);
    m.question(&name_wire(owner), 1, 1).unwrap();
    socket.send_to(&m.finish(), server).unwrap();
    let mut buf = [0u8; 1024];
    match socket.recv(&mut buf) {
        Ok(n) => wire::parse(&buf[..n]).is_ok_and(|r| r.answers.iter().any(|a| a.rdata == addr)),
        Err(_) => false,
    }
}

fn wait_visible(socket: &UdpSocket, server: SocketAddr, owner: &str, addr: [u8; 4], started: Instant) -> f64 {
    while !visible(socket, server, owner, addr) {
        assert!(started.elapsed() < Duration::from_secs(10), "{owner} never became visible");
    }
    started.elapsed().as_secs_f64() * 1e3
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn latency(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    println!("\n### One change until lmdns-server answers it ({} changes each)\n", o.changes);
    println!("| zone | path | p50 ms | p95 ms |\n|---|---|---|---|");
    for names in [20, o.names] {
        let apex = "lat.test.";
        let db = zone(dir.path(), apex, names);
        let (_writer, _server, addr) = lmdns(&db, None, &[]);
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut cli = Vec::new();
        for i in 0..o.changes.min(50) {
            let owner = format!("cli{i}.{apex}");
            let started = Instant::now();
            loader(&db, &["record", "add", &owner, "60", "A", "192.0.2.44"]);
            cli.push(wait_visible(&socket, addr, &owner, [192, 0, 2, 44], started));
        }
        let mut upd = Vec::new();
        for i in 0..o.changes {
            let owner = format!("upd{i}.{apex}");
            let started = Instant::now();
            assert_eq!(exchange(&socket, addr, &update(apex, &owner, [192, 0, 2, 45], i as u16)), 0);
            upd.push(wait_visible(&socket, addr, &owner, [192, 0, 2, 45], started));
        }
        println!("| {names} names | `record add` (process) | {:.2} | {:.2} |", percentile(&mut cli, 0.5), percentile(&mut cli, 0.95));
        println!("| {names} names | UPDATE, resident client | {:.2} | {:.2} |", percentile(&mut upd, 0.5), percentile(&mut upd, 0.95));
    }
}

fn rate(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let apex = "rate.test.";
    let db = zone(dir.path(), apex, 20);
    let (_writer, _server, addr) = lmdns(&db, None, &[]);
    println!("\n### Separate changes committed per second (20-record zone)\n");
    println!("| client | changes | seconds | changes/s |\n|---|---|---|---|");
    let run = |clients: usize, per_client: usize, tag: &str| {
        let started = Instant::now();
        let threads: Vec<_> = (0..clients)
            .map(|c| {
                let tag = tag.to_string();
                std::thread::spawn(move || {
                    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                    socket.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    for i in 0..per_client {
                        let owner = format!("{tag}{c}-{i}.{apex}");
                        let code = exchange(&socket, addr, &update(apex, &owner, [10, 1, c as u8, i as u8], (c << 10 | i) as u16));
                        assert_eq!(code, 0);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let n = clients * per_client;
        (n, secs, n as f64 / secs)
    };
    let (n, s, r) = run(1, o.changes * 5, "one");
    println!("| one resident client (UPDATE, one at a time) | {n} | {s:.2} | {r:.0} |");
    let (n, s, r) = run(16, o.changes, "many");
    println!("| 16 concurrent clients (UPDATE) | {n} | {s:.2} | {r:.0} |");
    let started = Instant::now();
    let processes = o.changes.min(200);
    for i in 0..processes {
        loader(&db, &["record", "add", &format!("proc{i}.{apex}"), "60", "A", "192.0.2.46"]);
    }
    let secs = started.elapsed().as_secs_f64();
    println!("| `record add` processes back to back | {processes} | {secs:.2} | {:.0} |", processes as f64 / secs);
}

/// utime + stime (clock ticks) of the thread `name` of `pid`.
fn thread_ticks(pid: u32, name: &str) -> u64 {
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = entry.unwrap().path();
        if std::fs::read_to_string(task.join("comm")).unwrap_or_default().trim() == name {
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            let f: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
            return f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
        }
    }
    panic!("no thread {name}");
}

/// dnsperf on core 1 for `seconds`: (completed, lost, SERVFAIL).
fn dnsperf(addr: SocketAddr, queries: &Path, seconds: u64) -> (u64, u64, u64) {
    let out = Command::new("taskset")
        .args(["-c", "1", "dnsperf", "-s", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-d"])
        .arg(queries)
        .args(["-l", &seconds.to_string(), "-c", "8", "-q", "500"])
        .output()
        .expect("dnsperf (apt-get install dnsperf)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |label: &str| -> u64 {
        text.lines().find_map(|l| l.trim().strip_prefix(label)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0)
    };
    let servfail = text.lines().find(|l| l.contains("SERVFAIL")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0);
    (field("Queries completed:"), field("Queries lost:"), servfail)
}

fn load(o: &Options) {
    let dir = tempfile::tempdir().unwrap();
    let apex = "load.test.";
    let db = zone(dir.path(), apex, 10_000);
    let queries = dir.path().join("queries");
    let q: String = (0..10_000 - 3).step_by(7).map(|i| format!("n{i}.{apex} A\n")).collect();
    std::fs::write(&queries, q).unwrap();
    let (_writer, server, addr) = lmdns(&db, Some(0), &[]);
    println!("\n### Queries while UPDATEs commit at 100/s (10,000-name zone, one worker)\n");
    println!("| run | answered | lost | SERVFAIL | worker µs/query | commits |\n|---|---|---|---|---|---|");
    let run = |label: &str, rate: u64| {
        let stop = Arc::new(AtomicBool::new(false));
        let commits = Arc::new(AtomicU64::new(0));
        let updater = (rate > 0).then(|| {
            let (stop, commits) = (stop.clone(), commits.clone());
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let started = Instant::now();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let due = started + Duration::from_micros(i * 1_000_000 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let owner = format!("live{i}.{apex}");
                    if exchange(&socket, addr, &update(apex, &owner, [10, 9, (i >> 8) as u8, i as u8], i as u16)) == 0 {
                        commits.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        });
        let before = thread_ticks(server.child.id(), "udp-0");
        let (answered, lost, servfail) = dnsperf(addr, &queries, o.seconds);
        let ticks = thread_ticks(server.child.id(), "udp-0") - before;
        stop.store(true, Ordering::Relaxed);
        if let Some(u) = updater {
            u.join().unwrap();
        }
        let us = ticks as f64 / 100.0 * 1e6 / answered as f64;
        println!("| {label} | {answered} | {lost} | {servfail} | {us:.2} | {} |", commits.load(Ordering::Relaxed));
        us
    };
    let idle = run("idle", 0);
    let busy = run("100 UPDATEs/s", 100);
    println!("\nratio: {:.3}", busy / idle);
}

/// RSS of `pid` in MiB (total, anonymous).
fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |n: &str| {
        status.lines().find_map(|l| l.strip_prefix(n)).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()).unwrap_or(0) / 1024
    };
    (field("VmRSS:"), field("RssAnon:"))
}

fn rpz(o: &Options) {
    let named = require_tool("named", "bind9");
    let dir = tempfile::tempdir().unwrap();
    let apex = "rpz.test.";
    // The RPZ: `bad<i>.example.rpz.test. A 192.0.2.222` (local data: blocked names resolve there).
    let db = dir.path().join("db");
    let file = dir.path().join("rpz.test.zone");
    let mut text = format!("$ORIGIN {apex}\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n  NS ns1\nns1 A 192.0.2.53\n");
    for i in 0..o.names.saturating_sub(3) {
        text.push_str(&format!("bad{i}.example A 192.0.2.222\n"));
    }
    std::fs::write(&file, text).unwrap();
    let imported = Instant::now();
    loader(&db, &["zone", "import", file.to_str().unwrap()]);
    let import_s = imported.elapsed().as_secs_f64();
    loader(&db, &["key", "add", "bench-key.", "hmac-sha256", &data_encoding::BASE64.encode(SECRET)]);
    loader(&db, &["zone", "update-policy", apex, "grant bench-key. zonesub ANY"]);
    let (_writer, server, addr) = lmdns(&db, None, &[]);

    // BIND 9.18 as a resolver with the RPZ as a secondary zone. Recursion ends at a local root
    // zone, so nothing ever leaves loopback: an unblocked name is NXDOMAIN, a blocked one A.
    let bdir = dir.path().join("bind");
    std::fs::create_dir_all(&bdir).unwrap();
    let port = free_port();
    std::fs::write(bdir.join("root.zone"), "$TTL 60\n. SOA a.root. h. 1 3600 600 86400 60\n. NS a.root.\na.root. A 127.0.0.1\n").unwrap();
    let conf = format!(
        "options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; session-keyfile \"{d}/s.key\"; listen-on port {port} {{ 127.0.0.1; }}; listen-on-v6 {{ none; }};\n  recursion yes; allow-recursion {{ 127.0.0.0/8; }}; dnssec-validation no; notify no; max-cache-size 64m;\n  response-policy {{ zone \"{apex}\"; }} qname-wait-recurse no min-update-interval 0;\n}};\nzone \".\" {{ type primary; file \"root.zone\"; }};\nzone \"{apex}\" {{ type secondary; file \"rpz.bk\"; primaries {{ 127.0.0.1 port {}; }}; allow-notify {{ 127.0.0.0/8; }}; request-ixfr yes; }};\n",
        addr.port(),
        d = bdir.display()
    );
    std::fs::write(bdir.join("named.conf"), conf).unwrap();
    let mut cmd = Command::new(named);
    cmd.args(["-g", "-c"]).arg(bdir.join("named.conf")).args(["-n", "1"]);
    let resolver_started = Instant::now();
    let (bind, _) = start(cmd, "running");
    let resolver = SocketAddr::from(([127, 0, 0, 1], port));
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let first = format!("bad{}.example.", o.names.saturating_sub(4));
    while !visible(&socket, resolver, &first, [192, 0, 2, 222]) {
        assert!(resolver_started.elapsed() < Duration::from_secs(600), "BIND never loaded the RPZ");
        std::thread::sleep(Duration::from_millis(200));
    }
    let loaded_s = resolver_started.elapsed().as_secs_f64();
    loader(&db, &["zone", "notify", apex, &resolver.to_string()]);
    let mut delays = Vec::new();
    for i in 0..o.changes.min(50) {
        std::thread::sleep(Duration::from_millis(1000));
        let blocked = format!("new{i}.example");
        let started = Instant::now();
        assert_eq!(exchange(&socket, addr, &update(apex, &format!("{blocked}.{apex}"), [192, 0, 2, 222], i as u16)), 0);
        delays.push(wait_visible(&socket, resolver, &format!("{blocked}."), [192, 0, 2, 222], started));
    }
    let (bind_rss, bind_anon) = rss(bind.child.id());
    let (lmdns_rss, lmdns_anon) = rss(server.child.id());
    println!("\n### A {}-name RPZ, BIND 9.18 resolver secondarying it from lmdns\n", o.names);
    println!("lmdns-loader import: {import_s:.1} s; BIND resolver start to RPZ loaded: {loaded_s:.1} s\n");
    println!("| UPDATE sent → blocked at the resolver ({} names, 1 s apart) | p50 ms | p95 ms |\n|---|---|---|", delays.len());
    println!("| NOTIFY + IXFR + RPZ rebuild | {:.1} | {:.1} |", percentile(&mut delays.clone(), 0.5), percentile(&mut delays, 0.95));
    println!("\n| process | RSS MiB | anonymous MiB |\n|---|---|---|");
    println!("| BIND 9.18 resolver holding the RPZ | {bind_rss} | {bind_anon} |");
    println!("| lmdns-server serving it | {lmdns_rss} | {lmdns_anon} |");
}
