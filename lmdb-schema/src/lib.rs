//! The on-disk format of lmdns, owned in one place.
//!
//! * [`store`]: the LMDB environment, database names, map size and schema version.
//! * [`name`]: owner names as keys in DNS canonical order.
//! * [`node`]: the per-name value — pre-encoded RRsets plus the summary the server needs.
//! * [`zone`]: per-zone metadata.
//! * [`lookup`]: read-side lookups shared by server, loader and tools.
//! * [`ranges`]: IP-range tables for client metadata.
//! * [`rtype`]: record type codes.

pub mod lookup;
pub mod name;
pub mod node;
pub mod ranges;
pub mod rtype;
pub mod store;
pub mod zone;

pub use store::{OpenOptions, Store, StoreError, DEFAULT_MAP_SIZE, SCHEMA_VERSION};
