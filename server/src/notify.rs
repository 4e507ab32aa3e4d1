//! NOTIFY out (RFC 1996): tells secondaries at once when a zone's serial changes.
//!
//! One thread watches the database cheaply: every [`WATCH_INTERVAL`] it opens a read
//! transaction and reads the change counter; when it moved, the change log entries since the
//! last one seen name the zones that changed (never a scan of every zone). For each such zone
//! a NOTIFY goes to the server's `--notify` targets and the zone's own (`zone notify`), signed
//! when the target has a key. A target that does not answer gets the NOTIFY again with
//! backoff, [`TRIES`] times in all; a newer change of the zone replaces a pending one. When the
//! set of zones changes, generated catalogs (`--catalog`) are notified to the `--notify` targets.
//!
//! NOTIFY only speeds things up: a secondary that misses one still finds the change at its
//! next SOA refresh.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use heed::RoTxn;
use lmdb_schema::zone::ZoneMeta;
use lmdb_schema::{changes, meta_keys, name, rtype, Store};
use lmdns_proto::build::MessageBuilder;
use lmdns_proto::tsig::{self, Key, StreamVerifier, DEFAULT_FUDGE};

use crate::answer::catalog::Catalog;
use crate::answer::signed;
use crate::ops::replication::ReplicationStats;
use crate::server::Stop;

/// How often the database is looked at for new commits.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(10);
/// NOTIFY messages sent per change and target before giving up.
pub const TRIES: u32 = 5;
/// Wait before the first retry; it doubles with each try.
const FIRST_RETRY: Duration = Duration::from_secs(1);

const OPCODE_NOTIFY: u16 = 4 << 11;
const FLAG_QR: u16 = 0x8000;
const FLAG_AA: u16 = 0x0400;

/// What to notify, where: the server's targets and catalogs.
#[derive(Clone, Debug, Default)]
pub struct NotifyConfig {
    pub targets: Vec<SocketAddr>,
    pub catalogs: Vec<Catalog>,
}

/// One NOTIFY waiting for its answer.
struct Pending {
    zone: Vec<u8>,
    serial: u32,
    soa: Vec<u8>,
    target: SocketAddr,
    key: Option<String>,
    id: u16,
    tries: u32,
    due: Instant,
    /// The request MAC of the last signed try, to check the answer's signature.
    request: Option<(Key, Vec<u8>)>,
}

/// The sender's state: open sockets and pending NOTIFYs, keyed by (zone, target).
struct Sender<'a> {
    store: &'a Store,
    config: &'a NotifyConfig,
    stats: Arc<ReplicationStats>,
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    pending: HashMap<(Vec<u8>, SocketAddr), Pending>,
    next_id: u16,
    last_counter: u64,
    last_zone_set: u64,
}

/// Runs the NOTIFY sender until `stop`. It runs even with no `--notify` target: zones can gain
/// targets of their own at any time (`zone notify`).
pub fn run(store: &Store, config: &NotifyConfig, stats: Arc<ReplicationStats>, stop: &Stop) -> anyhow::Result<()> {
    let txn = store.read_txn()?;
    let last_counter = store.change_counter(&txn)?;
    let last_zone_set = store.meta_u64(&txn, meta_keys::ZONE_SET_VERSION, 0)?;
    drop(txn);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let seed = std::process::id() as u16 ^ nanos as u16;
    let mut sender =
        Sender { store, config, stats, v4: None, v6: None, pending: HashMap::new(), next_id: seed, last_counter, last_zone_set };
    let mut buf = vec![0u8; 4096];
    while !stop.requested() {
        if let Err(e) = sender.watch() {
            tracing::warn!("NOTIFY: cannot read the database: {e:#}");
        }
        sender.send_due();
        sender.wait_for_answers(WATCH_INTERVAL);
        sender.receive(&mut buf);
        sender.expire();
    }
    Ok(())
}

