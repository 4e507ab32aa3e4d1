//! Real peer DNS servers on loopback for interop tests: Knot DNS 3.2, BIND 9.18, NSD 4.6 and
//! PowerDNS Authoritative 4.7 (the Debian bookworm packages) as secondaries of a primary, as
//! RFC 9432 catalog-zone consumers, and (Knot, BIND) as primaries feeding a secondary.
//!
//! Every server runs on 127.0.0.1 only, on a free port, in its own temporary directory holding
//! its config, pid file, working files, control socket or key and one log file (its stdout and
//! stderr, at a level that shows transfers, IXFR vs AXFR and TSIG errors); never port 53, never
//! a system-wide config file. Each leads its own process group and is ended on drop (SIGTERM,
//! a bounded wait, SIGKILL to the group). Every wait is a poll with a deadline. A missing tool
//! panics with the package to install.
//!
//! What each peer does here (all checked against the real servers):
//!
//! | peer | secondary | IXFR in | TSIG | catalog consumer | primary (IXFR out) |
//! |---|---|---|---|---|---|
//! | Knot 3.2 | yes | yes | yes | yes (catalog itself not queryable) | yes |
//! | BIND 9.18 | yes | yes | yes | yes | yes (`max-ixfr-ratio unlimited`) |
//! | NSD 4.6 | yes | yes, but its log does not say IXFR or AXFR | yes | no (NSD >= 4.9) | no |
//! | PowerDNS 4.7 | yes (IXFR metadata) | yes | yes | yes (members patched, see [`pdns_consumer`]) | no |
//!
//! The log patterns of [`PeerServer::incremental_transfers`], [`PeerServer::full_transfers`]
//! and [`PeerServer::tsig_failures`] are the servers' real wording, from runs of these exact
//! versions, quoted at [`count_transfers`] and [`is_tsig_failure`].
#![allow(dead_code)]

use std::fmt;
use std::fs;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::RData;

use crate::{free_port, require_tool, wire};

/// How long a peer may take from spawn to answering queries.
pub const PEER_STARTUP: Duration = Duration::from_secs(15);
/// How long one `serial`/`query` UDP try waits.
const PEER_QUERY_TIMEOUT: Duration = Duration::from_millis(400);
/// How many UDP tries `serial`/`query` make.
const PEER_QUERY_TRIES: usize = 2;
/// How long a control command (knotc, rndc, pdnsutil, sqlite3) may run.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a primary may take to serve the new serial after `update_primary_zone`.
const RELOAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long Drop waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Poll interval of every wait.
const POLL: Duration = Duration::from_millis(50);

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// A TSIG key as every peer spells it: `name` with its trailing dot (`"xfr-key."`),
/// `algorithm` lower-case (`"hmac-sha256"`), `secret` base64.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: String,
    pub secret: String,
}

impl TsigKey {
    /// `xfr-key.`, hmac-sha256, a fixed 32-byte secret.
    pub fn test_key() -> TsigKey {
        TsigKey { name: "xfr-key.".into(), algorithm: "hmac-sha256".into(), secret: "3q2+7wECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxw=".into() }
    }

    /// The same name and algorithm with another secret (for "wrong key" tests).
    pub fn with_wrong_secret(&self) -> TsigKey {
        TsigKey { secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=".into(), ..self.clone() }
    }
}

/// Which peer implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Knot DNS 3.2 (`knotd`, `knotc`).
    Knot,
    /// BIND 9.18 (`named`, `rndc`).
    Bind,
    /// NSD 4.6 (`nsd`); secondary only.
    Nsd,
    /// PowerDNS Authoritative 4.7 with the gsqlite3 backend (`pdns_server`, `pdnsutil`);
    /// secondary and catalog consumer.
    PowerDns,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Peer::Knot => "knot",
            Peer::Bind => "bind",
            Peer::Nsd => "nsd",
            Peer::PowerDns => "powerdns",
        })
    }
}

impl Peer {
    pub const ALL: [Peer; 4] = [Peer::Knot, Peer::Bind, Peer::Nsd, Peer::PowerDns];
}

/// One zone a secondary transfers: from `primary`, signed with `key` if given.
#[derive(Clone, Debug)]
pub struct SecondaryZone {
    pub name: String,
    pub primary: SocketAddr,
    pub key: Option<TsigKey>,
}

impl SecondaryZone {
    pub fn new(name: &str, primary: SocketAddr, key: Option<TsigKey>) -> SecondaryZone {
        SecondaryZone { name: name.to_string(), primary, key }
    }
}

/// What a peer was started as; transfer counts are of incoming transfers for a secondary or
/// consumer and of outgoing ones for a primary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Secondary,
    CatalogConsumer,
    Primary,
}

/// A running peer server, stopped (its whole process group) when dropped.
pub struct PeerServer {
    pub kind: Peer,
    pub role: Role,
    addr: SocketAddr,
    log: PathBuf,
    child: Child,
    control: Control,
    /// A primary's zones, key, NOTIFY targets: its config is regenerated from this.
    primary: Option<Mutex<PrimaryState>>,
    /// Zones it transfers (or serves) with a TSIG key; `all_keyed`: every zone (a primary or
    /// consumer given a key).
    keyed_zones: Vec<String>,
    all_keyed: bool,
    /// The catalog zone of a consumer.
    catalog: Option<String>,
    /// Keeps the temporary directory alive as long as the server.
    dir: tempfile::TempDir,
}

/// How to drive a running peer.
enum Control {
    /// `knotc -c CONF`.
    Knotc {
        conf: PathBuf,
    },
    /// `rndc -c CONF`; `named_conf` is rewritten by primaries adding zones.
    Rndc {
        conf: PathBuf,
        named_conf: PathBuf,
        control_port: u16,
    },
    /// `pdnsutil --config-dir DIR`.
    Pdnsutil {
        config_dir: PathBuf,
    },
    None,
}

