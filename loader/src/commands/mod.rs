//! One module per `lmdns-loader` command group.

pub mod apply;
pub mod check;
pub mod db;
pub mod key;
pub mod record;
pub mod secondary;
pub mod zone;
pub mod zone_files;
