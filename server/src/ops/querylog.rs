//! The query log (`--query-log PATH`, `-` for stdout): one JSON line per answered query.
//!
//! Hot path: each worker owns a [`Producer`], the single writer of a fixed-capacity SPSC ring
//! ([`ring`]) of fixed-size [`Record`]s (the question bytes copied, at most 255 + 4, and a few
//! numbers). A push is a copy into a preallocated slot and one release store: no allocation, no
//! lock, no syscall.
//! A full ring drops the entry and counts it (`lmdns_querylog_dropped_total`); the worker never
//! waits for the logger.
//!
//! One logger thread drains every ring, formats (names, mnemonics, timestamps: all off the hot
//! path) into a buffered writer, flushes at least every [`FLUSH_INTERVAL`], reopens the file on
//! SIGHUP (for logrotate: rename, then `kill -HUP`), and on shutdown writes out everything the
//! workers queued before they stopped.
//!
//! Line format (keys always present, in this order):
//! `{"time":"2026-01-02T03:04:05.123456Z","client":"192.0.2.1","port":40000,"proto":"udp",
//! "qname":"www.Example.com.","qtype":"A","rcode":"NOERROR","aa":true,"tc":false,"size":61,
//! "ecs":"198.51.100.0/24"}` — `qname` as asked (case kept, RFC 1035 escapes; null when the
//! question is unreadable), `qtype` a mnemonic or `TYPEnnn`, `rcode` a mnemonic or `RCODEnn`,
//! `size` the response length in bytes, `ecs` the client subnet the query carried (null if none).

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::answer::Answered;
use crate::engine::{Client, Transport};
use crate::ops::metrics::{qtype_name, rcode_name};
use crate::ops::ring;
use crate::query::ClientSubnet;
use crate::server::{RateLimit, Stop};

/// Entries per worker queue (a power of two). At ~300 bytes a record, 1.2 MiB per worker, only
/// allocated when the log is on. The logger drains continuously; this absorbs bursts and
/// slow disks for a few milliseconds at full rate.
pub const QUEUE_CAPACITY: usize = 4096;
pub use crate::ops::ring::{FLUSH_INTERVAL, STOP_GRACE};
/// Question bytes kept: the longest name (255) plus QTYPE and QCLASS.
pub const QUESTION_MAX: usize = 255 + 4;
/// Offset of the question in a DNS message.
const HEADER_LEN: usize = 12;

/// Set by the SIGHUP handler; the logger reopens its file when it sees it.
static REOPEN: std::sync::LazyLock<Arc<AtomicBool>> = std::sync::LazyLock::new(Arc::default);

/// Installs the SIGHUP handler (reopen the query log; signal-hook's flag, which restarts
/// interrupted system calls). Installed also without a query log, so a `systemctl reload` never
/// kills the server (SIGHUP's default action).
pub fn install_sighup() -> anyhow::Result<()> {
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&REOPEN)).context("cannot install the SIGHUP handler")?;
    Ok(())
}

/// One queued query, plain data of a fixed size.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Record {
    /// Microseconds since the Unix epoch.
    pub time_us: u64,
    pub size: u32,
    pub port: u16,
    pub qtype: u16,
    pub rcode: u16,
    pub question_len: u16,
    pub client: [u8; 16],
    pub ecs_address: [u8; 16],
    pub client_v6: bool,
    pub tcp: bool,
    pub aa: bool,
    pub tc: bool,
    /// 0: no ECS, 1: IPv4, 2: IPv6.
    pub ecs_family: u8,
    pub ecs_prefix: u8,
    pub question: [u8; QUESTION_MAX],
}

impl Record {
    const EMPTY: Record = Record {
        time_us: 0,
        size: 0,
        port: 0,
        qtype: 0,
        rcode: 0,
        question_len: 0,
        client: [0; 16],
        ecs_address: [0; 16],
        client_v6: false,
        tcp: false,
        aa: false,
        tc: false,
        ecs_family: 0,
        ecs_prefix: 0,
        question: [0; QUESTION_MAX],
    };