struct PrimaryState {
    zones: Vec<String>,
    key: Option<TsigKey>,
    notify: Vec<SocketAddr>,
    allow_transfer_unsigned: bool,
    /// Knot only: a catalog zone (RFC 9432) it generates from every other zone.
    catalog: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// PeerServer: queries, waits, logs
// ---------------------------------------------------------------------------------------------

impl PeerServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temporary directory with its config and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    /// The last `lines` lines of the log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log_text();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The SOA serial it serves for `zone` now (one UDP query, short timeout), or None when it
    /// does not answer, or answers without an authoritative SOA for the zone (SERVFAIL, REFUSED,
    /// NOTAUTH, a referral...).
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let bytes = self.try_query(zone, 6)?;
        let msg = Message::from_vec(&bytes).ok()?;
        if msg.metadata.response_code != ResponseCode::NoError || !msg.metadata.authoritative {
            return None;
        }
        let apex = fqdn(zone).to_ascii_lowercase();
        msg.answers.iter().find_map(|r| match &r.data {
            RData::SOA(soa) if r.name.to_ascii().to_ascii_lowercase() == apex => Some(soa.serial),
            _ => None,
        })
    }

    /// Polls until it serves `zone` with `serial` or a newer one (RFC 1982 comparison) and
    /// returns how long that took; Err (with the log tail) after `within`, or if it exited.
    pub fn wait_serial(&self, zone: &str, serial: u32, within: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        let mut last = None;
        loop {
            let now = self.serial(zone);
            if now.is_some() {
                last = now;
            }
            if now.is_some_and(|s| serial_ge(s, serial)) {
                return Ok(start.elapsed());
            }
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) while waiting for {zone} serial {serial}; log:\n{}",
                    self.kind,
                    self.log_tail(60)
                ));
            }
            if start.elapsed() > within {
                return Err(format!(
                    "{} ({:?} on {}) did not serve {zone} serial >= {serial} within {within:?} (last seen {last:?}); log {}:\n{}",
                    self.kind,
                    self.role,
                    self.addr,
                    self.log.display(),
                    self.log_tail(60)
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// A consumer's catalog serial: Knot refuses queries for an interpreted catalog zone
    /// (REFUSED with EDE 20), so for Knot it is read from `knotc zone-status`; the others
    /// serve the catalog and [`serial`](Self::serial) is used.
    pub fn catalog_serial(&self) -> Option<u32> {
        let catalog = self.catalog.as_deref().expect("catalog_serial on a catalog consumer");
        if self.kind != Peer::Knot {
            return self.serial(catalog);
        }
        let out = self.try_knotc(&["zone-status", catalog])?;
        let rest = out.split("serial: ").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    }

    /// Polls [`catalog_serial`](Self::catalog_serial) until it is `serial` or newer.
    pub fn wait_catalog_serial(&self, serial: u32, within: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        loop {
            if self.catalog_serial().is_some_and(|s| serial_ge(s, serial)) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > within {
                return Err(format!(
                    "{} consumer did not reach catalog serial {serial} within {within:?} (now {:?}); log {}:\n{}",
                    self.kind,
                    self.catalog_serial(),
                    self.log.display(),
                    self.log_tail(60)
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Polls until it no longer serves `zone` (no authoritative SOA, twice in a row so a lost
    /// datagram does not count); Err after `within`, or if the server exited.
    pub fn wait_absent(&self, zone: &str, within: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.exited() {
                return Err(format!("{} exited ({status}) while waiting for {zone} to go; log:\n{}", self.kind, self.log_tail(60)));
            }
            if self.serial(zone).is_none() && self.serial(zone).is_none() {
                return Ok(());
            }
            if start.elapsed() > within {
                return Err(format!(
                    "{} still serves {zone} after {within:?}; log {}:\n{}",
                    self.kind,
                    self.log.display(),
                    self.log_tail(60)
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// A raw UDP response to `name rtype` (EDNS, payload 1232, RD clear). Panics when there is
    /// no answer.
    pub fn query(&self, name: &str, rtype: u16) -> Vec<u8> {
        self.try_query(name, rtype)
            .unwrap_or_else(|| panic!("{} at {} did not answer {name} type {rtype}; log:\n{}", self.kind, self.addr, self.log_tail(40)))
    }

    /// Like [`query`](Self::query), None when there is no answer.
    pub fn try_query(&self, name: &str, rtype: u16) -> Option<Vec<u8>> {
        udp_query(self.addr, name, rtype, PEER_QUERY_TIMEOUT, PEER_QUERY_TRIES)
    }

    /// How many incremental transfers of `zone` its log shows as completed: incoming for a
    /// secondary or consumer, outgoing for a primary.
    pub fn incremental_transfers(&self, zone: &str) -> usize {
        count_transfers(self.kind, self.role, &self.log_text(), zone).0
    }

    /// How many full transfers of `zone` (AXFR, or an IXFR answered AXFR-style) its log shows
    /// as completed: incoming for a secondary or consumer, outgoing for a primary.
    pub fn full_transfers(&self, zone: &str) -> usize {
        count_transfers(self.kind, self.role, &self.log_text(), zone).1
    }

    /// The log lines where a transfer, refresh or NOTIFY of `zone` failed because of TSIG (bad
    /// key, bad signature, bad time, unsigned where a key is required).
    pub fn tsig_failures(&self, zone: &str) -> Vec<String> {
        let keyed = self.zone_has_key(zone);
        self.log_text().lines().filter(|l| is_tsig_failure(self.kind, l, zone, keyed)).map(str::to_string).collect()
    }

    /// How it ended, if it has (without reaping it: only Drop reaps, so its process group id
    /// stays reserved until then).
    fn exited(&self) -> Option<String> {
        match leader_state(self.pid()) {
            Leader::Running => None,
            Leader::Exited(how) => Some(how),
            Leader::Reaped => Some("reaped".into()),
        }
    }

    /// The server's pid, also its process group id.
    pub fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }
}

impl Drop for PeerServer {
    /// SIGTERM to the server (NSD's main process then stops and reaps its xfrd and server
    /// children), up to [`STOP_GRACE`] for it to exit, then SIGKILL to its whole process group
    /// (it leads its own group, so this reaches whatever it forked and nothing else), then
    /// reap it. The group is signalled while the leader is still unreaped, so its id cannot
    /// have been reused.
    fn drop(&mut self) {
        let pid = self.pid();
        match leader_state(pid) {
            Leader::Running => {
                // SAFETY: kill(2) on our own, unreaped child.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                let deadline = Instant::now() + STOP_GRACE;
                while leader_state(pid) == Leader::Running && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(10));
                }
                // SAFETY: the group we created (pgid = pid), whose leader is not reaped yet.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
            }
            Leader::Exited(_) => unsafe {
                // SAFETY: as above; the leader is a zombie, not reaped.
                libc::kill(-pid, libc::SIGKILL);
            },
            // Not ours any more (cannot happen: only this reaps): leave the group id alone.
            Leader::Reaped => {}
        }
        let _ = self.child.wait();
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Leader {
    Running,
    /// Exited (how) but not reaped: its pid, and so its group id, are still reserved.
    Exited(String),
    Reaped,
}

/// The state of our child `pid`, without reaping it (`waitid` with `WNOWAIT`).
fn leader_state(pid: libc::pid_t) -> Leader {
    // SAFETY: waitid(2) on our own child with a zeroed siginfo_t it fills in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
    if r != 0 {
        return Leader::Reaped;
    }
    // SAFETY: filled in by a successful waitid; si_pid is 0 when nothing has exited.
    if unsafe { info.si_pid() } == 0 {
        return Leader::Running;
    }
    // SAFETY: as above, for a child that exited.
    let status = unsafe { info.si_status() };
    Leader::Exited(match info.si_code {
        libc::CLD_EXITED => format!("exit status {status}"),
        libc::CLD_DUMPED => format!("signal {status}, core dumped"),
        _ => format!("signal {status}"),
    })
}

// ---------------------------------------------------------------------------------------------
// Log patterns
// ---------------------------------------------------------------------------------------------

/// Counts completed transfers of one zone in a log: `(incremental, full)`.
///
/// The patterns, verbatim from these versions (`Z` the zone, `z` it without the final dot):
/// * Knot 3.2, incoming: `[Z] IXFR, incoming, remote A, finished, ...` (minus those following
///   `[Z] IXFR, incoming, remote A, zone is up-to-date`), `[Z] AXFR, incoming, remote A,
///   finished, ...` (also after `[Z] IXFR, incoming, remote A, receiving AXFR-style IXFR`).
///   Outgoing: `[Z] IXFR, outgoing, remote A, finished, ...` and `[Z] AXFR, outgoing, ...,
///   finished, ...` (also after `incomplete history, serial N, fallback to AXFR`).
/// * BIND 9.18, incoming (xfer-in at debug 3): `transfer of 'z/IN' from A: got incremental
///   response` or `... got nonincremental response`, then `transfer of 'z/IN' from A: Transfer
///   status: success`. Outgoing (xfer-out): `transfer of 'z/IN': IXFR ended: ...`, `transfer of
///   'z/IN': AXFR ended: ...`, `transfer of 'z/IN': AXFR-style IXFR ended: ...`.
/// * NSD 4.6: it never logs IXFR vs AXFR (only `--enable-checking` debug builds do). Counted
///   from `zone Z serial A is updated to B`: full when A is 0 (it held nothing, so it asked
///   AXFR), incremental otherwise (it asked IXFR; an AXFR-style answer looks the same). See
///   [`PeerServer::logs_transfer_kind`].
/// * PowerDNS 4.7: `IXFR-in zone: 'z', primary: 'A', got N delta(s), zone committed with serial
///   S` (N > 0); `AXFR-in zone: 'z', primary: 'A', zone committed with serial S` (also when
///   `IXFR turned into an AXFR`).
fn count_transfers(kind: Peer, role: Role, log: &str, zone: &str) -> (usize, usize) {
    let z = fqdn(zone).to_ascii_lowercase();
    let bare = bare_name(&z);
    let dir = if role == Role::Primary { "outgoing" } else { "incoming" };
    let (mut ixfr, mut axfr) = (0, 0);
    let mut knot_uptodate = false;
    let mut bind_incremental: Option<bool> = None;
    for line in log.lines() {
        let l = line.to_ascii_lowercase();
        match kind {
            Peer::Knot => {
                let tag = format!("[{z}] ");
                if !l.contains(&tag) {
                    continue;
                }
                if l.contains(&format!("] ixfr, {dir}, ")) {
                    if l.contains(", zone is up-to-date") && role != Role::Primary {
                        knot_uptodate = true;
                    } else if l.contains(", finished, ") {
                        if knot_uptodate {
                            knot_uptodate = false;
                        } else {
                            ixfr += 1;
                        }
                    }
                } else if l.contains(&format!("] axfr, {dir}, ")) && l.contains(", finished, ") {
                    axfr += 1;
                }
            }
            Peer::Bind if role == Role::Primary => {
                let tag = format!("transfer of '{bare}/in': ");
                if !l.contains(&tag) {
                    continue;
                }
                if l.contains("axfr-style ixfr ended: ") || l.contains("axfr ended: ") {
                    axfr += 1;
                } else if l.contains("ixfr ended: ") {
                    ixfr += 1;
                }
            }
            Peer::Bind => {
                let tag = format!("transfer of '{bare}/in' from ");
                if !l.contains(&tag) {
                    continue;
                }
                if l.contains(": got incremental response") {
                    bind_incremental = Some(true);
                } else if l.contains(": got nonincremental response") {
                    bind_incremental = Some(false);
                } else if l.contains(": transfer status: success") {
                    match bind_incremental.take() {
                        Some(true) => ixfr += 1,
                        _ => axfr += 1,
                    }
                }
            }
            Peer::Nsd => {
                let Some(rest) = l.split(&format!(": zone {z} serial ")).nth(1) else { continue };
                let Some((from, _)) = rest.split_once(" is updated to ") else { continue };
                if from.trim() == "0" {
                    axfr += 1;
                } else {
                    ixfr += 1;
                }
            }
            Peer::PowerDns => {
                if !l.contains("zone committed with serial") {
                    continue;
                }
                if l.contains(&format!("ixfr-in zone: '{bare}', primary: ")) {
                    if !l.contains(", got 0 deltas,") {
                        ixfr += 1;
                    }
                } else if l.contains(&format!("axfr-in zone: '{bare}', primary: ")) {
                    axfr += 1;
                }
            }
        }
    }
    (ixfr, axfr)
}

/// Whether `line` tells of a TSIG failure for `zone`. Real wording seen:
/// * Knot: `[Z] refresh, remote R, address A, failed (failed to verify TSIG)` (other Knot TSIG
///   errors: `TSIG key not recognized or invalid`, `TSIG signing time out of range`).
/// * BIND: `zone z/IN: refresh: failure trying primary A (source ...): tsig indicates error`;
///   for a NOTIFY (no zone named): `client @... A: request has invalid signature: TSIG K: tsig
///   verify failure (BADSIG)`.
/// * NSD: `xfrd: zone Z, from A: tsig error (Bad Signature)`, `xfrd: zone Z, from A: bad tsig
///   signature`, `xfrd: zone Z received error code SERVER NOT AUTHORITATIVE FOR ZONE from A`
///   (NOTAUTH: the primary's TSIG error); for a NOTIFY (no zone named): `query: bad tsig
///   signature for key K from A`.
/// * PowerDNS: `While checking domain freshness: Query to 'A' for SOA of 'z' returned Rcode
///   Server Not Authoritative for zone / Not Authorized` (NOTAUTH); for a NOTIFY: `Packet for
///   'z' denied: Signature with TSIG key 'K' failed to validate`.
///
/// A NOTAUTH line counts only when the server holds a key for the zone (NOTAUTH is the TSIG
/// error rcode, but a primary also answers it for a zone it does not serve).
fn is_tsig_failure(kind: Peer, line: &str, zone: &str, keyed: bool) -> bool {
    let l = line.to_ascii_lowercase();
    let z = fqdn(zone).to_ascii_lowercase();
    let bare = bare_name(&z);
    let zoneless = match kind {
        Peer::Bind => l.contains("request has invalid signature"),
        Peer::Nsd => l.contains("query: bad tsig signature"),
        Peer::PowerDns => l.contains("received a tsig signed message with a non-validating key"),
        Peer::Knot => false,
    };
    if zoneless {
        return true;
    }
    let mentions = match kind {
        Peer::Knot => l.contains(&format!("[{z}] ")),
        Peer::Bind => l.contains(&format!("{bare}/in")) || l.contains(&format!("'{bare}'")) || l.contains(&format!("({bare})")),
        Peer::Nsd => l.contains(&format!("zone {z} ")) || l.contains(&format!("zone {z},")) || l.contains(&format!(" for {z} ")),
        Peer::PowerDns => l.contains(&format!("'{bare}'")) || l.contains(&format!(" for {bare} from")),
    };
    if !mentions {
        return false;
    }
    const FAILED: [&str; 13] = [
        "fail",
        "error",
        "bad",
        "invalid",
        "denied",
        "refused",
        "not recognized",
        "out of range",
        "expected",
        "mismatch",
        "no tsig",
        "unsigned",
        "not found",
    ];
    let tsig = l.contains("tsig") && FAILED.iter().any(|w| l.contains(w));
    let rcode = ["badsig", "badkey", "badtime", "badtrunc"].iter().any(|w| l.contains(w));
    let notauth = keyed && (l.contains("notauth") || l.contains("not authoritative for zone"));
    tsig || rcode || notauth
}

/// `z` for `z.`, `.` for the root.
fn bare_name(fqdn: &str) -> String {
    let bare = fqdn.trim_end_matches('.');
    if bare.is_empty() {
        ".".into()
    } else {
        bare.into()
    }
}

impl PeerServer {
    /// Whether the log tells IXFR from AXFR: false for NSD 4.6 (see [`count_transfers`]), whose
    /// counts are updates-of-a-held-zone vs initial loads; check the primary's side there.
    pub fn logs_transfer_kind(&self) -> bool {
        self.kind != Peer::Nsd
    }

    fn zone_has_key(&self, zone: &str) -> bool {
        let zone = fqdn(zone).to_ascii_lowercase();
        self.all_keyed || self.keyed_zones.iter().any(|z| fqdn(z).to_ascii_lowercase() == zone)
    }
}

// ---------------------------------------------------------------------------------------------
// Starting peers
// ---------------------------------------------------------------------------------------------

/// Starts `peer` as a secondary of `zones` (each from its own primary, with its own key or
/// none), accepting NOTIFY from each primary and from 127.0.0.0/8, signed with the zone's key
/// or unsigned, and asking IXFR when it holds a version of the zone. Returns once the server
/// answers queries (the zones may not be transferred yet: use [`PeerServer::wait_serial`]).
pub fn start_secondary(peer: Peer, zones: &[SecondaryZone]) -> PeerServer {
    let mut server = match peer {
        Peer::Knot => knot_secondary(zones),
        Peer::Bind => bind_secondary(zones),
        Peer::Nsd => nsd_secondary(zones),
        Peer::PowerDns => pdns_secondary(zones),
    };
    server.keyed_zones = zones.iter().filter(|z| z.key.is_some()).map(|z| fqdn(&z.name)).collect();
    server
}

/// Starts `peer` (Knot, BIND or PowerDNS) as a consumer of the RFC 9432 (version 2) catalog
/// zone `catalog` from `primary`: it transfers the catalog and provisions every member zone
/// as a secondary of the same `primary` (with the same `key`).
pub fn start_catalog_consumer(peer: Peer, catalog: &str, primary: SocketAddr, key: Option<TsigKey>) -> PeerServer {
    let keyed = key.is_some();
    let mut server = match peer {
        Peer::Knot => knot_consumer(catalog, primary, key),
        Peer::Bind => bind_consumer(catalog, primary, key),
        Peer::PowerDns => pdns_consumer(catalog, primary, key),
        Peer::Nsd => panic!("NSD 4.6 has no catalog-zone consumer (it came in NSD 4.9): use Knot, Bind or PowerDns"),
    };
    server.all_keyed = keyed;
    server.catalog = Some(fqdn(catalog));
    server
}

/// Starts `peer` (Knot or BIND) as the primary of `zones` (name, zone file text), sending
/// NOTIFY to each of `notify` (signed with `key` if given) and allowing transfers signed with
/// `key` and, when `allow_transfer_unsigned` or no key, unsigned ones from 127.0.0.0/8. It
/// keeps the history of changes and serves IXFR after [`PeerServer::update_primary_zone`].
/// Returns once it serves the SOA of every zone.
pub fn start_primary(
    peer: Peer,
    zones: &[(String, String)],
    key: Option<TsigKey>,
    notify: &[SocketAddr],
    allow_transfer_unsigned: bool,
) -> PeerServer {
    let keyed = key.is_some();
    let state = PrimaryState {
        zones: zones.iter().map(|(z, _)| fqdn(z)).collect(),
        key,
        notify: notify.to_vec(),
        allow_transfer_unsigned,
        catalog: None,
    };
    let mut server = match peer {
        Peer::Knot => knot_primary(zones, state),
        Peer::Bind => bind_primary(zones, state),
        other => panic!("{other} as a primary is not supported here (Knot or BIND only)"),
    };
    server.all_keyed = keyed;
    for (zone, text) in zones {
        if let Some(serial) = zone_text_serial(text) {
            server.wait_serial(zone, serial, PEER_STARTUP).unwrap_or_else(|e| panic!("primary did not load {zone}: {e}"));
        }
    }
    server
}

/// Starts Knot as the primary of `zones` and of the catalog zone `catalog` it generates from
/// them (`catalog-role: generate`; Knot 3.2 answers that catalog over TCP only), sending
/// NOTIFY for all of them to `notify`, transfers allowed unsigned from 127.0.0.0/8. Zones
/// added or removed later ([`PeerServer::add_primary_zone`], [`PeerServer::remove_primary_zone`])
/// join or leave the catalog. Returns once it serves every zone's SOA.
pub fn start_knot_catalog_primary(zones: &[(String, String)], catalog: &str, notify: &[SocketAddr]) -> PeerServer {
    let state = PrimaryState {
        zones: zones.iter().map(|(z, _)| fqdn(z)).collect(),
        key: None,
        notify: notify.to_vec(),
        allow_transfer_unsigned: true,
        catalog: Some(fqdn(catalog)),
    };
    let server = knot_primary(zones, state);
    for (zone, text) in zones {
        if let Some(serial) = zone_text_serial(text) {
            server.wait_serial(zone, serial, PEER_STARTUP).unwrap_or_else(|e| panic!("primary did not load {zone}: {e}"));
        }
    }
    server
}

impl PeerServer {
    /// As a primary: rewrites the zone file of `zone` with `new_text` and reloads it, so the
    /// primary computes the difference (served as IXFR) and sends NOTIFY. Returns once it
    /// serves the serial of `new_text`.
    pub fn update_primary_zone(&self, zone: &str, new_text: &str) {
        assert_eq!(self.role, Role::Primary, "update_primary_zone on a {:?}", self.role);
        let zone = fqdn(zone);
        let file = self.zone_file(&zone);
        assert!(file.exists(), "{zone} is not a zone of this primary");
        write_zone_file(&file, new_text);
        match &self.control {
            Control::Knotc { .. } => self.knotc(&["-b", "zone-reload", &zone]),
            Control::Rndc { .. } => self.rndc(&["reload", &zone]),
            _ => unreachable!(),
        };
        self.wait_primary_serial(&zone, new_text);
    }

    /// As a primary: adds a zone (writes its file, regenerates the config, reloads it).
    /// Returns once it serves the zone.
    pub fn add_primary_zone(&self, zone: &str, text: &str) {
        assert_eq!(self.role, Role::Primary, "add_primary_zone on a {:?}", self.role);
        let zone = fqdn(zone);
        write_zone_file(&self.zone_file(&zone), text);
        {
            let mut state = self.primary.as_ref().unwrap().lock().unwrap();
            assert!(!state.zones.contains(&zone), "{zone} is already a zone of this primary");
            state.zones.push(zone.clone());
        }
        self.reconfigure_primary();
        self.wait_primary_serial(&zone, text);
    }

    /// As a primary: removes a zone from its config and reloads it. Returns once it no longer
    /// serves the zone.
    pub fn remove_primary_zone(&self, zone: &str) {
        assert_eq!(self.role, Role::Primary, "remove_primary_zone on a {:?}", self.role);
        let zone = fqdn(zone);
        self.primary.as_ref().unwrap().lock().unwrap().zones.retain(|z| *z != zone);
        self.reconfigure_primary();
        self.wait_absent(&zone, RELOAD_DEADLINE).unwrap_or_else(|e| panic!("{e}"));
    }

    /// As a primary: replaces the NOTIFY targets (regenerates the config and reloads it), for
    /// a secondary started after its primary.
    pub fn set_primary_notify(&self, notify: &[SocketAddr]) {
        assert_eq!(self.role, Role::Primary, "set_primary_notify on a {:?}", self.role);
        self.primary.as_ref().unwrap().lock().unwrap().notify = notify.to_vec();
        self.reconfigure_primary();
    }

    fn zone_file(&self, zone: &str) -> PathBuf {
        self.dir.path().join("zones").join(format!("{}zone", fqdn(zone)))
    }

    fn wait_primary_serial(&self, zone: &str, text: &str) {
        if let Some(serial) = zone_text_serial(text) {
            self.wait_serial(zone, serial, RELOAD_DEADLINE).unwrap_or_else(|e| panic!("after reloading {zone}: {e}"));
        }
    }

    fn reconfigure_primary(&self) {
        let state = self.primary.as_ref().unwrap().lock().unwrap();
        match &self.control {
            Control::Knotc { conf } => {
                fs::write(conf, knot_primary_conf(self.dir.path(), self.addr.port(), &state)).expect("write knot.conf");
                drop(state);
                self.knotc(&["reload"]);
            }
            Control::Rndc { named_conf, control_port, .. } => {
                fs::write(named_conf, bind_primary_conf(self.dir.path(), self.addr.port(), *control_port, &state))
                    .expect("write named.conf");
                drop(state);
                self.rndc(&["reconfig"]);
            }
            _ => unreachable!(),
        }
    }

    /// Runs `knotc -c CONF ARGS` (bounded); panics on failure.
    pub fn knotc(&self, args: &[&str]) -> String {
        let Control::Knotc { conf } = &self.control else { panic!("knotc on {}", self.kind) };
        let mut cmd = Command::new(require_tool("knotc", "knot"));
        cmd.arg("-c").arg(conf).arg("-t").arg("15").args(args);
        run_ok(cmd, &format!("knotc {args:?}"))
    }

    /// Like [`knotc`](Self::knotc), None when it fails.
    fn try_knotc(&self, args: &[&str]) -> Option<String> {
        let Control::Knotc { conf } = &self.control else { return None };
        let mut cmd = Command::new(require_tool("knotc", "knot"));
        cmd.arg("-c").arg(conf).arg("-t").arg("5").args(args);
        run_bounded(cmd, "", &format!("knotc {args:?}")).ok()
    }

    /// Runs `rndc -c CONF ARGS` (bounded); panics on failure.
    pub fn rndc(&self, args: &[&str]) -> String {
        let Control::Rndc { conf, .. } = &self.control else { panic!("rndc on {}", self.kind) };
        let mut cmd = Command::new(require_tool("rndc", "bind9"));
        cmd.arg("-c").arg(conf).args(args);
        run_ok(cmd, &format!("rndc {args:?}"))
    }

    /// Runs `pdnsutil --config-dir DIR ARGS` (bounded); panics on failure.
    pub fn pdnsutil(&self, args: &[&str]) -> String {
        let Control::Pdnsutil { config_dir } = &self.control else { panic!("pdnsutil on {}", self.kind) };
        pdnsutil(config_dir, args)
    }
}

// ---------------------------------------------------------------------------------------------
// Knot DNS 3.2
// ---------------------------------------------------------------------------------------------

fn knot_header(d: &Path, port: u16) -> String {
    fs::create_dir_all(d.join("db")).expect("create knot db dir");
    fs::create_dir_all(d.join("zones")).expect("create knot zones dir");
    format!(
        r#"server:
    rundir: "{run}"
    pidfile: "{pid}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 2
    background-workers: 2
database:
    storage: "{db}"
log:
  - target: stderr
    any: info
control:
    listen: "{sock}"
"#,
        run = d.display(),
        pid = d.join("knot.pid").display(),
        db = d.join("db").display(),
        sock = d.join("knot.sock").display(),
    )
}

fn knot_keys(keys: &[&TsigKey]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let mut out = String::from("key:\n");
    for k in keys {
        out.push_str(&format!("  - id: {}\n    algorithm: {}\n    secret: {}\n", k.name, k.algorithm, k.secret));
    }
    out
}

/// Distinct keys (by name); two different secrets under one name is a test bug.
fn distinct_keys<'a>(keys: impl IntoIterator<Item = &'a TsigKey>) -> Vec<&'a TsigKey> {
    let mut out: Vec<&TsigKey> = Vec::new();
    for k in keys {
        match out.iter().find(|o| o.name == k.name) {
            Some(o) => assert_eq!(*o, k, "two TSIG keys named {} with different secrets", k.name),
            None => out.push(k),
        }
    }
    out
}

/// `acl:` rules letting 127.0.0.0/8 send NOTIFY, signed with each key or unsigned.
fn knot_notify_acls(keys: &[&TsigKey]) -> (String, Vec<String>) {
    let mut text = String::new();
    let mut ids = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        text.push_str(&format!("  - id: notify_key{i}\n    address: 127.0.0.0/8\n    key: {}\n    action: notify\n", k.name));
        ids.push(format!("notify_key{i}"));
    }
    text.push_str("  - id: notify_any\n    address: 127.0.0.0/8\n    action: notify\n");
    ids.push("notify_any".into());
    (text, ids)
}

/// The template of a Knot secondary: zone contents in memory and the journal (the file is
/// never written), short retry intervals so a failed bootstrap is retried within seconds.
fn knot_secondary_template(d: &Path, id: &str, extra: &str) -> String {
    format!(
        "  - id: {id}\n    storage: \"{zones}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: all\n    retry-max-interval: 2\n    refresh-max-interval: 60\n{extra}",
        zones = d.join("zones").display()
    )
}

/// Knot as a secondary. Knot 3.2 spells it `master:` (not `primary:`); the `remote` carries
/// the TSIG key, which signs the SOA query and the transfer; `acl` rules with `action: notify`
/// admit NOTIFY from 127.0.0.0/8, one rule per key plus one without a key (unsigned NOTIFY).
/// Logs at `info` to stderr, which names every transfer's kind and direction.
fn knot_secondary(zones: &[SecondaryZone]) -> PeerServer {
    let knotd = require_tool("knotd", "knot");
    let dir = tempdir("knot-secondary");
    let d = dir.path();
    let port = free_port();
    let keys = distinct_keys(zones.iter().filter_map(|z| z.key.as_ref()));
    let mut conf = knot_header(d, port);
    conf.push_str(&knot_keys(&keys));
    let mut remotes: Vec<(SocketAddr, Option<String>)> = Vec::new();
    for z in zones {
        let r = (z.primary, z.key.as_ref().map(|k| k.name.clone()));
        if !remotes.contains(&r) {
            remotes.push(r);
        }
    }
    conf.push_str("remote:\n");
    for (i, (addr, key)) in remotes.iter().enumerate() {
        conf.push_str(&format!("  - id: primary{i}\n    address: {}@{}\n", addr.ip(), addr.port()));
        if let Some(k) = key {
            conf.push_str(&format!("    key: {k}\n"));
        }
    }
    let (acl_text, acl_ids) = knot_notify_acls(&keys);
    conf.push_str("acl:\n");
    conf.push_str(&acl_text);
    conf.push_str("template:\n");
    conf.push_str(&knot_secondary_template(d, "default", ""));
    conf.push_str("zone:\n");
    for z in zones {
        let r = (z.primary, z.key.as_ref().map(|k| k.name.clone()));
        let i = remotes.iter().position(|x| *x == r).unwrap();
        conf.push_str(&format!("  - domain: \"{}\"\n    master: primary{i}\n    acl: [{}]\n", fqdn(&z.name), acl_ids.join(", ")));
    }
    let conf_path = d.join("knot.conf");
    fs::write(&conf_path, conf).expect("write knot.conf");
    let mut cmd = Command::new(knotd);
    cmd.arg("-c").arg(&conf_path);
    let first = zones.first().map(|z| z.name.clone());
    launch(Peer::Knot, Role::Secondary, cmd, dir, port, Control::Knotc { conf: conf_path }, None, first.as_deref())
}

/// Knot as a catalog consumer: the catalog zone has `catalog-role: interpret` and
/// `catalog-template: member`, the template of every member (`master:` the same remote, same
/// key, same NOTIFY ACLs). Knot does not answer queries for an interpreted catalog (REFUSED,
/// EDE 20): use [`PeerServer::catalog_serial`], which asks `knotc zone-status`. A member
/// removed from the catalog is purged (`[member.] zone purged`).
fn knot_consumer(catalog: &str, primary: SocketAddr, key: Option<TsigKey>) -> PeerServer {
    let knotd = require_tool("knotd", "knot");
    let dir = tempdir("knot-consumer");
    let d = dir.path();
    let port = free_port();
    let keys: Vec<&TsigKey> = key.iter().collect();
    let mut conf = knot_header(d, port);
    conf.push_str(&knot_keys(&keys));
    conf.push_str(&format!("remote:\n  - id: primary0\n    address: {}@{}\n", primary.ip(), primary.port()));
    if let Some(k) = &key {
        conf.push_str(&format!("    key: {}\n", k.name));
    }
    let (acl_text, acl_ids) = knot_notify_acls(&keys);
    conf.push_str("acl:\n");
    conf.push_str(&acl_text);
    let member_extra = format!("    master: primary0\n    acl: [{}]\n", acl_ids.join(", "));
    conf.push_str("template:\n");
    conf.push_str(&knot_secondary_template(d, "default", ""));
    conf.push_str(&knot_secondary_template(d, "member", &member_extra));
    conf.push_str(&format!(
        "zone:\n  - domain: \"{}\"\n    master: primary0\n    acl: [{}]\n    catalog-role: interpret\n    catalog-template: member\n",
        fqdn(catalog),
        acl_ids.join(", ")
    ));
    let conf_path = d.join("knot.conf");
    fs::write(&conf_path, conf).expect("write knot.conf");
    let mut cmd = Command::new(knotd);
    cmd.arg("-c").arg(&conf_path);
    launch(Peer::Knot, Role::CatalogConsumer, cmd, dir, port, Control::Knotc { conf: conf_path }, None, Some(catalog))
}

fn knot_primary_conf(d: &Path, port: u16, state: &PrimaryState) -> String {
    let keys: Vec<&TsigKey> = state.key.iter().collect();
    let mut conf = knot_header(d, port);
    conf.push_str(&knot_keys(&keys));
    let mut notify_ids = Vec::new();
    if !state.notify.is_empty() {
        conf.push_str("remote:\n");
        for (i, a) in state.notify.iter().enumerate() {
            conf.push_str(&format!("  - id: notify{i}\n    address: {}@{}\n", a.ip(), a.port()));
            if let Some(k) = &state.key {
                conf.push_str(&format!("    key: {}\n", k.name));
            }
            notify_ids.push(format!("notify{i}"));
        }
    }
    let mut acl_ids = Vec::new();
    conf.push_str("acl:\n");
    if let Some(k) = &state.key {
        conf.push_str(&format!("  - id: xfr_key\n    address: 127.0.0.0/8\n    key: {}\n    action: transfer\n", k.name));
        acl_ids.push("xfr_key");
    }
    if state.key.is_none() || state.allow_transfer_unsigned {
        conf.push_str("  - id: xfr_any\n    address: 127.0.0.0/8\n    action: transfer\n");
        acl_ids.push("xfr_any");
    }
    let mut template = format!(
        "    storage: \"{}\"\n    semantic-checks: off\n    zonefile-sync: -1\n    zonefile-load: difference\n    journal-content: changes\n    acl: [{}]\n",
        d.join("zones").display(),
        acl_ids.join(", ")
    );
    if !notify_ids.is_empty() {
        template.push_str(&format!("    notify: [{}]\n", notify_ids.join(", ")));
    }
    conf.push_str(&format!("template:\n  - id: default\n{template}"));
    // The zones of a generated catalog are its members (a template of their own: the catalog
    // zone itself may not carry `catalog-zone`).
    let member = match &state.catalog {
        Some(catalog) => {
            conf.push_str(&format!("  - id: member\n{template}    catalog-role: member\n    catalog-zone: \"{catalog}\"\n"));
            "    template: member\n"
        }
        None => "",
    };
    conf.push_str("zone:\n");
    if let Some(catalog) = &state.catalog {
        conf.push_str(&format!("  - domain: \"{catalog}\"\n    catalog-role: generate\n"));
    }
    for z in &state.zones {
        conf.push_str(&format!("  - domain: \"{z}\"\n    file: \"{z}zone\"\n{member}"));
    }
    conf
}

/// Knot as a primary: `journal-content: changes` keeps the history and `zonefile-load:
/// difference` turns a reloaded zone file into a changeset (the file's serial must grow), so
/// it serves IXFR; `zonefile-sync: -1` leaves the file as written.
fn knot_primary(zones: &[(String, String)], state: PrimaryState) -> PeerServer {
    let knotd = require_tool("knotd", "knot");
    require_tool("knotc", "knot");
    let dir = tempdir("knot-primary");
    let d = dir.path();
    let port = free_port();
    let conf = knot_primary_conf(d, port, &state);
    for (z, text) in zones {
        write_zone_file(&d.join("zones").join(format!("{}zone", fqdn(z))), text);
    }
    let conf_path = d.join("knot.conf");
    fs::write(&conf_path, conf).expect("write knot.conf");
    let mut cmd = Command::new(knotd);
    cmd.arg("-c").arg(&conf_path);
    let first = zones.first().map(|z| z.0.clone());
    launch(Peer::Knot, Role::Primary, cmd, dir, port, Control::Knotc { conf: conf_path }, Some(state), first.as_deref())
}

// ---------------------------------------------------------------------------------------------
// BIND 9.18
// ---------------------------------------------------------------------------------------------

/// The rndc key (a fixed secret; it only guards a loopback port of a test server).
const RNDC_SECRET: &str = "c2VjcmV0LXJuZGMta2V5LWZvci1wZWVycy10ZXN0cw==";

fn bind_key(k: &TsigKey) -> String {
    format!("key \"{}\" {{ algorithm {}; secret \"{}\"; }};\n", k.name, k.algorithm, k.secret)
}

fn bind_options(d: &Path, port: u16, control_port: u16, extra: &str) -> String {
    format!(
        r#"options {{
    directory "{d}";
    pid-file "{d}/named.pid";
    session-keyfile "{d}/session.key";
    managed-keys-directory "{d}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify-delay 0;
    startup-notify-rate 100;
    notify-rate 100;
    serial-query-rate 100;
    min-refresh-time 2;
    max-retry-time 5;
    min-retry-time 1;
{extra}}};
{logging}key "rndc-key" {{ algorithm hmac-sha256; secret "{RNDC_SECRET}"; }};
controls {{ inet 127.0.0.1 port {control_port} allow {{ 127.0.0.1; }} keys {{ "rndc-key"; }}; }};
"#,
        d = d.display(),
        logging = bind_logging(d),
    )
}

fn bind_primaries(addr: SocketAddr, key: &Option<TsigKey>) -> String {
    match key {
        Some(k) => format!("{} port {} key \"{}\";", addr.ip(), addr.port(), k.name),
        None => format!("{} port {};", addr.ip(), addr.port()),
    }
}

fn bind_allow_notify(keys: &[&TsigKey]) -> String {
    let mut out = String::from("127.0.0.0/8;");
    for k in keys {
        out.push_str(&format!(" key \"{}\";", k.name));
    }
    out
}

fn write_rndc_conf(d: &Path, control_port: u16) -> PathBuf {
    let path = d.join("rndc.conf");
    fs::write(
        &path,
        format!(
            "key \"rndc-key\" {{ algorithm hmac-sha256; secret \"{RNDC_SECRET}\"; }};\noptions {{ default-key \"rndc-key\"; default-server 127.0.0.1; default-port {control_port}; }};\n"
        ),
    )
    .expect("write rndc.conf");
    path
}

/// `-f` (foreground) with `-d 3` so the `debug 3` channel gets xfrin's "got incremental
/// response" / "got nonincremental response"; the noisy per-query categories go to null.
/// `-L` sends what named logs before it has read its `logging` statement (a config error:
/// with `-f` alone it goes to syslog only) to the same file.
fn named_command(d: &Path, conf: &Path) -> Command {
    let named = require_tool("named", "bind9");
    require_tool("rndc", "bind9");
    let mut cmd = Command::new(named);
    cmd.arg("-f").arg("-d").arg("3").arg("-n").arg("1").arg("-L").arg(d.join("bind.log")).arg("-c").arg(conf);
    cmd
}

/// The `logging` statement: to `bind.log` in the temp dir (the file that also takes named's
/// stdout, stderr and `-L` output; all append), the default categories at `info`, xfer-in,
/// xfer-out and notify at `debug 3`.
fn bind_logging(d: &Path) -> String {
    format!(
        r#"logging {{
    channel main {{ file "{log}"; severity info; print-time yes; print-category yes; print-severity yes; }};
    channel xfer {{ file "{log}"; severity debug 3; print-time yes; print-category yes; print-severity yes; }};
    category default {{ main; }};
    category xfer-in {{ xfer; }};
    category xfer-out {{ xfer; }};
    category notify {{ xfer; }};
}};
"#,
        log = d.join("bind.log").display()
    )
}

/// BIND as a secondary: `type secondary` with `primaries { IP port P key K; }` (the key signs
/// SOA queries and transfers), `allow-notify { 127.0.0.0/8; key K; }` (unsigned or signed),
/// `request-ixfr yes`. After a failed first refresh BIND waits for its retry timer (it did not
/// retry within 30 s here): a NOTIFY starts a new attempt at once.
fn bind_secondary(zones: &[SecondaryZone]) -> PeerServer {
    let dir = tempdir("bind-secondary");
    let d = dir.path();
    let port = free_port();
    let control_port = free_port();
    let keys = distinct_keys(zones.iter().filter_map(|z| z.key.as_ref()));
    let mut conf = bind_options(d, port, control_port, "    notify no;\n");
    for k in &keys {
        conf.push_str(&bind_key(k));
    }
    for z in zones {
        let zone = fqdn(&z.name);
        conf.push_str(&format!(
            "zone \"{zone}\" {{ type secondary; file \"{zone}bk\"; primaries {{ {} }}; allow-notify {{ {} }}; request-ixfr yes; }};\n",
            bind_primaries(z.primary, &z.key),
            bind_allow_notify(&keys),
        ));
    }
    let conf_path = d.join("named.conf");
    fs::write(&conf_path, conf).expect("write named.conf");
    let rndc = write_rndc_conf(d, control_port);
    let cmd = named_command(d, &conf_path);
    let first = zones.first().map(|z| z.name.clone());
    launch(
        Peer::Bind,
        Role::Secondary,
        cmd,
        dir,
        port,
        Control::Rndc { conf: rndc, named_conf: conf_path, control_port },
        None,
        first.as_deref(),
    )
}

/// BIND 9.18 as a catalog consumer: `catalog-zones { zone "cat." default-primaries { IP port P
/// key K; } in-memory yes min-update-interval 1; };` in `options` (9.18's grammar says
/// `default-primaries`) plus `allow-new-zones yes` and the catalog zone itself as `type
/// secondary`. 9.18 reads catalog schema version 2 (RFC 9432); members get the
/// `default-primaries` with their key. A catalog change is applied at most once per
/// `min-update-interval` (`new zone version came too soon, deferring update for 1 seconds`).
fn bind_consumer(catalog: &str, primary: SocketAddr, key: Option<TsigKey>) -> PeerServer {
    let dir = tempdir("bind-consumer");
    let d = dir.path();
    let port = free_port();
    let control_port = free_port();
    let catalog = fqdn(catalog);
    let keys: Vec<&TsigKey> = key.iter().collect();
    let extra = format!(
        "    notify no;\n    allow-new-zones yes;\n    allow-notify {{ {} }};\n    catalog-zones {{ zone \"{catalog}\" default-primaries {{ {} }} in-memory yes min-update-interval 1; }};\n",
        bind_allow_notify(&keys),
        bind_primaries(primary, &key)
    );
    let mut conf = bind_options(d, port, control_port, &extra);
    for k in &keys {
        conf.push_str(&bind_key(k));
    }
    conf.push_str(&format!(
        "zone \"{catalog}\" {{ type secondary; file \"{catalog}bk\"; primaries {{ {} }}; }};\n",
        bind_primaries(primary, &key)
    ));
    let conf_path = d.join("named.conf");
    fs::write(&conf_path, conf).expect("write named.conf");
    let rndc = write_rndc_conf(d, control_port);
    let cmd = named_command(d, &conf_path);
    launch(
        Peer::Bind,
        Role::CatalogConsumer,
        cmd,
        dir,
        port,
        Control::Rndc { conf: rndc, named_conf: conf_path, control_port },
        None,
        Some(&catalog),
    )
}

fn bind_primary_conf(d: &Path, port: u16, control_port: u16, state: &PrimaryState) -> String {
    let mut conf =
        bind_options(d, port, control_port, "    notify explicit;\n    ixfr-from-differences yes;\n    max-ixfr-ratio unlimited;\n");
    if let Some(k) = &state.key {
        conf.push_str(&bind_key(k));
    }
    let also_notify: String = state
        .notify
        .iter()
        .map(|a| match &state.key {
            Some(k) => format!(" {} port {} key \"{}\";", a.ip(), a.port(), k.name),
            None => format!(" {} port {};", a.ip(), a.port()),
        })
        .collect();
    let mut allow = String::new();
    if let Some(k) = &state.key {
        allow.push_str(&format!(" key \"{}\";", k.name));
    }
    if state.key.is_none() || state.allow_transfer_unsigned {
        allow.push_str(" 127.0.0.0/8;");
    }
    for z in &state.zones {
        conf.push_str(&format!(
            "zone \"{z}\" {{ type primary; file \"{}\"; notify explicit; also-notify {{{also_notify} }}; allow-transfer {{{allow} }}; ixfr-from-differences yes; }};\n",
            d.join("zones").join(format!("{z}zone")).display()
        ));
    }
    conf
}

/// BIND as a primary: `ixfr-from-differences yes` makes `rndc reload ZONE` journal the
/// difference (served as IXFR); `max-ixfr-ratio unlimited`, or BIND answers an IXFR of a small
/// zone AXFR-style (`IXFR delta size (225 bytes) exceeds the maximum ratio to database size
/// (175 bytes), falling back to AXFR`); `notify explicit` + `also-notify { IP port P key K; }`
/// and `notify-delay 0` send NOTIFY at once; `allow-transfer { key K; [127.0.0.0/8;] }`. The
/// zone file's mtime is moved forward on each rewrite, as BIND skips a reload of a file whose
/// mtime did not change.
fn bind_primary(zones: &[(String, String)], state: PrimaryState) -> PeerServer {
    let dir = tempdir("bind-primary");
    let d = dir.path();
    fs::create_dir_all(d.join("zones")).expect("create zones dir");
    let port = free_port();
    let control_port = free_port();
    for (z, text) in zones {
        write_zone_file(&d.join("zones").join(format!("{}zone", fqdn(z))), text);
    }
    let conf_path = d.join("named.conf");
    fs::write(&conf_path, bind_primary_conf(d, port, control_port, &state)).expect("write named.conf");
    let rndc = write_rndc_conf(d, control_port);
    let cmd = named_command(d, &conf_path);
    let first = zones.first().map(|z| z.0.clone());
    launch(
        Peer::Bind,
        Role::Primary,
        cmd,
        dir,
        port,
        Control::Rndc { conf: rndc, named_conf: conf_path, control_port },
        Some(state),
        first.as_deref(),
    )
}

// ---------------------------------------------------------------------------------------------
// NSD 4.6
// ---------------------------------------------------------------------------------------------

/// NSD as a secondary: `request-xfr: IP@PORT KEY|NOKEY` (not `AXFR ...`, so it asks IXFR once
/// it holds the zone), `allow-notify: 127.0.0.0/8 KEY` and `... NOKEY`; `rrl-ratelimit: 0`,
/// `zonefiles-write: 0`, `xfrd-reload-timeout: 0` (apply a transfer at once), no remote
/// control, `-d` keeps it in the foreground logging to stderr (`verbosity: 2`). NSD 4.6 never
/// logs whether a transfer was IXFR or AXFR (see [`count_transfers`]); it forks an xfrd and a
/// server process, in its process group.
fn nsd_secondary(zones: &[SecondaryZone]) -> PeerServer {
    let nsd = require_tool("nsd", "nsd");
    let dir = tempdir("nsd-secondary");
    let d = dir.path();
    let port = free_port();
    let keys = distinct_keys(zones.iter().filter_map(|z| z.key.as_ref()));
    let mut conf = format!(
        r#"server:
    ip-address: 127.0.0.1
    port: {port}
    do-ip6: no
    zonesdir: "{d}"
    pidfile: "{d}/nsd.pid"
    database: ""
    zonelistfile: "{d}/zone.list"
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    username: ""
    chroot: ""
    server-count: 1
    verbosity: 2
    rrl-ratelimit: 0
    zonefiles-write: 0
    xfrd-reload-timeout: 0
remote-control:
    control-enable: no
"#,
        d = d.display()
    );
    for k in &keys {
        conf.push_str(&format!("key:\n    name: \"{}\"\n    algorithm: {}\n    secret: \"{}\"\n", k.name, k.algorithm, k.secret));
    }
    for z in zones {
        let zone = fqdn(&z.name);
        let key = z.key.as_ref().map(|k| k.name.clone()).unwrap_or_else(|| "NOKEY".into());
        conf.push_str(&format!(
            "zone:\n    name: \"{zone}\"\n    zonefile: \"{zone}zone\"\n    request-xfr: {}@{} {key}\n",
            z.primary.ip(),
            z.primary.port()
        ));
        for k in &keys {
            conf.push_str(&format!("    allow-notify: 127.0.0.0/8 {}\n", k.name));
        }
        conf.push_str("    allow-notify: 127.0.0.0/8 NOKEY\n");
    }
    let conf_path = d.join("nsd.conf");
    fs::write(&conf_path, conf).expect("write nsd.conf");
    let mut cmd = Command::new(nsd);
    cmd.arg("-d").arg("-c").arg(&conf_path);
    let first = zones.first().map(|z| z.name.clone());
    launch(Peer::Nsd, Role::Secondary, cmd, dir, port, Control::None, None, first.as_deref())
}

// ---------------------------------------------------------------------------------------------
// PowerDNS Authoritative 4.7
// ---------------------------------------------------------------------------------------------

fn pdnsutil(config_dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(require_tool("pdnsutil", "pdns-server"));
    cmd.arg("--config-dir").arg(config_dir).args(args);
    run_ok(cmd, &format!("pdnsutil {args:?}"))
}

/// The gsqlite3 schema shipped by pdns-backend-sqlite3 (`dpkg -L pdns-backend-sqlite3`).
fn pdns_schema() -> PathBuf {
    let known = PathBuf::from("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql");
    if known.is_file() {
        return known;
    }
    let listed =
        Command::new("dpkg").args(["-L", "pdns-backend-sqlite3"]).output().ok().map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    listed
        .and_then(|l| l.lines().find(|p| p.ends_with("/schema.sqlite3.sql") && Path::new(p).is_file()).map(PathBuf::from))
        .unwrap_or_else(|| panic!("no gsqlite3 schema: install pdns-backend-sqlite3 (`apt-get install pdns-backend-sqlite3`)"))
}

/// A PowerDNS config dir with an initialized sqlite database; returns the port.
fn pdns_setup(d: &Path) -> u16 {
    require_tool("pdns_server", "pdns-server");
    require_tool("pdnsutil", "pdns-server");
    let sqlite3 = require_tool("sqlite3", "sqlite3");
    let port = free_port();
    let db = d.join("pdns.sqlite3");
    let conf = format!(
        r#"launch=gsqlite3
gsqlite3-database={db}
gsqlite3-pragma-synchronous=0
local-address=127.0.0.1
local-port={port}
socket-dir={d}
daemon=no
guardian=no
disable-syslog=yes
log-timestamp=yes
loglevel=6
security-poll-suffix=
primary=no
secondary=yes
xfr-cycle-interval=1
allow-notify-from=127.0.0.0/8
allow-axfr-ips=127.0.0.0/8
only-notify=
cache-ttl=0
query-cache-ttl=0
negquery-cache-ttl=0
zone-cache-refresh-interval=0
zone-metadata-cache-ttl=0
consistent-backends=yes
receiver-threads=1
distributor-threads=1
webserver=no
api=no
"#,
        db = db.display(),
        d = d.display()
    );
    fs::write(d.join("pdns.conf"), conf).expect("write pdns.conf");
    let schema = fs::read_to_string(pdns_schema()).expect("read gsqlite3 schema");
    let mut cmd = Command::new(sqlite3);
    cmd.arg(&db);
    run_with_stdin(cmd, &schema, "sqlite3 (gsqlite3 schema)");
    port
}

fn pdns_command(d: &Path) -> Command {
    let mut cmd = Command::new(require_tool("pdns_server", "pdns-server"));
    cmd.arg(format!("--config-dir={}", d.display()));
    cmd
}

/// PowerDNS as a secondary: `pdnsutil create-secondary-zone Z IP:PORT`, `set-meta Z IXFR 1`
/// (else it only asks AXFR), and with a key `import-tsig-key` + `activate-tsig-key Z K
/// secondary` (metadata AXFR-MASTER-TSIG). `secondary=yes`, `xfr-cycle-interval=1` (the
/// refresh loop), `allow-notify-from=127.0.0.0/8`, `security-poll-suffix=` (no resolver
/// query at start), every cache off so a new serial is answered at once. It checks
/// its zones once per cycle, so a transfer after NOTIFY takes about 1 s. Accepts unsigned
/// NOTIFY (`allow-unsigned-notify` defaults to yes); logs at `loglevel=6` to stdout.
fn pdns_secondary(zones: &[SecondaryZone]) -> PeerServer {
    let dir = tempdir("pdns-secondary");
    let d = dir.path().to_path_buf();
    let port = pdns_setup(&d);
    for k in distinct_keys(zones.iter().filter_map(|z| z.key.as_ref())) {
        pdnsutil(&d, &["import-tsig-key", &k.name, &k.algorithm, &k.secret]);
    }
    for z in zones {
        let zone = fqdn(&z.name);
        pdnsutil(&d, &["create-secondary-zone", &zone, &z.primary.to_string()]);
        pdnsutil(&d, &["set-meta", &zone, "IXFR", "1"]);
        if let Some(k) = &z.key {
            pdnsutil(&d, &["activate-tsig-key", &zone, &k.name, "secondary"]);
        }
    }
    let cmd = pdns_command(&d);
    let first = zones.first().map(|z| z.name.clone());
    launch(Peer::PowerDns, Role::Secondary, cmd, dir, port, Control::Pdnsutil { config_dir: d }, None, first.as_deref())
}

/// PowerDNS 4.7 as a catalog consumer: `pdnsutil create-secondary-zone CAT IP:PORT`,
/// `set-kind CAT consumer`, with a key `activate-tsig-key CAT K secondary`. 4.7 gives a new
/// member only the catalog's primaries, neither its TSIG key (so a primary requiring TSIG
/// refuses the member's AXFR: `unable to xfr zone (ResolverException): AXFR chunk error: Query
/// Refused`) nor IXFR metadata: an sqlite trigger on `domains` adds `AXFR-MASTER-TSIG` and
/// `IXFR 1` to each member as it is created. The catalog itself must be transferred by AXFR:
/// 4.7 reads members only from an AXFR (given IXFR metadata it logs `IXFR-in zone: 'cat', ...,
/// got 0 deltas` and never sees a change). Log: `AXFR-in zone: 'cat', primary: 'A',
/// Catalog-Zone create zone 'm'` / `... Catalog-Zone delete zone 'm'`.
fn pdns_consumer(catalog: &str, primary: SocketAddr, key: Option<TsigKey>) -> PeerServer {
    let dir = tempdir("pdns-consumer");
    let d = dir.path().to_path_buf();
    let port = pdns_setup(&d);
    let catalog = fqdn(catalog);
    pdnsutil(&d, &["create-secondary-zone", &catalog, &primary.to_string()]);
    pdnsutil(&d, &["set-kind", &catalog, "consumer"]);
    if let Some(k) = &key {
        pdnsutil(&d, &["import-tsig-key", &k.name, &k.algorithm, &k.secret]);
        pdnsutil(&d, &["activate-tsig-key", &catalog, &k.name, "secondary"]);
    }
    // No IXFR metadata on the catalog itself: 4.7 applies catalog changes only from an AXFR
    // (with IXFR it logs `IXFR-in zone: 'cat', ..., got 0 deltas` and never sees new members).
    // 4.7 creates a member with the catalog's primaries only: no AXFR-MASTER-TSIG, no IXFR
    // metadata. This trigger gives every zone created from now on (the members) both, in the
    // transaction that creates it.
    let mut sql = String::from("CREATE TRIGGER lmdns_member_meta AFTER INSERT ON domains BEGIN\n");
    sql.push_str("  INSERT INTO domainmetadata (domain_id, kind, content) VALUES (NEW.id, 'IXFR', '1');\n");
    if let Some(k) = &key {
        sql.push_str(&format!(
            "  INSERT INTO domainmetadata (domain_id, kind, content) VALUES (NEW.id, 'AXFR-MASTER-TSIG', '{}');\n",
            k.name.replace('\'', "''")
        ));
    }
    sql.push_str("END;\n");
    let mut sqlite = Command::new(require_tool("sqlite3", "sqlite3"));
    sqlite.arg(d.join("pdns.sqlite3"));
    run_with_stdin(sqlite, &sql, "sqlite3 (member metadata trigger)");
    let cmd = pdns_command(&d);
    launch(Peer::PowerDns, Role::CatalogConsumer, cmd, dir, port, Control::Pdnsutil { config_dir: d }, None, Some(&catalog))
}

// ---------------------------------------------------------------------------------------------
// Process plumbing
// ---------------------------------------------------------------------------------------------

fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("lmdns-peer-{what}-")).tempdir().expect("create a temporary directory")
}

/// Spawns `cmd` in its own process group with stdout and stderr to `DIR/<peer>.log`, then waits
/// (bounded by [`PEER_STARTUP`]) until it answers a query for `probe` (or the root) at all.
#[allow(clippy::too_many_arguments)]
fn launch(
    kind: Peer,
    role: Role,
    mut cmd: Command,
    dir: tempfile::TempDir,
    port: u16,
    control: Control,
    primary: Option<PrimaryState>,
    probe: Option<&str>,
) -> PeerServer {
    let log = dir.path().join(format!("{kind}.log"));
    // Append mode: BIND's logging channel appends to the same file.
    let out = fs::File::options().create(true).append(true).open(&log).expect("create log file");
    let err = out.try_clone().expect("clone log file");
    cmd.current_dir(dir.path()).stdin(Stdio::null()).stdout(out).stderr(err);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {kind} ({cmd:?}): {e}"));
    let server = PeerServer {
        kind,
        role,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        log,
        child,
        control,
        primary: primary.map(Mutex::new),
        keyed_zones: Vec::new(),
        all_keyed: false,
        catalog: None,
        dir,
    };
    let probe = probe.map(fqdn).unwrap_or_else(|| ".".into());
    let start = Instant::now();
    loop {
        if let Some(status) = server.exited() {
            panic!("{kind} ({role:?}) exited ({status}) at start; log {}:\n{}", server.log.display(), server.log_tail(60));
        }
        if server.try_query(&probe, 6).is_some() {
            return server;
        }
        if start.elapsed() > PEER_STARTUP {
            panic!(
                "{kind} ({role:?}) did not answer on {} within {PEER_STARTUP:?}; log {}:\n{}",
                server.addr,
                server.log.display(),
                server.log_tail(60)
            );
        }
        std::thread::sleep(POLL);
    }
}

/// Runs `cmd` to completion within [`CONTROL_TIMEOUT`] (killed after), returning its stdout;
/// panics with its output when it fails.
fn run_ok(cmd: Command, what: &str) -> String {
    run_with_stdin(cmd, "", what)
}

fn run_with_stdin(cmd: Command, input: &str, what: &str) -> String {
    run_bounded(cmd, input, what).unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `cmd` with `input` on stdin within [`CONTROL_TIMEOUT`] (killed after); its stdout, or
/// an error with its output.
fn run_bounded(mut cmd: Command, input: &str, what: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let in_path = dir.path().join("in");
    fs::write(&in_path, input).expect("write stdin file");
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    cmd.stdin(fs::File::open(&in_path).unwrap()).stdout(fs::File::create(&out_path).unwrap()).stderr(fs::File::create(&err_path).unwrap());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {what} ({cmd:?}): {e}"))?;
    let deadline = Instant::now() + CONTROL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{what} did not finish within {CONTROL_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let out = fs::read_to_string(&out_path).unwrap_or_default();
    let err = fs::read_to_string(&err_path).unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        Err(format!("{what} failed ({status}):\n{out}\n{err}"))
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// `name` with exactly one trailing dot (the root stays ".").
pub fn fqdn(name: &str) -> String {
    let trimmed = name.trim_end_matches('.');
    format!("{trimmed}.")
}

/// RFC 1982: `a` equals or follows `b`.
pub fn serial_ge(a: u32, b: u32) -> bool {
    a == b || (a.wrapping_sub(b) as i32) > 0
}

/// The SOA serial of a zone file text (the third field after `SOA`, comments and parentheses
/// ignored), if it can be found.
pub fn zone_text_serial(text: &str) -> Option<u32> {
    let mut tokens = Vec::new();
    for line in text.lines() {
        let mut cleaned = String::new();
        let mut quoted = false;
        for c in line.chars() {
            match c {
                '"' => {
                    quoted = !quoted;
                    cleaned.push(c);
                }
                ';' if !quoted => break,
                '(' | ')' if !quoted => cleaned.push(' '),
                _ => cleaned.push(c),
            }
        }
        tokens.extend(cleaned.split_whitespace().map(str::to_string));
    }
    let i = tokens.iter().position(|t| t.eq_ignore_ascii_case("SOA"))?;
    tokens.get(i + 3)?.parse().ok()
}

/// Writes a zone file and makes sure its mtime moves forward (BIND skips a reload of a file
/// whose mtime did not change; writes within one second can keep it).
fn write_zone_file(path: &Path, text: &str) {
    let before = fs::metadata(path).and_then(|m| m.modified()).ok();
    fs::create_dir_all(path.parent().unwrap()).expect("create zones dir");
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let now = SystemTime::now();
    let mtime = match before {
        Some(b) if b >= now => b + Duration::from_secs(1),
        _ => now,
    };
    let f = fs::File::options().write(true).open(path).expect("open zone file");
    f.set_modified(mtime).expect("set zone file mtime");
}

/// Sends an unsigned NOTIFY for `zone` (SOA, AA set) from 127.0.0.1 over UDP to `to` and
/// returns the rcode of the answer (0 = NOERROR), or an error when none came.
pub fn send_notify(to: SocketAddr, zone: &str) -> Result<u8, String> {
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&0x4e4fu16.to_be_bytes());
    q.extend_from_slice(&[0x24, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    q.extend_from_slice(&wire(zone));
    q.extend_from_slice(&6u16.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    let bytes = udp_exchange(to, &q, PEER_QUERY_TIMEOUT, 3).ok_or_else(|| format!("no answer to NOTIFY {zone} from {to}"))?;
    Ok(bytes[3] & 0x0f)
}

/// One UDP query (EDNS 1232, RD clear) with `tries` tries of `timeout` each.
fn udp_query(addr: SocketAddr, name: &str, rtype: u16, timeout: Duration, tries: usize) -> Option<Vec<u8>> {
    use std::sync::atomic::{AtomicU16, Ordering};
    static ID: AtomicU16 = AtomicU16::new(0x5a5a);
    let id = ID.fetch_add(0x0103, Ordering::Relaxed);
    let mut q = Vec::with_capacity(64);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]);
    q.extend_from_slice(&wire(name));
    q.extend_from_slice(&rtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    // OPT: root owner, type 41, payload 1232, no extended rcode/flags, no options.
    q.extend_from_slice(&[0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    udp_exchange(addr, &q, timeout, tries)
}

/// Sends `q` and waits for the answer with its ID: `tries` tries of `timeout` each.
fn udp_exchange(addr: SocketAddr, q: &[u8], timeout: Duration, tries: usize) -> Option<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.connect(addr).ok()?;
    sock.set_read_timeout(Some(timeout)).ok()?;
    let mut buf = vec![0u8; 65535];
    for _ in 0..tries {
        sock.send(q).ok()?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 12 && buf[..2] == q[..2] => return Some(buf[..n].to_vec()),
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => break,
                Err(_) => return None,
            }
        }
    }
    None
}
