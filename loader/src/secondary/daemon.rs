//! The secondary side of `lmdns-loader serve`: a scheduler thread that knows when each
//! secondary zone is due (its refresh timer, its expiry, a NOTIFY), and transfer threads that
//! talk to the primaries and hand what they received to the writer's commit thread as jobs,
//! where it is applied in one nested transaction of a group commit (`crate::serve`).
//!
//! Nothing here is the source of truth: every zone's timers and state are in the database
//! (`secondary_zones`), written with each refresh, so a writer killed at any moment restarts
//! where it was — a transfer in flight is lost whole and is simply due again. Zones added,
//! changed or removed by `lmdns-loader` commands while `serve` runs are picked up from the
//! change log.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use heed::RoTxn;
use lmdb_schema::node::NodeView;
use lmdb_schema::secondary::SecondaryZone;
use lmdb_schema::zone::{soa_from_rdata, SoaFields};
use lmdb_schema::{changes, name, rtype, Store};
use lmdns_proto::tsig::Key;

use super::apply::{self, Collector, Rejected};
use super::client::{self, Style};
use super::timers::Timers;
use super::{catalog, now};
use crate::serve::{Done, Job};
use crate::zones::ZoneWriter;

/// Seconds before a zone whose refresh could not be committed is tried again.
const COMMIT_RETRY: u64 = 2;
/// Longest time the checks after a start are spread over, seconds.
const STARTUP_SPREAD_MAX: u64 = 60;
/// How often the scheduler looks at the change log when nothing else wakes it.
const TICK: Duration = Duration::from_millis(100);

/// What the scheduler is told.
pub enum Event {
    /// A NOTIFY for the zone came from one of its primaries: refresh now.
    Notify { apex: Vec<u8>, serial: Option<u32> },
    /// A refresh ended; the zone's state as committed (None: the zone is no longer a
    /// secondary zone).
    Finished { apex: Vec<u8>, state: Option<Box<SecondaryZone>> },
}

/// The secondary side's settings.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub timers: Timers,
    /// Refreshes (SOA queries and transfers) run at once.
    pub transfers: usize,
}

/// One zone as the scheduler tracks it.
struct Slot {
    /// Unix seconds it is due (0: now).
    due: u64,
    running: bool,
    /// A NOTIFY came while it was running: refresh again when done.
    again: bool,
}

/// A refresh for a transfer thread to run.
struct Task {
    apex: Vec<u8>,
    state: SecondaryZone,
}

/// Starts the scheduler and `config.transfers` transfer threads; they commit through `jobs`
/// and stop with `stop`. Returns where events go.
pub fn start(store: Store, jobs: Sender<Job>, config: Config, stop: Arc<AtomicBool>) -> anyhow::Result<Sender<Event>> {
    let (events, inbox) = crossbeam_channel::unbounded::<Event>();
    let (tasks, work) = crossbeam_channel::bounded::<Task>(config.transfers.max(1));
    for i in 0..config.transfers.max(1) {
        let (work, jobs, events) = (work.clone(), jobs.clone(), events.clone());
        std::thread::Builder::new().name(format!("xfr-in-{i}")).spawn(move || {
            for task in work {
                let apex = task.apex.clone();
                let state = refresh(store, &jobs, task, &config.timers);
                let _ = events.send(Event::Finished { apex, state: state.map(Box::new) });
            }
        })?;
    }
    let mut scheduler = Scheduler::load(store)?;
    std::thread::Builder::new().name("xfr-schedule".into()).spawn(move || scheduler.run(&inbox, &tasks, &stop))?;
    Ok(events)
}

struct Scheduler {
    store: Store,
    slots: HashMap<Vec<u8>, Slot>,
    queue: BTreeSet<(u64, Vec<u8>)>,
    /// The change counter last read from.
    seen: u64,
}

/// When a zone is next due, from its state: its refresh, or its expiry if that comes first.
fn due(state: &SecondaryZone) -> u64 {
    match state.expires_at {
        Some(at) if !state.expired => state.next_refresh.min(at),
        _ => state.next_refresh,
    }
}

