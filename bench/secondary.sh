#!/usr/bin/env bash
# lmdns as a secondary, against real primaries and consumers on loopback
# (bench/src/bin/secondary.rs): a change on a Knot primary until lmdns serves it, a
# 10,000-zone catalog from Knot consumed by lmdns, Knot, BIND and PowerDNS, and a 1M-record
# AXFR into lmdns with the query CPU meanwhile.
#
#   bench/secondary.sh [change|catalog|axfr|all] [--changes N] [--zones N] [--records N]
#                      [--consumers lmdns,knot,bind,powerdns]
#
# Needs knot, bind9, pdns-server, pdns-backend-sqlite3 and dnsperf from Debian. Everything runs
# on 127.0.0.1, every wait is bounded, every server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p lmdns-server -p lmdns-loader -p lmdns-bench --bins
exec target/release/secondary "$@"
