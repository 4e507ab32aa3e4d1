//! IP-range tables.
