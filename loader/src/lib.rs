//! lmdns-loader as a library: the only writer of an lmdns database.
//!
//! * [`zonefile`]: RFC 1035 master files → records, and records → master-file text.
//! * [`zones`]: every zone change goes through here, inside one LMDB write transaction per
//!   command ([`zones::replace_zone`], [`zones::delete_zone`], [`zones::ZoneEdits`]).
//! * [`ranges`]: IP-range tables.
//! * [`update`]: DNS UPDATE; [`serve`]: the long-running writer that takes it from the network.
//! * [`secondary`]: zones copied from primaries, and catalogs followed, inside `serve`.
//! * [`cli`] and [`commands`]: the `lmdns-loader` command line; [`input`]: bounds on what it reads.

pub mod cli;
pub mod commands;
pub mod input;
pub mod logging;
pub mod ranges;
pub mod secondary;
pub mod serve;
pub mod update;
pub mod zonefile;
pub mod zones;