    #[inline]
    fn fill(&mut self, query: &[u8], client: &Client, answered: &Answered, subnet: Option<ClientSubnet>, size: usize, time_us: u64) {
        self.time_us = time_us;
        self.size = size.min(u32::MAX as usize) as u32;
        self.port = client.addr.port();
        (self.client, self.client_v6) = ring::pack_address(client.addr.ip());
        self.tcp = client.transport == Transport::Tcp;
        self.qtype = answered.qtype;
        self.rcode = answered.rcode;
        self.aa = answered.aa;
        self.tc = answered.tc;
        let question = query.get(HEADER_LEN..).unwrap_or(&[]);
        let n = question.len().min(QUESTION_MAX);
        self.question[..n].copy_from_slice(&question[..n]);
        self.question_len = n as u16;
        match subnet {
            Some(s) => {
                self.ecs_family = s.family as u8;
                self.ecs_prefix = s.source_prefix;
                self.ecs_address = s.address;
            }
            None => self.ecs_family = 0,
        }
    }
}

/// The writing end of one worker's queue.
pub type Producer = ring::Producer<Record>;
type Consumer = ring::Consumer<Record>;
/// Drop counts of every queue, for metrics.
pub type QueryLogStats = ring::DropCounts<Record>;

impl ring::Producer<Record> {
    /// Queues one entry, or drops and counts it when the queue is full. Never blocks.
    #[inline]
    pub fn push(&mut self, query: &[u8], client: &Client, answered: &Answered, subnet: Option<ClientSubnet>, size: usize) -> bool {
        let time_us = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        self.push_with(|r| r.fill(query, client, answered, subnet, size, time_us))
    }
}

enum Sink {
    Stdout(BufWriter<PatientStdout>),
    File { path: PathBuf, out: BufWriter<File> },
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::File { out, .. } => out,
        }
    }
}

/// When (ms since the Unix epoch; 0: never) a blocked standard output is given up on.
static GIVE_UP_AT_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// From now on, writes to a standard output nobody reads fail after `grace` instead of
/// blocking (called when the server stops: a full pipe must not keep the process alive).
pub fn give_up_blocked_output_after(grace: Duration) {
    GIVE_UP_AT_MS.store(now_ms() + grace.as_millis() as u64, Ordering::Relaxed);
}

/// Standard output written so that a reader who stopped reading (a full pipe) cannot hold the
/// logger forever: each write waits for the descriptor to be writable in 100 ms polls, writes
/// at most `PIPE_BUF` bytes (which then never block), and fails once the server is stopping
/// and [`give_up_blocked_output_after`]'s grace has passed. Standard output is not made
/// non-blocking: its file description may be shared with the parent's terminal.
pub(crate) struct PatientStdout;

impl Write for PatientStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        loop {
            let give_up = GIVE_UP_AT_MS.load(Ordering::Relaxed);
            let late = give_up != 0 && now_ms() >= give_up;
            let mut pfd = libc::pollfd { fd: libc::STDOUT_FILENO, events: libc::POLLOUT, revents: 0 };
            // SAFETY: one valid pollfd. Past the deadline, only a look: each remaining line
            // fails at once instead of waiting.
            let ready = unsafe { libc::poll(&mut pfd, 1, if late { 0 } else { 100 }) };
            if ready > 0 {
                if pfd.revents & libc::POLLOUT == 0 {
                    return Err(io::Error::new(io::ErrorKind::BrokenPipe, "standard output closed"));
                }
                let n = buf.len().min(libc::PIPE_BUF);
                // SAFETY: `buf` holds at least `n` bytes.
                let written = unsafe { libc::write(libc::STDOUT_FILENO, buf.as_ptr().cast(), n) };
                if written >= 0 {
                    return Ok(written as usize);
                }
                let e = io::Error::last_os_error();
                if !matches!(e.kind(), io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock) {
                    return Err(e);
                }
            } else if ready < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return Err(io::Error::last_os_error());
            }
            if late {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "standard output blocked while stopping; query log lines dropped"));
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The logger: the consumers of every worker's queue and the output.
pub struct QueryLog {
    consumers: Vec<Consumer>,
    sink: Sink,
    stats: QueryLogStats,
    line: Vec<u8>,
    errors: RateLimit,
}

