#!/usr/bin/env bash
# Serves the demo: builds lmdns, imports every zone in fixtures/zones (and the demo range table)
# into a fresh database, and runs lmdns-server on 127.0.0.1 and [::1], port 5353 (PORT=... to
# change). Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
port="${PORT:-5353}"
db="${DB:-target/demo-db}"
cargo build --release --locked -p lmdns-loader -p lmdns-server
rm -rf "$db"
target/release/lmdns-loader --db "$db" zone import-dir fixtures/zones
if [ -f fixtures/ranges/demo.csv ]; then
  target/release/lmdns-loader --db "$db" ranges import --table geo fixtures/ranges/demo.csv
fi
echo "serving on 127.0.0.1:$port and [::1]:$port; try: dig @127.0.0.1 -p $port www.example.com A"
listen=(--listen "127.0.0.1:$port")
if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then listen+=(--listen "[::1]:$port"); fi
exec target/release/lmdns-server --db "$db" "${listen[@]}"
