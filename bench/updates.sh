#!/usr/bin/env bash
# Updates at any zone size (bench/src/bin/updates.rs): one change until visible for `record add`
# and UPDATE at 20 and 1M names, commits per second (one client, 16 clients, processes), queries
# under 100 UPDATEs/s, and a 1M-name RPZ followed by a BIND resolver.
#
#   bench/updates.sh [latency|rate|load|rpz|all] [--names N] [--changes N] [--seconds S]
#
# Needs dnsperf and bind9 from Debian. Everything runs on 127.0.0.1 and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p lmdns-server -p lmdns-loader -p lmdns-bench --bins
exec target/release/updates "$@"
