#!/usr/bin/env bash
# Zone transfers out, against real peers on loopback (bench/src/bin/replication.rs): commit →
# Knot/BIND secondary latency, a 1M-record AXFR from lmdns, Knot and NSD, a 10,000-zone catalog
# consumed by Knot, and query CPU while transfers run.
#
#   bench/replication.sh [notify|axfr|catalog|load|all] [--changes N] [--interval-ms MS]
#                        [--records N] [--zones N] [--seconds S]
#
# Needs knot, bind9, nsd and dnsperf from Debian (apt-get install -y knot bind9 nsd dnsperf).
# Everything runs on 127.0.0.1, every wait is bounded, every server is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p lmdns-server -p lmdns-loader -p lmdns-bench --bins
exec target/release/replication "$@"