impl QueryLog {
    /// Opens the log at `path` (`-`: stdout) with one queue per worker. With `chroot`, the
    /// process is already inside it and `path` (absolute, under `chroot`) is opened, and reopened
    /// on SIGHUP, at its place inside.
    pub fn open(path: &Path, chroot: Option<&Path>, workers: usize) -> anyhow::Result<(QueryLog, Vec<Producer>)> {
        let sink = if path == Path::new("-") {
            Sink::Stdout(BufWriter::with_capacity(64 * 1024, PatientStdout))
        } else {
            let inside = match chroot {
                Some(root) => Path::new("/").join(path.strip_prefix(root).context("the query log must be inside --chroot")?),
                None => path.to_path_buf(),
            };
            let file = open_append(&inside).with_context(|| format!("cannot open the query log {}", path.display()))?;
            Sink::File { path: inside, out: BufWriter::with_capacity(64 * 1024, file) }
        };
        Ok(Self::with_sink(sink, workers, QUEUE_CAPACITY))
    }

    fn with_sink(sink: Sink, workers: usize, capacity: usize) -> (QueryLog, Vec<Producer>) {
        let (producers, consumers, stats) = ring::queues(workers, capacity, Record::EMPTY);
        (QueryLog { consumers, sink, stats, line: Vec::with_capacity(512), errors: RateLimit::new() }, producers)
    }

    pub fn stats(&self) -> QueryLogStats {
        self.stats.clone()
    }

    /// Runs the logger until `stop` is requested and every producer is gone (or a grace period
    /// passed), then writes out what is left.
    pub fn run(mut self, stop: &Stop) -> anyhow::Result<()> {
        ring::drain_until_stopped(&mut self, stop);
        Ok(())
    }
}

impl ring::Drain for QueryLog {
    fn producers_gone(&self) -> bool {
        self.consumers.iter().all(Consumer::is_closed)
    }

    /// SIGHUP: everything so far to the old file, then the new one.
    fn maintain(&mut self) {
        if REOPEN.swap(false, Ordering::Relaxed) {
            self.flush();
            self.reopen();
        }
    }

    /// Formats and writes what every queue holds (at most one ring's worth each, for fairness).
    fn drain_all(&mut self) -> usize {
        let mut total = 0;
        let QueryLog { consumers, sink, line, errors, .. } = self;
        for c in consumers.iter_mut() {
            let max = c.capacity();
            total += c.drain(max, |r| {
                line.clear();
                format_record(r, line);
                if let Err(e) = sink.writer().write_all(line) {
                    if errors.allow() {
                        tracing::error!("cannot write the query log: {e}");
                    }
                }
            });
        }
        total
    }

    fn flush(&mut self) {
        if let Err(e) = self.sink.writer().flush() {
            if self.errors.allow() {
                tracing::error!("cannot write the query log: {e}");
            }
        }
    }
}

impl QueryLog {
    /// Reopens the file (after logrotate renamed it); on failure keeps writing the old one.
    fn reopen(&mut self) {
        if let Sink::File { path, out } = &mut self.sink {
            match open_append(path) {
                Ok(file) => {
                    *out = BufWriter::with_capacity(64 * 1024, file);
                    tracing::info!("query log reopened: {}", path.display());
                }
                Err(e) => tracing::error!("cannot reopen the query log {}: {e}; still writing to the old file", path.display()),
            }
        }
    }
}