impl Sender<'_> {
    /// Queues NOTIFYs for what changed since the last look.
    fn watch(&mut self) -> anyhow::Result<()> {
        let txn = self.store.read_txn()?;
        let counter = self.store.change_counter(&txn)?;
        if counter > self.last_counter {
            let mut zones: Vec<Vec<u8>> = Vec::new();
            let mut complete = true;
            for entry in self.store.change_log(&txn, self.last_counter, counter) {
                match entry? {
                    Some(value) => zones.extend(
                        changes::decode(value)
                            .filter(|(k, _)| matches!(k, changes::Kind::Content | changes::Kind::Added))
                            .map(|(_, apex)| apex.to_vec()),
                    ),
                    None => complete = false,
                }
            }
            if !complete {
                // Further behind than the change log reaches: the zones' own record says which
                // changed since (one pass over the zones, only in this case).
                for item in self.store.zones.iter(&txn)? {
                    let (apex, value) = item?;
                    if ZoneMeta::decode(value).is_ok_and(|m| m.changed_at > self.last_counter) {
                        zones.push(apex.to_vec());
                    }
                }
            }
            zones.sort();
            zones.dedup();
            for apex in zones {
                self.queue_zone(&txn, &apex)?;
            }
            self.last_counter = counter;
        }
        let zone_set = self.store.meta_u64(&txn, meta_keys::ZONE_SET_VERSION, 0)?;
        if zone_set != self.last_zone_set {
            self.last_zone_set = zone_set;
            for cat in &self.config.catalogs {
                let soa = cat.soa(zone_set as u32);
                for &target in &self.config.targets {
                    self.queue(cat.wire.clone(), zone_set as u32, soa.rdata.clone(), target, None);
                }
            }
        }
        Ok(())
    }

    fn queue_zone(&mut self, txn: &RoTxn, apex: &[u8]) -> anyhow::Result<()> {
        let Some(value) = self.store.zones.get(txn, apex)? else { return Ok(()) };
        let Ok(meta) = ZoneMeta::decode(value) else { return Ok(()) };
        let depth = name::label_count(apex) as u8;
        let Some(node) = self.store.names.get(txn, apex)? else { return Ok(()) };
        let Ok(node) = lmdb_schema::node::NodeView::parse(node) else { return Ok(()) };
        let Some(soa) = node.section(depth).and_then(|s| s.rrset(rtype::SOA)).and_then(|r| r.rdatas().next().map(<[u8]>::to_vec)) else {
            return Ok(());
        };
        let wire = name::key_to_wire(apex);
        let targets = self.config.targets.iter().map(|&t| (t, None)).chain(meta.notify.iter().map(|t| (t.addr, t.key.clone())));
        let targets: Vec<_> = targets.collect();
        for (target, key) in targets {
            self.queue(wire.clone(), meta.soa.serial, soa.clone(), target, key);
        }
        Ok(())
    }

    fn queue(&mut self, zone: Vec<u8>, serial: u32, soa: Vec<u8>, target: SocketAddr, key: Option<String>) {
        self.next_id = self.next_id.wrapping_mul(31821).wrapping_add(13849);
        let pending =
            Pending { zone: zone.clone(), serial, soa, target, key, id: self.next_id, tries: 0, due: Instant::now(), request: None };
        self.pending.insert((zone, target), pending);
    }

    fn socket(&mut self, target: SocketAddr) -> Option<&UdpSocket> {
        let slot = if target.is_ipv4() { &mut self.v4 } else { &mut self.v6 };
        if slot.is_none() {
            let local: SocketAddr = if target.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
            match UdpSocket::bind(local).and_then(|s| s.set_nonblocking(true).map(|()| s)) {
                Ok(s) => *slot = Some(s),
                Err(e) => {
                    tracing::warn!("NOTIFY: cannot open a UDP socket for {target}: {e}");
                    return None;
                }
            }
        }
        slot.as_ref()
    }

    /// Sends every NOTIFY whose time has come.
    fn send_due(&mut self) {
        let now = Instant::now();
        let due: Vec<(Vec<u8>, SocketAddr)> =
            self.pending.iter().filter(|(_, p)| p.due <= now && p.tries < TRIES).map(|(k, _)| k.clone()).collect();
        for k in due {
            let Some(p) = self.pending.get(&k) else { continue };
            let (message, request) = self.message(p);
            let target = p.target;
            let sent = self.socket(target).map(|s| s.send_to(&message, target));
            let p = self.pending.get_mut(&k).expect("present");
            p.tries += 1;
            p.due = now + FIRST_RETRY * (1 << (p.tries - 1));
            p.request = request;
            match sent {
                Some(Ok(_)) => {
                    self.stats.notify_sent();
                    tracing::debug!(zone = %name::wire_to_text(&k.0), %target, try_ = p.tries, "NOTIFY sent");
                }
                Some(Err(e)) => tracing::debug!("NOTIFY to {target}: {e}"),
                None => {}
            }
        }
    }

    /// The NOTIFY message of `p` (question: the zone's SOA; answer: the SOA itself, RFC 1996
    /// §3.7), signed when its target has a key in the database.
    fn message(&self, p: &Pending) -> (Vec<u8>, Option<(Key, Vec<u8>)>) {
        let mut m = MessageBuilder::new(p.id, OPCODE_NOTIFY | FLAG_AA);
        // A zone name and an SOA we read from the database always fit a small message.
        let _ = m
            .question(&p.zone, rtype::SOA, 1)
            .and_then(|()| m.record(lmdns_proto::build::Section::Answer, &p.zone, rtype::SOA, 1, 0, &p.soa));
        let mut message = m.finish();
        let key = p.key.as_deref().and_then(|k| {
            let txn = self.store.read_txn().ok()?;
            signed::lookup_key(self.store, &txn, &name::key_to_wire(&name::key_from_dotted(k).ok()?))
        });
        if p.key.is_some() && key.is_none() {
            tracing::warn!(key = p.key.as_deref().unwrap_or(""), "NOTIFY: the target's TSIG key is not in the database; sending unsigned");
        }
        let request = key.map(|key| {
            let mac = tsig::sign_request(&mut message, &key, signed::now(), DEFAULT_FUDGE);
            (key, mac)
        });
        (message, request)
    }

    /// Sleeps until an answer arrives or `timeout` passes (so answers are read at once and
    /// commits looked for every `timeout`).
    fn wait_for_answers(&self, timeout: Duration) {
        use std::os::fd::AsRawFd;
        let mut fds: Vec<libc::pollfd> = [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .map(|s| libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 })
            .collect();
        if fds.is_empty() {
            std::thread::sleep(timeout);
            return;
        }
        // SAFETY: `fds` is a live array of pollfd of the given length.
        unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout.as_millis() as libc::c_int) };
    }

    /// Reads answers and retires the NOTIFYs they acknowledge.
    fn receive(&mut self, buf: &mut [u8]) {
        for family in 0..2 {
            loop {
                let socket = if family == 0 { self.v4.as_ref() } else { self.v6.as_ref() };
                let Some(socket) = socket else { break };
                let Ok((n, from)) = socket.recv_from(buf) else { break };
                let reply = &buf[..n];
                if n < 12 {
                    continue;
                }
                let id = u16::from_be_bytes([reply[0], reply[1]]);
                let flags = u16::from_be_bytes([reply[2], reply[3]]);
                if flags & FLAG_QR == 0 || flags & 0x7800 != OPCODE_NOTIFY {
                    continue;
                }
                let Some(key) = self.pending.iter().find(|(_, p)| p.id == id && p.target == from).map(|(k, _)| k.clone()) else { continue };
                let p = &self.pending[&key];
                if let Some((tsig_key, mac)) = &p.request {
                    let mut verifier = StreamVerifier::new(tsig_key.clone(), mac.clone());
                    if verifier.verify(reply, signed::now()).is_err() {
                        tracing::debug!("NOTIFY answer from {from} with a bad signature; ignored");
                        continue;
                    }
                }
                let zone = name::wire_to_text(&p.zone);
                match flags & 0x000F {
                    0 => {
                        self.stats.notify_acked();
                        tracing::debug!(%zone, target = %from, serial = p.serial, "NOTIFY acknowledged");
                    }
                    rcode => {
                        self.stats.notify_failed();
                        tracing::warn!(%zone, target = %from, rcode, serial = p.serial, "NOTIFY refused by the secondary");
                    }
                }
                self.pending.remove(&key);
            }
        }
    }

    /// Gives up on NOTIFYs past their last try: one log line each.
    fn expire(&mut self) {
        let now = Instant::now();
        let stats = Arc::clone(&self.stats);
        self.pending.retain(|_, p| {
            let gone = p.tries >= TRIES && p.due <= now;
            if gone {
                stats.notify_failed();
                tracing::warn!(zone = %name::wire_to_text(&p.zone), target = %p.target, serial = p.serial, tries = TRIES, "NOTIFY not answered; the secondary will find the change at its next refresh");
            }
            !gone
        });
    }
}