impl Scheduler {
    fn load(store: Store) -> anyhow::Result<Scheduler> {
        let txn = store.read_txn()?;
        let mut s = Scheduler { store, slots: HashMap::new(), queue: BTreeSet::new(), seen: store.change_counter(&txn)? };
        let zones = super::list(&store, &txn)?;
        let count = zones.len();
        // Every zone is checked soon after a start, whatever its timers say: a NOTIFY sent
        // while no writer ran, or a transfer killed with the last one, is found now rather
        // than at the next REFRESH. The checks (SOA queries) are spread, one second per 500
        // zones, up to a minute, so a restart does not flood the primaries.
        let now = now();
        let spread = (count as u64 / 500).min(STARTUP_SPREAD_MAX);
        for (i, (apex, mut state)) in zones.into_iter().enumerate() {
            let soon = now + spread * i as u64 / count.max(1) as u64;
            state.next_refresh = state.next_refresh.min(soon);
            s.put(apex, &state);
        }
        tracing::info!(zones = count, spread_seconds = spread, "secondary zones loaded; each is checked now");
        Ok(s)
    }

    fn put(&mut self, apex: Vec<u8>, state: &SecondaryZone) {
        let due = due(state);
        if let Some(slot) = self.slots.get_mut(&apex) {
            if !slot.running {
                self.queue.remove(&(slot.due, apex.clone()));
                slot.due = due;
                self.queue.insert((due, apex));
            }
            return;
        }
        self.slots.insert(apex.clone(), Slot { due, running: false, again: false });
        self.queue.insert((due, apex));
    }

    fn remove(&mut self, apex: &[u8]) {
        if let Some(slot) = self.slots.remove(apex) {
            self.queue.remove(&(slot.due, apex.to_vec()));
        }
    }

    fn now_due(&mut self, apex: &[u8]) {
        let Some(slot) = self.slots.get_mut(apex) else { return };
        if slot.running {
            slot.again = true;
            return;
        }
        self.queue.remove(&(slot.due, apex.to_vec()));
        slot.due = 0;
        self.queue.insert((0, apex.to_vec()));
    }

