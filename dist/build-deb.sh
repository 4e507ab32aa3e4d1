#!/usr/bin/env bash
# Builds the Debian package `lmdns` (target/debian/lmdns_VERSION-1_ARCH.deb): lmdns-loader and
# lmdns-server in /usr/bin, dist/lmdns.service and dist/lmdns-writer.service (installed, not
# enabled), /etc/lmdns/lmdns.toml (a conffile, from dist/lmdns.toml), the man pages and the
# bash, zsh and fish completions, and a postinst (dist/debian/postinst) creating the system
# user lmdns and an empty database in /var/lib/lmdns.
#
#   dist/build-deb.sh [--fast] [CARGO-DEB ARGS...]
#
# Steps: build the binaries (release profile), have lmdns-docgen write the man pages and
# completions into TARGET/release/deb-assets/ (gzipped pages, as Debian installs them), then
# `cargo deb -p lmdns --no-build`, which reads [package.metadata.deb] in packaging/Cargo.toml.
# Binaries are stripped (the release profile keeps line tables for profiling). --fast
# compresses the .deb less (CI). Needs cargo-deb: `cargo install cargo-deb --locked`.
set -euo pipefail
cd "$(dirname "$0")/.."

fast=()
if [ "${1:-}" = --fast ]; then
  fast=(--fast)
  shift
fi

if ! command -v cargo-deb >/dev/null; then
  echo "build-deb.sh: cargo-deb is missing; install it with: cargo install cargo-deb --locked" >&2
  exit 1
fi

cargo build --release --locked -p lmdns-loader -p lmdns-server -p lmdns-docgen
# Wherever CARGO_TARGET_DIR or .cargo/config put it; cargo-deb maps `target/release/` there.
target_dir=$(cargo metadata --format-version 1 --no-deps --locked |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

assets="$target_dir/release/deb-assets"
rm -rf "$assets"
"$target_dir/release/lmdns-docgen" "$assets" >/dev/null
# -n: no file name or time in the gzip header, so the package is reproducible.
gzip -9n "$assets"/man/*.1

cargo deb -p lmdns --no-build --locked --strip "${fast[@]}" "$@"
