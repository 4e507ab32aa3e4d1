//! DNS wire pieces shared by `lmdns-server` and `lmdns-loader`, off the per-query path.
