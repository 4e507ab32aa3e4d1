//! The on-disk format of lmdns, owned in one place.
//!
//! * [`store`]: the LMDB environment, database names, map size and schema version.
//! * [`name`]: owner names as keys in DNS canonical order; [`name_cache`]: a worker's memo of
//!   the name lookups of its current read transaction.
//! * [`node`]: the per-name value — pre-encoded RRsets plus the summary the server needs.
//! * [`zone`]: per-zone metadata.
//! * [`ranges`]: IP-range tables for client metadata.
//! * [`rtype`]: record type codes.
//! * [`journal`]: the per-zone IXFR journal; [`changes`]: which zones each commit changed.
//! * [`keys`]: TSIG keys; [`catalog`]: catalog-zone members; [`geo_rr`]: the private RR types
//!   that carry geo variants between lmdns servers; [`secondary`]: zones copied from primaries.
//! * [`hit_rate`]: when a worker's cache stands aside.

pub mod catalog;
pub mod changes;
pub mod geo_rr;
pub mod hit_rate;
pub mod journal;
pub mod keys;
pub mod name;
pub mod name_cache;
pub mod node;
pub mod nsec3;
pub mod prefetch;
pub mod ranges;
pub mod readers;
pub mod rtype;
pub mod secondary;
pub mod store;
pub mod zone;

pub use store::{meta_keys, store_max_readers, OpenOptions, Store, StoreError, DEFAULT_MAP_SIZE, SCHEMA_VERSION};
