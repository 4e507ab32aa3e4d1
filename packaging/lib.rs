//! The `lmdns` Debian package's metadata lives in this crate's Cargo.toml; there is no code.
//! Build the package with `dist/build-deb.sh`.
