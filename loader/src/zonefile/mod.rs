//! RFC 1035 master-file parsing and presentation.
