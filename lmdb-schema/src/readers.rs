//! Read transactions that survive the environment around them: a map grown by a writer beyond
//! this process's (`MDB_MAP_RESIZED`) is adopted at a moment no read transaction of the process
//! is open, and reader slots left by crashed processes are cleared.
//!
//! LMDB lets a process remap only while it has no transaction open (`mdb_env_set_mapsize`).
//! Every read transaction of the process goes through [`crate::Store::read_txn`], which marks
//! the calling thread's slot busy for the transaction's life. A thread that meets
//! `MDB_MAP_RESIZED` pauses new transactions, waits (bounded) for every slot to go idle,
//! remaps, and lets the others go on. A slot is one per thread, on its own cache line, written
//! only by its thread: the per-batch cost is two stores and a load of a flag nobody writes
//! while no remap is under way.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use heed::{Env, RoTxn, WithTls};

/// How long a remap waits for open transactions to end (a zone transfer streams from one).
const QUIESCE_DEADLINE: Duration = Duration::from_secs(30);

/// One thread's "in a read transaction" flag, alone on its cache line.
#[repr(align(128))]
struct Slot {
    busy: AtomicBool,
}

struct Gate {
    /// A remap is under way: no new transaction starts.
    paused: AtomicBool,
    /// Every thread's slot (leaked: one per thread that ever read, a few hundred bytes each).
    slots: Mutex<Vec<&'static Slot>>,
}

static GATE: Gate = Gate { paused: AtomicBool::new(false), slots: Mutex::new(Vec::new()) };

/// Counters for `/metrics`.
pub static REMAPS: AtomicU64 = AtomicU64::new(0);
pub static READER_ERRORS: AtomicU64 = AtomicU64::new(0);
pub static STALE_READERS_CLEARED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static SLOT: &'static Slot = {
        let slot: &'static Slot = Box::leak(Box::new(Slot { busy: AtomicBool::new(false) }));
        GATE.slots.lock().unwrap_or_else(|p| p.into_inner()).push(slot);
        slot
    };
}

/// A read transaction; its thread's slot stays busy until it is dropped.
pub struct ReadTxn {
    txn: Option<RoTxn<'static, WithTls>>,
    slot: &'static Slot,
    serial: u64,
}

/// Serial of the next read transaction opened (one shared add per transaction, not per query).
static NEXT_SERIAL: AtomicU64 = AtomicU64::new(1);

impl ReadTxn {
    /// A number no other transaction of this process has or will have: what a memo of values
    /// read in it (`name_cache`) checks before handing one out.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// Hands the transaction to `f`, which consumes it (heed's `open_databases_and_commit`);
    /// the slot is busy until `f` returns.
    pub fn consume<R>(mut self, f: impl FnOnce(RoTxn<'static, WithTls>) -> R) -> R {
        let txn = self.txn.take().expect("taken only once");
        f(txn)
        // `self` drops here: the slot goes idle after the transaction ended inside `f`.
    }
}

impl Deref for ReadTxn {
    type Target = RoTxn<'static, WithTls>;
    fn deref(&self) -> &Self::Target {
        self.txn.as_ref().expect("taken only on drop")
    }
}

impl Drop for ReadTxn {
    fn drop(&mut self) {
        self.txn.take();
        self.slot.busy.store(false, SeqCst);
    }
}

/// A read transaction a worker keeps from one batch to the next for as long as no commit has
/// landed since it began, so a batch costs one check of the newest transaction id instead of a
/// begin and an abort (LMDB's begin zeroes a per-transaction table sized by `max_dbs`: about
/// 100 KB, 1.4 µs per transaction, measured in the geo bench).
///
/// A held transaction pins its snapshot's pages and keeps the thread's slot busy, so its owner
/// releases it before anything that may wait long (a receive that timed out, opening
/// databases); a remap under way ends it at the next batch.
#[derive(Default)]
pub struct HeldReadTxn {
    txn: Option<ReadTxn>,
}

impl HeldReadTxn {
    /// The held transaction if it still reads the newest commit, or a new one in its place.
    pub(crate) fn current(&mut self, env: &'static Env) -> Result<&ReadTxn, heed::Error> {
        let fresh = self.txn.as_ref().is_some_and(|t| !GATE.paused.load(SeqCst) && t.id() == env.info().last_txn_id);
        if !fresh {
            // Ended before the next begins: a thread has one reader slot.
            self.txn = None;
            self.txn = Some(read_txn(env)?);
        }
        Ok(self.txn.as_ref().expect("set above"))
    }

    /// The held transaction, if any (without checking it is the newest).
    pub fn get(&self) -> Option<&ReadTxn> {
        self.txn.as_ref()
    }

    /// Ends the held transaction, if any.
    pub fn release(&mut self) {
        self.txn = None;
    }

    /// Whether a transaction is held.
    pub fn is_held(&self) -> bool {
        self.txn.is_some()
    }
}

fn wait_unpaused() {
    while GATE.paused.load(SeqCst) {
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Opens a read transaction on `env`, adopting a grown map when LMDB asks to.
pub(crate) fn read_txn(env: &'static Env) -> Result<ReadTxn, heed::Error> {
    let slot = SLOT.with(|s| *s);
    let mut remapped = false;
    loop {
        slot.busy.store(true, SeqCst);
        if GATE.paused.load(SeqCst) {
            slot.busy.store(false, SeqCst);
            wait_unpaused();
            continue;
        }
        match env.read_txn() {
            Ok(txn) => return Ok(ReadTxn { txn: Some(txn), slot, serial: NEXT_SERIAL.fetch_add(1, Relaxed) }),
            Err(heed::Error::Mdb(heed::MdbError::MapResized)) if !remapped => {
                slot.busy.store(false, SeqCst);
                remap(env)?;
                remapped = true;
            }
            Err(e) => {
                slot.busy.store(false, SeqCst);
                if matches!(e, heed::Error::Mdb(heed::MdbError::ReadersFull)) {
                    READER_ERRORS.fetch_add(1, SeqCst);
                }
                return Err(e);
            }
        }
    }
}

/// Adopts the map size the writer recorded, once no read transaction of this process is open.
/// Concurrent callers wait for the one doing it.
fn remap(env: &'static Env) -> Result<(), heed::Error> {
    if GATE.paused.compare_exchange(false, true, SeqCst, SeqCst).is_err() {
        wait_unpaused();
        return Ok(());
    }
    let deadline = Instant::now() + QUIESCE_DEADLINE;
    let quiet = loop {
        let busy = GATE.slots.lock().unwrap_or_else(|p| p.into_inner()).iter().any(|s| s.busy.load(SeqCst));
        if !busy {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let result = if quiet {
        // SAFETY: no read transaction of this process is open (every one marks its slot and
        // none starts while paused), and a read-only process has no write transaction.
        unsafe { env.resize(0) }
    } else {
        Err(heed::Error::Mdb(heed::MdbError::MapResized))
    };
    if result.is_ok() {
        REMAPS.fetch_add(1, SeqCst);
    }
    GATE.paused.store(false, SeqCst);
    result
}

/// Clears the reader slots of processes that died holding them (their old pages could never be
/// reused); returns how many.
pub fn clear_stale(env: &Env) -> Result<usize, heed::Error> {
    let cleared = env.clear_stale_readers()?;
    STALE_READERS_CLEARED.fetch_add(cleared as u64, SeqCst);
    Ok(cleared)
}
