//! Running the release binaries and the peers for the side-by-side benches (`src/bin`): lmdns
//! processes, zone texts, process memory and CPU from /proc, SOA polls, a Knot catalog
//! primary, dnsperf. Everything on 127.0.0.1, every wait bounded.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lmdns_proto::build::MessageBuilder;
use lmdns_testkit::{free_port, require_tool};

/// A release binary of this workspace.
pub fn bin(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release").join(name);
    assert!(path.is_file(), "{} missing: build it with `cargo build --release -p {name}`", path.display());
    path
}

/// The release binary `name`, run on core `cpu` (taskset) if given.
fn pinned(name: &str, cpu: Option<usize>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpu.to_string()).arg(bin(name));
            c
        }
        None => Command::new(bin(name)),
    }
}

/// Runs `lmdns-loader --db DB ARGS` (release) to success; returns how long it took.
pub fn loader(db: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new(bin("lmdns-loader")).arg("--db").arg(db).args(args).stdout(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "lmdns-loader {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    started.elapsed()
}

/// A running lmdns-server, killed on drop.
pub struct Lmdns {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Lmdns {
    pub fn start(db: &Path, args: &[&str], cpu: Option<usize>) -> Lmdns {
        let mut cmd = pinned("lmdns-server", cpu);
        cmd.arg("--db").arg(db).args(["--listen", "127.0.0.1:0", "--allow-root"]).args(args);
        let log = std::env::var("LMDNS_LOG").unwrap_or_else(|_| "warn,lmdns_server::server=info".into());
        let mut child = cmd.env("RUST_LOG", log).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            let line = lines.next().expect("lmdns-server exited").unwrap();
            if let Some(listen) = line.split_whitespace().find_map(|w| w.strip_prefix("listen=")) {
                break listen.split(',').next().unwrap().parse().unwrap();
            }
            assert!(Instant::now() < deadline, "lmdns-server did not start");
        };
        // Keep draining its log so it never blocks on a full pipe.
        let show = std::env::var_os("SHOW_LOGS").is_some();
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                if show {
                    eprintln!("lmdns: {line}");
                }
            }
        });
        Lmdns { child, addr }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Lmdns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn zone_text(apex: &str, serial: u32, names: usize) -> String {
    let mut text = format!("$ORIGIN {apex}\n$TTL 300\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n  NS ns1\nns1 A 192.0.2.53\n");
    for i in 0..names {
        text.push_str(&format!(
            "h{i} A 10.{}.{}.{}\nh{i} TXT \"host {i} of the benchmark zone\"\n",
            (i >> 16) & 255,
            (i >> 8) & 255,
            i & 255
        ));
    }
    text
}

pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// The process and its descendants (NSD serves from forked children).
pub fn tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut added = true;
    while added {
        added = false;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(p) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            if all.contains(&p) {
                continue;
            }
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let ppid = stat.rfind(')').and_then(|i| stat[i + 2..].split_whitespace().nth(1)?.parse::<u32>().ok());
            if ppid.is_some_and(|pp| all.contains(&pp)) {
                all.push(p);
                added = true;
            }
        }
    }
    all
}

/// (VmRSS, RssAnon) in KiB, summed over `pids`.
pub fn rss(pids: &[u32]) -> (u64, u64) {
    let mut total = (0, 0);
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok()).unwrap_or(0u64)
        };
        total = (total.0 + field("VmRSS:"), total.1 + field("RssAnon:"));
    }
    total
}

/// utime + stime in clock ticks, summed over `pids`.
pub fn cpu_ticks(pids: &[u32]) -> u64 {
    pids.iter()
        .map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rfind(')').map_or(0, |i| {
                let f: Vec<&str> = stat[i + 2..].split_whitespace().collect();
                f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            })
        })
        .sum()
}

