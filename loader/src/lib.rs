//! lmdns-loader as a library: the only writer of an lmdns database.
//!
//! * [`zonefile`]: RFC 1035 master files → records, and records → master-file text.
//! * [`zones`]: every zone change goes through [`zones::ZoneWriter`], inside one LMDB write
//!   transaction per command.
//! * [`ranges`]: IP-range tables.

pub mod ranges;
pub mod zonefile;
pub mod zones;