    fn run(&mut self, inbox: &Receiver<Event>, tasks: &Sender<Task>, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match inbox.recv_timeout(TICK) {
                Ok(event) => self.handle(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(event) = inbox.try_recv() {
                self.handle(event);
            }
            if let Err(e) = self.follow_changes() {
                tracing::error!("reading the change log: {e:#}");
            }
            self.dispatch(tasks);
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Notify { apex, serial } => {
                tracing::debug!(zone = %name::key_to_text(&apex), serial, "refresh on NOTIFY");
                self.now_due(&apex);
            }
            Event::Finished { apex, state } => {
                let again = self.slots.get(&apex).is_some_and(|s| s.again);
                if let Some(slot) = self.slots.get_mut(&apex) {
                    slot.running = false;
                    slot.again = false;
                }
                let state = match state {
                    Some(state) => *state,
                    // No state committed: the zone is gone, or the commit itself failed (its
                    // error is logged); a zone still configured is tried again shortly.
                    None => match self.store.read_txn().map_err(anyhow::Error::from).and_then(|txn| super::get(&self.store, &txn, &apex)) {
                        Ok(Some(mut state)) => {
                            state.next_refresh = state.next_refresh.max(now() + COMMIT_RETRY);
                            state
                        }
                        _ => return self.remove(&apex),
                    },
                };
                self.put(apex.clone(), &state);
                if again {
                    self.now_due(&apex);
                }
            }
        }
    }

    /// Zones that commands added, changed or removed since the last look.
    fn follow_changes(&mut self) -> anyhow::Result<()> {
        let txn = self.store.read_txn()?;
        let counter = self.store.change_counter(&txn)?;
        if counter == self.seen {
            return Ok(());
        }
        let mut touched = BTreeSet::new();
        let oldest_kept = counter.saturating_sub(changes::KEEP);
        if self.seen < oldest_kept {
            // Too far behind the log: look at every secondary zone again.
            touched.extend(self.slots.keys().cloned());
            touched.extend(super::list(&self.store, &txn)?.into_iter().map(|(apex, _)| apex));
        } else {
            let from = changes::key(self.seen + 1);
            for item in self.store.changes.range(&txn, &(Bound::Included(&from[..]), Bound::Unbounded)).map_err(|e| self.store.error(e))? {
                let (_, value) = item.map_err(|e| self.store.error(e))?;
                touched.extend(changes::decode(value).filter(|(k, _)| *k != changes::Kind::Content).map(|(_, apex)| apex.to_vec()));
            }
        }
        self.seen = counter;
        for apex in touched {
            match super::get(&self.store, &txn, &apex)? {
                Some(state) => {
                    let is_new = !self.slots.contains_key(&apex);
                    self.put(apex.clone(), &state);
                    if is_new {
                        tracing::info!(zone = %state.zone, "secondary zone added");
                    }
                }
                None if self.slots.contains_key(&apex) => {
                    // A zone being refreshed finds itself gone at commit and reports so.
                    if !self.slots[&apex].running {
                        self.remove(&apex);
                    }
                    tracing::info!(zone = %name::key_to_text(&apex), "secondary zone removed");
                }
                None => {}
            }
        }
        Ok(())
    }

    fn dispatch(&mut self, tasks: &Sender<Task>) {
        let now = now();
        while let Some((due, apex)) = self.queue.first().cloned() {
            if due > now {
                return;
            }
            let state = match self.store.read_txn().map_err(anyhow::Error::from).and_then(|txn| super::get(&self.store, &txn, &apex)) {
                Ok(Some(state)) => state,
                Ok(None) => {
                    self.remove(&apex);
                    continue;
                }
                Err(e) => {
                    tracing::error!("reading secondary zone {}: {e:#}", name::key_to_text(&apex));
                    return;
                }
            };
            match tasks.try_send(Task { apex: apex.clone(), state }) {
                Ok(()) => {
                    self.queue.pop_first();
                    if let Some(slot) = self.slots.get_mut(&apex) {
                        slot.running = true;
                    }
                }
                // Every transfer thread is busy: the rest wait their turn.
                Err(_) => return,
            }
        }
    }
}

/// Our copy's SOA: RDATA and fields (None before the first transfer).
pub fn stored_soa(store: &Store, txn: &RoTxn, apex: &[u8]) -> Option<(Vec<u8>, SoaFields)> {
    let bytes = store.names.get(txn, apex).ok()??;
    let node = NodeView::parse(bytes).ok()?;
    let section = node.section(name::label_count(apex) as u8)?;
    let rdata = section.rrset(rtype::SOA)?.rdatas().next()?.to_vec();
    let fields = soa_from_rdata(&rdata)?;
    Some((rdata, fields))
}

/// Hands `run` to the commit thread and waits for its result (None: the writer stopped, or
/// the commit failed).
fn commit<T: Send + 'static>(
    jobs: &Sender<Job>,
    run: impl FnOnce(&Store, &mut heed::RwTxn<'_>) -> (bool, T) + Send + 'static,
) -> Option<T> {
    let (tx, rx) = crossbeam_channel::bounded(1);
    let job = Job::new(move |store, txn| {
        let (commit, value) = run(store, txn);
        Done { commit, after: Box::new(move |committed| drop(tx.send(committed.then_some(value)))) }
    });
    jobs.send(job).ok()?;
    rx.recv().ok().flatten()
}

/// One refresh of one zone: SOA query, transfer if behind, applied and committed; primaries
/// tried in order. Returns the zone's state as committed.
fn refresh(store: Store, jobs: &Sender<Job>, task: Task, timers: &Timers) -> Option<SecondaryZone> {
    let Task { apex, state } = task;
    let zone = name::key_to_wire(&apex);
    let (ours, key) = match store.read_txn() {
        Ok(txn) => (stored_soa(&store, &txn, &apex), state.key.as_deref().map(|k| super::tsig_key(&store, &txn, k))),
        Err(e) => return record_failure(jobs, &apex, format!("reading the database: {e}"), false, *timers),
    };
    let key = match key.transpose() {
        Ok(key) => key,
        Err(e) => return record_failure(jobs, &apex, e, false, *timers),
    };
    if state.primaries.is_empty() {
        return record_failure(jobs, &apex, "no primaries".into(), false, *timers);
    }
    let mut errors = Vec::new();
    let mut transferred = false;
    for &primary in &state.primaries {
        match refresh_from(jobs, &apex, &zone, primary, ours.as_ref(), key.as_ref(), &state, *timers) {
            Ok(state) => return state,
            Err((e, tried_transfer)) => {
                tracing::warn!(zone = %state.zone, %primary, "refresh failed: {e}");
                transferred |= tried_transfer;
                errors.push(format!("{primary}: {e}"));
            }
        }
    }
    record_failure(jobs, &apex, errors.join("; "), transferred, *timers)
}

/// A refresh from one primary. Err: what went wrong, and whether a transfer was tried.
#[allow(clippy::too_many_arguments)]
fn refresh_from(
    jobs: &Sender<Job>,
    apex: &[u8],
    zone: &[u8],
    primary: SocketAddr,
    ours: Option<&(Vec<u8>, SoaFields)>,
    key: Option<&Key>,
    state: &SecondaryZone,
    timers: Timers,
) -> Result<Option<SecondaryZone>, (String, bool)> {
    let started = std::time::Instant::now();
    if let Some((_, fields)) = ours {
        // A primary that does not answer the SOA over UDP (Knot 3.2 answers its generated
        // catalogs over TCP only) is asked by IXFR straight away, which says "current" by a
        // lone SOA just as well.
        let theirs = match client::soa_serial(primary, zone, key) {
            Ok(serial) => serial,
            Err(e) => {
                tracing::debug!(zone = %state.zone, %primary, "SOA query failed ({e}); asking by IXFR");
                fields.serial.wrapping_add(1)
            }
        };
        if !lmdb_schema::journal::serial_gt(theirs, fields.serial) {
            if theirs != fields.serial {
                tracing::warn!(zone = %state.zone, %primary, theirs, ours = fields.serial, "the primary's serial is behind ours; keeping our copy");
            }
            let fields = fields.clone();
            return Ok(commit_state(jobs, apex, move |s, _, now| apply::succeeded(s, &fields, Style::UpToDate, 0, now, &timers)));
        }
    }
    let mut our_soa = ours.map(|(rdata, _)| rdata.as_slice());
    // An IXFR that does not fit our copy is dropped for an AXFR, once.
    for _ in 0..2 {
        let mut collected = Collector::new(apex);
        let received = client::fetch(primary, zone, our_soa, key, &mut collected).map_err(|e| (e, true))?;
        let ours_serial = ours.map(|(_, f)| f.serial);
        let records = collected.records;
        let (apex_owned, primary_text) = (apex.to_vec(), primary.to_string());
        let result = commit(jobs, move |store, txn| apply_transfer(store, txn, &apex_owned, collected, received, ours_serial, &timers))
            .ok_or_else(|| ("the commit failed (see the log)".to_string(), true))?;
        match result {
            Ok((applied, state)) => {
                if applied.changed {
                    tracing::info!(
                        zone = %state.as_ref().map_or("-", |s| s.zone.as_str()),
                        primary = %primary_text,
                        kind = applied.style.name(),
                        serial = applied.serial,
                        records = applied.records,
                        received = records,
                        bytes = received.bytes,
                        ms = started.elapsed().as_millis() as u64,
                        "transfer applied"
                    );
                }
                return Ok(state);
            }
            Err(Rejected::Inconsistent(why)) if our_soa.is_some() => {
                tracing::warn!(zone = %state.zone, primary = %primary_text, "IXFR does not fit our copy ({why}); AXFR");
                our_soa = None;
            }
            Err(Rejected::Inconsistent(why) | Rejected::Refused(why)) => return Err((why, true)),
        }
    }
    Err(("IXFR and AXFR both rejected".into(), true))
}

type Transferred = Result<(apply::Applied, Option<SecondaryZone>), Rejected>;

/// The commit job of a transfer: applied in a nested transaction with the zone's new state
/// (and, for a followed catalog, its members); rejected, nothing of it stays.
fn apply_transfer(
    store: &Store,
    txn: &mut heed::RwTxn<'_>,
    apex: &[u8],
    collected: Collector,
    received: client::Received,
    ours: Option<u32>,
    timers: &Timers,
) -> (bool, Transferred) {
    let mut state = match super::get(store, txn, apex) {
        Ok(Some(state)) => state,
        // Removed while the transfer ran: nothing to apply.
        Ok(None) => {
            return (false, Ok((apply::Applied { style: received.style, serial: received.serial, records: 0, changed: false }, None)))
        }
        Err(e) => return (false, Err(Rejected::Refused(e.to_string()))),
    };
    let mut inner = match store.env().nested_write_txn(txn) {
        Ok(inner) => inner,
        Err(e) => return (false, Err(Rejected::Refused(store.error(e).to_string()))),
    };
    let result = (|| -> Result<apply::Applied, Rejected> {
        let applied = apply::apply(store, &mut inner, apex, collected, received, ours)?;
        let (_, fields) = stored_soa(store, &inner, apex).ok_or_else(|| Rejected::Refused("no SOA after the transfer".into()))?;
        apply::succeeded(&mut state, &fields, received.style, received.bytes, now(), timers);
        if state.consumer && (applied.changed || ours.is_none()) {
            catalog::reconcile(store, &mut inner, apex, &state).map_err(Rejected::Refused)?;
        }
        let mut writer = ZoneWriter::for_transfer(store, &mut inner);
        apply::store_state(&mut writer, apex, &state)?;
        writer.finish(false)?;
        Ok(applied)
    })();
    match result {
        Ok(applied) => match inner.commit() {
            Ok(()) => (true, Ok((applied, Some(state)))),
            Err(e) => (false, Err(Rejected::Refused(store.error(e).to_string()))),
        },
        Err(rejected) => (false, Err(rejected)),
    }
}

/// Commits a change of the zone's state alone (`change` gets it, our copy's SOA and the time).
fn commit_state(
    jobs: &Sender<Job>,
    apex: &[u8],
    change: impl FnOnce(&mut SecondaryZone, Option<&SoaFields>, u64) + Send + 'static,
) -> Option<SecondaryZone> {
    let apex = apex.to_vec();
    commit(jobs, move |store, txn| {
        let result = (|| -> Result<Option<SecondaryZone>, crate::zones::ZoneError> {
            let found = super::get(store, txn, &apex).map_err(|e| crate::zones::ZoneError::Corrupt(format!("{e:#}")))?;
            let Some(mut state) = found else { return Ok(None) };
            let soa = stored_soa(store, txn, &apex).map(|(_, fields)| fields);
            change(&mut state, soa.as_ref(), now());
            let mut writer = ZoneWriter::for_transfer(store, txn);
            apply::store_state(&mut writer, &apex, &state)?;
            writer.finish(false)?;
            Ok(Some(state))
        })();
        match result {
            Ok(state) => (true, state),
            Err(e) => {
                tracing::error!(zone = %name::key_to_text(&apex), "recording the zone's state: {e}");
                (false, None)
            }
        }
    })
    .flatten()
}

fn record_failure(jobs: &Sender<Job>, apex: &[u8], error: String, transfer: bool, timers: Timers) -> Option<SecondaryZone> {
    let apex_owned = apex.to_vec();
    let state = commit_state(jobs, apex, move |state, soa, now| {
        let was_expired = state.expired;
        apply::failed(state, error, soa, transfer, now, &timers);
        if state.expired && !was_expired {
            tracing::warn!(zone = %state.zone, "zone expired: no successful refresh within its SOA EXPIRE; answered SERVFAIL");
        }
    });
    if state.is_none() {
        tracing::debug!(zone = %name::key_to_text(&apex_owned), "failure not recorded (zone gone or writer stopping)");
    }
    state
}
