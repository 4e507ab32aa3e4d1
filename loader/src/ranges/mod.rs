//! IP-range tables: the write side (format in [`lmdb_schema::ranges`]).
//!
//! * [`input`]: reading CSV, JSON Lines, GeoLite2 and IP2Location files into memory-compact
//!   staged ranges, with per-line errors.
//! * [`write`]: validating staged ranges (sorted, no duplicate starts, no overlaps) and
//!   replacing a table in one transaction; single-range add/delete; drop; export; lookup.
//! * `rows`: reading and keying CSV rows on a second thread while the first interns them.
//! * `arena`: interning the distinct metadata objects of an import in their stored form.
//! * [`cli`]: the `lmdns-loader ranges …` subcommands.

mod arena;
pub mod cli;
pub mod input;
mod rows;
pub mod write;

pub use cli::{run, RangesCommand};
pub use input::Format;
pub use write::{import, ImportOptions, ImportReport};
