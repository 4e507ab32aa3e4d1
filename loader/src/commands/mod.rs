//! One module per `lmdns-loader` command group.

pub mod apply;
pub mod db;
pub mod record;
pub mod zone;