/// Appends the JSON line of `r` (with its newline) to `out`.
pub fn format_record(r: &Record, out: &mut Vec<u8>) {
    use std::io::Write as _;
    out.extend_from_slice(b"{\"time\":\"");
    push_rfc3339_micros(r.time_us, out);
    let client: IpAddr =
        if r.client_v6 { IpAddr::from(r.client) } else { IpAddr::from([r.client[0], r.client[1], r.client[2], r.client[3]]) };
    let _ = write!(out, "\",\"client\":\"{client}\",\"port\":{},\"proto\":\"{}\",\"qname\":", r.port, if r.tcp { "tcp" } else { "udp" });
    let question = &r.question[..r.question_len as usize];
    let (name, parsed_qtype) = parse_question(question);
    match name {
        Some(wire) => {
            out.push(b'"');
            push_json_escaped(&lmdb_schema::name::wire_to_text(wire), out);
            out.push(b'"');
        }
        None => out.extend_from_slice(b"null"),
    }
    let qtype = if r.qtype != 0 { r.qtype } else { parsed_qtype.unwrap_or(0) };
    match qtype_name(qtype) {
        Some(n) => {
            let _ = write!(out, ",\"qtype\":\"{n}\"");
        }
        None => {
            let _ = write!(out, ",\"qtype\":\"TYPE{qtype}\"");
        }
    }
    match rcode_name(r.rcode) {
        Some(n) => {
            let _ = write!(out, ",\"rcode\":\"{n}\"");
        }
        None => {
            let _ = write!(out, ",\"rcode\":\"RCODE{}\"", r.rcode);
        }
    }
    let _ = write!(out, ",\"aa\":{},\"tc\":{},\"size\":{},\"ecs\":", r.aa, r.tc, r.size);
    match r.ecs_family {
        1 => {
            let a = &r.ecs_address;
            let _ = write!(out, "\"{}/{}\"}}", IpAddr::from([a[0], a[1], a[2], a[3]]), r.ecs_prefix);
        }
        2 => {
            let _ = write!(out, "\"{}/{}\"}}", IpAddr::from(r.ecs_address), r.ecs_prefix);
        }
        _ => out.extend_from_slice(b"null}"),
    }
    out.push(b'\n');
}

/// The uncompressed wire name at the start of `question` and the QTYPE after it, if readable.
fn parse_question(question: &[u8]) -> (Option<&[u8]>, Option<u16>) {
    let mut pos = 0;
    loop {
        let Some(&len) = question.get(pos) else { return (None, None) };
        if len == 0 {
            let name = &question[..pos + 1];
            let qtype = question.get(pos + 1..pos + 3).map(|b| u16::from_be_bytes([b[0], b[1]]));
            return (Some(name), qtype);
        }
        if len & 0xC0 != 0 || pos + 1 + len as usize >= question.len() {
            return (None, None);
        }
        pos += 1 + len as usize;
    }
}

