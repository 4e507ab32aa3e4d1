//! The answer function shared by every transport: query bytes in, response bytes out.

use std::net::SocketAddr;

use heed::{RoTxn, WithTls};
use lmdb_schema::{Store, StoreError};

/// Settings that shape answers (not transport).
#[derive(Clone, Debug)]
pub struct AnswerConfig {
    /// Largest UDP response we send, whatever the client advertises (EDNS), in bytes.
    pub max_udp_size: u16,
}

impl Default for AnswerConfig {
    fn default() -> Self {
        AnswerConfig { max_udp_size: 1232 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// Who asked, and how.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub transport: Transport,
}

/// Per-worker reusable state, so answering allocates nothing after warm-up.
#[derive(Default)]
pub struct Scratch {
    resolve: crate::answer::internet::ResolveScratch,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch::default()
    }
}

pub struct Engine {
    store: Store,
    config: AnswerConfig,
}

impl Engine {
    pub fn new(store: Store, config: AnswerConfig) -> Self {
        Engine { store, config }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn config(&self) -> &AnswerConfig {
        &self.config
    }

    /// A read transaction for one batch of packets. Open one per batch, never across batches, so
    /// every loader commit is seen by the next batch.
    pub fn read_txn(&self) -> Result<RoTxn<'static, WithTls>, StoreError> {
        self.store.read_txn()
    }

    /// Answers one query into `out` (cleared first). Returns false if the packet must be dropped
    /// without a reply (responses, garbage too short to carry an ID).
    pub fn answer(&self, txn: &RoTxn, scratch: &mut Scratch, query: &[u8], client: &Client, out: &mut Vec<u8>) -> bool {
        crate::answer::respond(&self.store, &self.config, txn, &mut scratch.resolve, query, client.transport, out)
    }
}