pub fn wait_soa(addr: SocketAddr, zone: &str, within: Duration) {
    let deadline = Instant::now() + within;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut m = MessageBuilder::new(7, 0);
    m.question(&lmdns_testkit::wire(zone), 6, 1).unwrap();
    let q = m.finish();
    let mut buf = [0u8; 4096];
    loop {
        let _ = socket.send_to(&q, addr);
        if let Ok(n) = socket.recv(&mut buf) {
            if n > 12 && buf[3] & 0x0F == 0 && u16::from_be_bytes([buf[6], buf[7]]) > 0 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{addr} did not serve {zone}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn member(i: usize) -> String {
    format!("m{i}.cat.test.")
}

/// Seconds until `consumer` serves the SOA of every member (panics after 600 s).
pub fn until_all_served(consumer: SocketAddr, zones: usize, started: Instant) -> f64 {
    served_within(consumer, zones, started, Duration::from_secs(600)).unwrap_or_else(|missing| panic!("{missing} members still missing"))
}

/// Seconds until `consumer` serves the SOA of every member, or how many it still does not
/// serve once `within` has passed.
pub fn served_within(consumer: SocketAddr, zones: usize, started: Instant, within: Duration) -> Result<f64, usize> {
    let mut missing: Vec<usize> = (0..zones).collect();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let mut buf = [0u8; 4096];
    while !missing.is_empty() {
        if started.elapsed() > within {
            return Err(missing.len());
        }
        missing.retain(|&i| {
            let mut m = MessageBuilder::new((i & 0xFFFF) as u16, 0);
            m.question(&lmdns_testkit::wire(&member(i)), 6, 1).unwrap();
            let _ = socket.send_to(&m.finish(), consumer);
            match socket.recv(&mut buf) {
                Ok(n) => !(n > 12 && buf[3] & 0x0F == 0 && buf[2] & 0x04 != 0 && u16::from_be_bytes([buf[6], buf[7]]) > 0),
                Err(_) => true,
            }
        });
        if !missing.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Knot as the primary of `zones` members and of the catalog it generates from them.
pub fn knot_catalog_primary(dir: &Path, zones: usize) -> (Child, SocketAddr) {
    let knotd = require_tool("knotd", "knot");
    let port = free_port();
    let zdir = dir.join("zones");
    std::fs::create_dir_all(&zdir).unwrap();
    let mut conf = format!(
        "server:\n  listen: 127.0.0.1@{port}\n  rundir: \"{d}\"\nlog:\n  - target: stderr\n    any: warning\ndatabase:\n  storage: \"{d}/db\"\nacl:\n  - id: xfr\n    address: 127.0.0.0/8\n    action: transfer\ntemplate:\n  - id: default\n    storage: \"{z}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    acl: xfr\n  - id: member\n    storage: \"{z}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    acl: xfr\n    catalog-role: member\n    catalog-zone: catalog.invalid.\nzone:\n  - domain: catalog.invalid.\n    catalog-role: generate\n",
        d = dir.display(),
        z = zdir.display()
    );
    for i in 0..zones {
        let name = member(i);
        std::fs::write(zdir.join(format!("{name}zone")), zone_text(&name, 1, 1)).unwrap();
        conf.push_str(&format!("  - domain: {name}\n    template: member\n"));
    }
    std::fs::write(dir.join("knot.conf"), conf).unwrap();
    let child = Command::new(knotd).arg("-c").arg(dir.join("knot.conf")).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    (child, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// utime + stime (clock ticks) of the thread named `name` of `pid`.
pub fn thread_ticks(pid: u32, name: &str) -> u64 {
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = entry.unwrap().path();
        if std::fs::read_to_string(task.join("comm")).unwrap_or_default().trim() == name {
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
    }
    panic!("no thread {name} in {pid}");
}

pub fn dnsperf(addr: SocketAddr, queries: &Path, seconds: u64) -> u64 {
    let out = Command::new("taskset")
        .args(["-c", "1", "dnsperf", "-s", &addr.ip().to_string(), "-p", &addr.port().to_string(), "-d"])
        .arg(queries)
        .args(["-l", &seconds.to_string(), "-c", "8", "-q", "500"])
        .output()
        .expect("dnsperf (apt-get install dnsperf)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.trim().strip_prefix("Queries completed:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no dnsperf summary: {text}"))
}

/// `lmdns-loader serve` (release) on `db`, optionally pinned to `cpu`, its log drained (shown
/// with SHOW_LOGS); killed on drop.
pub struct Writer {
    pub child: Child,
}

impl Writer {
    pub fn start(db: &Path, args: &[&str], cpu: Option<usize>) -> Writer {
        let mut cmd = pinned("lmdns-loader", cpu);
        cmd.arg("--db").arg(db).arg("serve").args(args);
        let mut child = cmd.env("RUST_LOG", "info").stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let line = lines.next().expect("lmdns-loader serve exited").unwrap();
            if line.contains("lmdns-loader serve started") {
                break;
            }
            assert!(Instant::now() < deadline, "lmdns-loader serve did not start");
        }
        let show = std::env::var_os("SHOW_LOGS").is_some();
        std::thread::spawn(move || {
            for line in lines.by_ref().map_while(Result::ok) {
                if show {
                    eprintln!("writer: {line}");
                }
            }
        });
        Writer { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SOA serial `addr` serves for `zone` (one UDP query, 200 ms wait).
pub fn serial(addr: SocketAddr, zone: &str) -> Option<u32> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    socket.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    let mut m = MessageBuilder::new(0x50, 0);
    m.question(&lmdns_testkit::wire(zone), 6, 1).ok()?;
    socket.send_to(&m.finish(), addr).ok()?;
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).ok()?;
    let reply = lmdns_proto::wire::parse(&buf[..n]).ok()?;
    (reply.header.rcode() == 0).then(|| reply.answers.iter().find_map(|r| r.soa_serial())).flatten()
}
