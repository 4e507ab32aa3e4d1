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
loader=(target/release/lmdns-loader --db "$db")
"${loader[@]}" zone import-dir fixtures/zones
"${loader[@]}" ranges import --table geo fixtures/demo/ranges.csv
"${loader[@]}" zone import fixtures/demo/geo.example.zone
http_port="${HTTP_PORT:-8053}"
cat <<EOT
serving on 127.0.0.1:$port (and [::1]:$port), HTTP lookups on 127.0.0.1:$http_port. Try:
  dig @127.0.0.1 -p $port www.example.com A
  dig @127.0.0.1 -p $port www.geo.example A                          # your pop (ams) variant
  dig @127.0.0.1 -p $port www.geo.example A +subnet=127.0.1.0/24     # the US variant, ECS scope 24
  dig @127.0.0.1 -p $port whoami.geo.example TXT +short             # --whoami name
  dig @127.0.0.1 -p $port me.geo.example TXT +short                  # the zone policy's whoami name
  dig @127.0.0.1 -p $port 0.0.0.200.ip.geo.example TXT +short
  curl -s http://127.0.0.1:$http_port/lookup/1.0.128.1
  dig @127.0.0.1 -p $port example.com AXFR                              # transfers: loopback only
  dig @127.0.0.1 -p $port catalog.invalid AXFR                          # RFC 9432 catalog of the zones
EOT
listen=(--listen "127.0.0.1:$port")
if ip -6 addr show lo 2>/dev/null | grep -q '::1'; then listen+=(--listen "[::1]:$port"); fi
# As root (e.g. in a container), serve as root on purpose: the demo binds no privileged port.
if [ "$(id -u)" = 0 ]; then listen+=(--allow-root); fi
exec target/release/lmdns-server --db "$db" "${listen[@]}" \
  --whoami whoami.geo.example --lookup-zone ip.geo.example --http "127.0.0.1:$http_port" \
  --allow-transfer 127.0.0.0/8,::1 --catalog catalog.invalid.