fn push_json_escaped(text: &str, out: &mut Vec<u8>) {
    // Presentation form is printable ASCII: only `\` and `"` need escaping.
    for b in text.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            0..=0x1f => {
                let _ = write!(out, "\\u{b:04x}");
            }
            _ => out.push(b),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` for microseconds since the epoch.
pub fn push_rfc3339_micros(us: u64, out: &mut Vec<u8>) {
    use std::io::Write as _;
    let secs = us / 1_000_000;
    let micros = us % 1_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z", rem / 3600, rem / 60 % 60, rem % 60);
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::time::Instant;

    fn client(addr: &str, transport: Transport) -> Client {
        Client { addr: addr.parse::<SocketAddr>().unwrap(), transport }
    }

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.').filter(|l| !l.is_empty()) {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&1u16.to_be_bytes());
        q
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_micros() {
        let mut out = Vec::new();
        push_rfc3339_micros(0, &mut out);
        assert_eq!(out, b"1970-01-01T00:00:00.000000Z");
        out.clear();
        // 2024-02-29T23:59:59.123456Z
        push_rfc3339_micros(1_709_251_199_123_456, &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "2024-02-29T23:59:59.123456Z");
    }

    #[test]
    fn lines_are_json_with_every_field() {
        let (mut log, mut producers) = QueryLog::with_sink(Sink::Stdout(BufWriter::new(PatientStdout)), 1, 8);
        let answered = Answered { qtype: 1, rcode: 3, aa: true, tc: false, answers: 0, authority: 1, cached: false };
        let subnet =
            ClientSubnet { family: 1, source_prefix: 24, scope_prefix: 0, address: [192, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] };
        let q = query("W\"w.Ex\\ample.com", 1);
        assert!(producers[0].push(&q, &client("[::1]:4242", Transport::Tcp), &answered, Some(subnet), 99));
        let mut lines = Vec::new();
        log.consumers[0].drain(8, |r| format_record(r, &mut lines));
        let v: serde_json::Value = serde_json::from_slice(&lines).unwrap();
        assert_eq!(v["client"], "::1");
        assert_eq!(v["port"], 4242);
        assert_eq!(v["proto"], "tcp");
        assert_eq!(v["qname"], "W\\\"w.Ex\\\\ample.com.");
        assert_eq!(v["qtype"], "A");
        assert_eq!(v["rcode"], "NXDOMAIN");
        assert_eq!((v["aa"].as_bool(), v["tc"].as_bool()), (Some(true), Some(false)));
        assert_eq!(v["size"], 99);
        assert_eq!(v["ecs"], "192.0.2.0/24");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        // Unknown type, odd rcode, no ECS, root name.
        let answered = Answered { qtype: 4242, rcode: 23, ..Answered::default() };
        assert!(producers[0].push(&query(".", 4242), &client("127.0.0.1:53", Transport::Udp), &answered, None, 12));
        lines.clear();
        log.consumers[0].drain(8, |r| format_record(r, &mut lines));
        let v: serde_json::Value = serde_json::from_slice(&lines).unwrap();
        assert_eq!((v["qname"].as_str(), v["qtype"].as_str(), v["rcode"].as_str()), (Some("."), Some("TYPE4242"), Some("RCODE23")));
        assert!(v["ecs"].is_null());
        let _ = log.stats();
    }

    #[test]
    fn full_queue_drops_and_counts_without_blocking() {
        // No consumer runs: the producer must fill the queue, then drop and count, never wait.
        let (log, mut producers) = QueryLog::with_sink(Sink::Stdout(BufWriter::new(PatientStdout)), 2, 16);
        let answered = Answered { qtype: 1, ..Answered::default() };
        let q = query("example.com", 1);
        let c = client("127.0.0.1:1000", Transport::Udp);
        let start = Instant::now();
        let mut accepted = 0;
        for _ in 0..100_000 {
            accepted += producers[0].push(&q, &c, &answered, None, 40) as u64;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "pushing took {:?}", start.elapsed());
        assert_eq!(accepted, 16);
        assert_eq!(log.stats().dropped(), 100_000 - 16);
        // The other worker's queue is unaffected.
        assert!(producers[1].push(&q, &c, &answered, None, 40));
        assert_eq!(log.stats().dropped(), 100_000 - 16);
    }

    #[test]
    fn entries_cross_threads_in_order_and_the_logger_sees_producers_leave() {
        let (mut log, mut producers) = QueryLog::with_sink(Sink::Stdout(BufWriter::new(PatientStdout)), 1, 64);
        let mut producer = producers.pop().unwrap();
        let handle = std::thread::spawn(move || {
            let c = client("127.0.0.1:1", Transport::Udp);
            let mut sent = Vec::new();
            for i in 0..5_000u16 {
                let answered = Answered { qtype: i, ..Answered::default() };
                if producer.push(&query("a.example", i), &c, &answered, None, 1) {
                    sent.push(i);
                }
            }
            sent
        });
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let closed = log.consumers[0].is_closed();
            log.consumers[0].drain(64, |r| got.push(r.qtype));
            if closed {
                break;
            }
            assert!(Instant::now() < deadline);
        }
        let sent = handle.join().unwrap();
        assert_eq!(got, sent, "every accepted entry arrives once, in order");
        assert_eq!(log.stats().dropped() as usize, 5_000 - sent.len());
    }
}
