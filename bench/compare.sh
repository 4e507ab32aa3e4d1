#!/usr/bin/env bash
# lmdns against the reference authoritative servers, on loopback, one server core vs one client core.
#
# For each zone count: generates hosting-style zones and a query mix (bench/scripts/gen_zones.py:
# 60% A hit, 10% AAAA, 5% MX, 5% TXT, 5% CNAME, 5% wildcard, 10% NXDOMAIN), loads them into lmdns
# and every installed reference server (NSD, Knot, PowerDNS+lmdb, BIND), each in its own temp dir
# with its own config, pid file and loopback port, pinned to core $SERVER_CPU with one worker,
# and drives each with dnsperf pinned to core $CLIENT_CPU for $DURATION seconds. A reflector
# (recvmmsg/sendmmsg echo, no DNS work) gives the kernel floor.
#
# Prints markdown tables (and draws them: bench/scripts/chart.py, a PNG of CPU per query and QPS per
# server with the reflector's floor as a line): QPS, answered, lost, server CPU µs per answered query (utime+stime of
# the server's whole process tree from /proc, before and after, over answered), start-to-first-
# answer, memory; and lmdns update-under-load (loader `record add` at $UPDATE_RATE/s during a run).
#
# Env (defaults in brackets):
#   QUICK=1        smoke run: ZONES=200, DURATION=3, QUERIES=20000, UPDATE_SECONDS=3  (< 2 min)
#   ZONES          zone counts, space-separated ["1000"]; e.g. "1000 100000"
#   DURATION       dnsperf seconds per server [10]
#   QUERIES        lines in the query file [100000]
#   SERVERS        which to run ["reflector lmdns nsd knot pdns bind"]; missing ones are skipped
#   SERVER_CPU / CLIENT_CPU  [0 / 1]
#   DNSPERF_ARGS   extra dnsperf flags ["-c 8 -q 500"]
#   UPDATE_RATE    loader changes per second during the update run [100]; 0 skips it
#   UPDATE_SECONDS length of the update run [$DURATION]
#   PORT_BASE      first loopback port [15300]
#   WORK           working directory [a new mktemp -d, removed at the end unless KEEP=1]
#   OUT            also write the report to this file (and the chart beside it, OUT's name with .png)
#   CHART          write the chart of the run here [$WORK/compare.png, or beside OUT]; needs gnuplot
#                  (apt-get install -y gnuplot-nox); without it the chart is skipped
#   SIGN           "nsec3" or "nsec": sign every zone first (ldns-signzone, ECDSA P-256, NSEC3 with
#                  0 iterations and no salt per RFC 9276) and query with DO=1 (dnsperf -D); the
#                  servers then serve the pre-signed zones. Default: unsigned. PowerDNS and BIND
#                  are left out of signed runs (they need presigned-zone settings of their own).
# Traffic goes to 127.0.0.1 only; every load run is bounded by dnsperf -l and every wait by a
# timeout; every server started is stopped by its pid on exit.
set -euo pipefail
# lmdns-server refuses to run as root without --allow-root (benchmarks run as root here).
root_flag() { if [ "$(id -u)" = 0 ]; then echo --allow-root; fi; }
cd "$(dirname "$0")/.."
ROOT=$PWD

if [ "${QUICK:-0}" = 1 ]; then
  : "${ZONES:=200}" "${DURATION:=3}" "${QUERIES:=20000}" "${UPDATE_SECONDS:=3}"
fi
ZONES=${ZONES:-1000}
DURATION=${DURATION:-10}
QUERIES=${QUERIES:-100000}
if [ -n "${SIGN:-}" ]; then SERVERS=${SERVERS:-reflector lmdns nsd knot}; fi
SERVERS=${SERVERS:-reflector lmdns nsd knot pdns bind}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DNSPERF_ARGS=${DNSPERF_ARGS:--c 8 -q 500}
SIGN=${SIGN:-}
if [ -n "$SIGN" ]; then DNSPERF_ARGS="$DNSPERF_ARGS -D"; fi
UPDATE_RATE=${UPDATE_RATE:-100}
UPDATE_SECONDS=${UPDATE_SECONDS:-$DURATION}
PORT_BASE=${PORT_BASE:-15300}
START_TIMEOUT=${START_TIMEOUT:-600}

command -v dnsperf >/dev/null || { echo "dnsperf is not installed (apt-get install -y dnsperf)" >&2; exit 1; }
cargo build --release --locked -q -p lmdns-loader -p lmdns-server -p lmdns-bench --bins
BIN=$ROOT/target/release
if [ -z "${WORK:-}" ]; then WORK=$(mktemp -d /tmp/lmdns-compare.XXXXXX); fi
mkdir -p "$WORK"
CLK_TCK=$(getconf CLK_TCK)

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

log() { echo "[compare] $*" >&2; }

# The pid and all its descendants.
tree_pids() {
  local all=" $1 " added=1
  while [ $added = 1 ]; do
    added=0
    for stat in /proc/[0-9]*/stat; do
      local pid=${stat#/proc/}; pid=${pid%/stat}
      case "$all" in *" $pid "*) continue ;; esac
      local ppid
      ppid=$(awk '{sub(/.*\) /, ""); print $2}' "$stat" 2>/dev/null) || continue
      case "$all" in *" $ppid "*) all="$all$pid "; added=1 ;; esac
    done
  done
  echo $all
}

# utime+stime of the process tree, in clock ticks (threads are included in a process's stat).
tree_ticks() {
  local t=0 p
  for p in $(tree_pids "$1"); do
    local v
    v=$(awk '{sub(/.*\) /, ""); print $12 + $13}' /proc/$p/stat 2>/dev/null) || continue
    t=$((t + v))
  done
  echo $t
}

# Memory of the process tree in MiB: RSS summed, PSS summed (shared pages counted once), and
# anonymous RSS summed (the memory that is the server's own: heap, stacks; not file pages such
# as LMDB's map, which the page cache holds and shares).
tree_mem() {
  local rss=0 pss=0 anon=0 p
  for p in $(tree_pids "$1"); do
    local r s a
    r=$(awk '/^VmRSS/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
    a=$(awk '/^RssAnon/ {print $2}' /proc/$p/status 2>/dev/null || echo 0)
    s=$(awk '/^Pss:/ {print $2}' /proc/$p/smaps_rollup 2>/dev/null || echo 0)
    rss=$((rss + ${r:-0})); pss=$((pss + ${s:-0})); anon=$((anon + ${a:-0}))
  done
  echo "$((rss / 1024)) $((pss / 1024)) $((anon / 1024))"
}

# Starts a server command pinned to SERVER_CPU in the background; sets SPID.
start_server() {
  local name=$1; shift
  taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.out" 2>&1 &
  SPID=$!
  PIDS+=("$SPID")
}

stop_server() {
  kill "$1" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

# run_load NAME PORT QUERYFILE -> sets QPS ANSWERED LOST CPU_US SERVFAIL; SPID must be the server.
run_load() {
  local name=$1 port=$2 qf=$3
  local before after
  before=$(tree_ticks "$SPID")
  # shellcheck disable=SC2086
  taskset -c "$CLIENT_CPU" timeout $((DURATION + 30)) dnsperf -s 127.0.0.1 -p "$port" -d "$qf" -l "$DURATION" $DNSPERF_ARGS \
    >"$WORK/$name.dnsperf" 2>&1 || true
  after=$(tree_ticks "$SPID")
  ANSWERED=$(awk '/Queries completed:/ {print $3}' "$WORK/$name.dnsperf")
  LOST=$(awk '/Queries lost:/ {print $3}' "$WORK/$name.dnsperf")
  QPS=$(awk '/Queries per second:/ {printf "%.0f", $4}' "$WORK/$name.dnsperf")
  SERVFAIL=$(grep -o 'SERVFAIL [0-9]*' "$WORK/$name.dnsperf" | awk '{print $2}' || true)
  SERVFAIL=${SERVFAIL:-0}
  RCODES=$(awk '/Response codes:/ {sub(/.*Response codes: */, ""); print}' "$WORK/$name.dnsperf")
  ANSWERED=${ANSWERED:-0}; LOST=${LOST:-0}; QPS=${QPS:-0}
  if [ "$ANSWERED" -gt 0 ]; then
    CPU_US=$(awk -v t=$((after - before)) -v hz="$CLK_TCK" -v n="$ANSWERED" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  else
    CPU_US=n/a
  fi
}

# wait_first_answer PORT NAME SINCE -> prints ms from SINCE to the first NOERROR answer.
wait_first_answer() {
  "$BIN/probe" "127.0.0.1:$1" "$2" A --since "$3" --timeout "$START_TIMEOUT" --pid "$SPID" 2>>"$WORK/probe.err" || echo n/a
}

# ---------------------------------------------------------------- per-server setup and start

setup_lmdns() {
  mkdir -p "$WORK/lmdns"
  rm -rf "$WORK/lmdns/db"
  local t0 t1
  t0=$EPOCHREALTIME
  "$BIN/lmdns-loader" --db "$WORK/lmdns/db" zone import-dir "$ZDIR" >"$WORK/lmdns/import.out" 2>&1
  t1=$EPOCHREALTIME
  LOAD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
}
start_lmdns() {
  start_server lmdns "$BIN/lmdns-server" --db "$WORK/lmdns/db" --listen "127.0.0.1:$1" --threads 1 --pin --log-level warn $(root_flag)
}

start_reflector() { start_server reflector "$BIN/reflector" "127.0.0.1:$1" --seconds 3600; }

setup_nsd() {
  local d=$WORK/nsd
  mkdir -p "$d"
  {
    echo "server:"
    echo "  ip-address: 127.0.0.1@$PORT"
    echo "  port: $PORT"
    echo "  server-count: 1"
    echo "  username: \"\""
    echo "  chroot: \"\""
    echo "  zonesdir: \"$ZDIR\""
    echo "  database: \"\""
    echo "  pidfile: \"$d/nsd.pid\""
    echo "  xfrdfile: \"$d/xfrd.state\""
    echo "  zonelistfile: \"$d/zone.list\""
    echo "  logfile: \"$d/nsd.log\""
    echo "  verbosity: 0"
    echo "  rrl-ratelimit: 0"
    echo "  hide-version: yes"
    echo "remote-control:"
    echo "  control-enable: no"
    while read -r z; do
      printf 'zone:\n  name: "%s"\n  zonefile: "%s.zone"\n' "$z" "${z%.}"
    done <"$ZLIST"
  } >"$d/nsd.conf"
  LOAD_S=-
}
start_nsd() { start_server nsd nsd -d -c "$WORK/nsd/nsd.conf"; }

setup_knot() {
  local d=$WORK/knot
  mkdir -p "$d/db"
  {
    echo "server:"
    echo "  rundir: \"$d\""
    echo "  pidfile: \"$d/knot.pid\""
    echo "  listen: 127.0.0.1@$PORT"
    echo "  udp-workers: 1"
    echo "  tcp-workers: 1"
    echo "  background-workers: 1"
    echo "database:"
    echo "  storage: \"$d/db\""
    echo "control:"
    echo "  listen: \"$d/knot.sock\""
    echo "log:"
    echo "  - target: stderr"
    echo "    any: warning"
    echo "template:"
    echo "  - id: default"
    echo "    storage: \"$ZDIR\""
    echo "    file: \"%s.zone\""
    echo "    zonefile-sync: -1"
    echo "    zonefile-load: whole"
    echo "    journal-content: none"
    echo "    semantic-checks: off"
    echo "zone:"
    while read -r z; do echo "  - domain: \"$z\""; done <"$ZLIST"
  } >"$d/knot.conf"
  # Zone files are named without the final dot; Knot's %s is the name without it too.
  LOAD_S=-
}
start_knot() { start_server knot knotd -c "$WORK/knot/knot.conf"; }

setup_bind() {
  local d=$WORK/bind
  mkdir -p "$d"
  {
    echo "options {"
    echo "  directory \"$d\";"
    echo "  listen-on port $PORT { 127.0.0.1; };"
    echo "  listen-on-v6 { none; };"
    echo "  pid-file \"$d/named.pid\";"
    echo "  session-keyfile \"$d/session.key\";"
    echo "  managed-keys-directory \"$d\";"
    echo "  recursion no;"
    echo "  allow-query { any; };"
    echo "  dnssec-validation no;"
    echo "  notify no;"
    echo "};"
    echo "controls { };"
    while read -r z; do
      echo "zone \"$z\" { type primary; file \"$ZDIR/${z%.}.zone\"; };"
    done <"$ZLIST"
  } >"$d/named.conf"
  LOAD_S=-
}
start_bind() { start_server bind named -f -c "$WORK/bind/named.conf" -n 1 -U 1; }

pdns_conf() { # DIR LAUNCH
  cat <<EOF
launch=$2
lmdb-filename=$1/pdns.lmdb
lmdb-shards=1
local-address=127.0.0.1
local-port=$PORT
socket-dir=$1
security-poll-suffix=
daemon=no
guardian=no
disable-syslog=yes
loglevel=3
receiver-threads=1
distributor-threads=1
reuseport=no
webserver=no
api=no
setuid=
setgid=
EOF
}
setup_pdns() {
  local d=$WORK/pdns
  rm -rf "$d"
  mkdir -p "$d/load"
  while read -r z; do echo "zone \"$z\" { type master; file \"$ZDIR/${z%.}.zone\"; };"; done <"$ZLIST" >"$d/bind-zones.conf"
  cp "$d/bind-zones.conf" "$d/load/bind-zones.conf"
  { pdns_conf "$d" "bind,lmdb"; echo "bind-config=$d/bind-zones.conf"; } >"$d/load/pdns.conf"
  pdns_conf "$d" "lmdb" >"$d/pdns.conf"
  local t0 t1
  t0=$EPOCHREALTIME
  # bind backend reads the zone files; b2b-migrate copies them into the lmdb backend.
  pdnsutil --config-dir="$d/load" b2b-migrate bind lmdb >"$d/load.out" 2>&1 || { log "pdns load failed: $(tail -3 "$d/load.out")"; return 1; }
  t1=$EPOCHREALTIME
  LOAD_S=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
}
start_pdns() { start_server pdns pdns_server --config-dir="$WORK/pdns"; }

available() {
  case $1 in
    reflector | lmdns) return 0 ;;
    nsd) command -v nsd >/dev/null ;;
    knot) command -v knotd >/dev/null ;;
    bind) command -v named >/dev/null ;;
    pdns) command -v pdns_server >/dev/null && command -v pdnsutil >/dev/null && ls /usr/lib/*/pdns/liblmdbbackend.so >/dev/null 2>&1 ;;
  esac
}

# Signs every zone of $1 (listed in $ZLIST) into $2 with throw-away keys (kept in $2.keys).
sign_zones() {
  local src=$1 dst=$2 keys=$2.keys options=()
  command -v ldns-signzone >/dev/null || { echo "ldns-signzone is not installed (apt-get install -y ldnsutils)" >&2; exit 1; }
  [ "$SIGN" = nsec3 ] && options=(-n -t 0)
  mkdir -p "$dst" "$keys"
  while read -r z; do
    z=${z%.}
    (
      cd "$keys"
      ksk=$(ldns-keygen -a ECDSAP256SHA256 -k "$z")
      zsk=$(ldns-keygen -a ECDSAP256SHA256 "$z")
      ldns-signzone "${options[@]}" -i 20260101000000 -e 20371231000000 -o "$z" -f "$dst/$z.zone" "$src/$z.zone" "$ksk" "$zsk"
    )
  done <"$ZLIST"
}

# ---------------------------------------------------------------- main

REPORT=$WORK/report.md
ROWS=$WORK/rows.tsv
printf 'zones\tserver\tqps\tcpu_us\n' >"$ROWS"
rm -f "$WORK/update.md"
{
  echo "## compare.sh run $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)."
  echo "Server on core $SERVER_CPU (one worker), dnsperf on core $CLIENT_CPU: \`dnsperf -l $DURATION $DNSPERF_ARGS\`;"
  echo "query mix: 60% A hit, 10% AAAA, 5% MX, 5% TXT, 5% CNAME, 5% wildcard, 10% NXDOMAIN ($QUERIES queries, looped)."
  echo "CPU µs/answered = (utime+stime of the server's process tree during the run) / answered."
} >"$REPORT"

port=$PORT_BASE
for NZ in $ZONES; do
  ZROOT=$WORK/z$NZ
  ZDIR=$ZROOT/zones
  ZLIST=$ZROOT/zones.txt
  if [ ! -f "$ZROOT/queries.txt" ]; then
    log "generating $NZ zones"
    python3 bench/scripts/gen_zones.py "$ZDIR" --zones "$NZ" --queries "$QUERIES" >&2
  fi
  QF=$ZROOT/queries.txt
  if [ -n "$SIGN" ]; then
    if [ ! -d "$ZROOT/signed-$SIGN" ]; then
      log "signing $NZ zones ($SIGN)"
      sign_zones "$ZDIR" "$ZROOT/signed-$SIGN.tmp"
      mv "$ZROOT/signed-$SIGN.tmp" "$ZROOT/signed-$SIGN"
    fi
    ZDIR=$ZROOT/signed-$SIGN
  fi
  # find | xargs: a million zone files are more than one command line holds.
  records=$(find "$ZDIR" -name '*.zone' -print0 | xargs -0 cat | grep -vc -e '^\$' -e '^$') || records=?
  LAST=$(tail -1 "$ZLIST")
  PROBE_NAME="www.$LAST"
  {
    echo
    echo "### $NZ zones ($records records${SIGN:+, signed with $SIGN, queries with DO=1})"
    echo
    echo "| server | QPS | answered | lost | server CPU µs / answered | × reflector | load (s) | start → first answer (ms) | RSS / PSS / anon after run (MiB) | response codes |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
  } >>"$REPORT"
  REFLECTOR_US=
  for s in $SERVERS; do
    if ! available "$s"; then log "$s not installed, skipped"; continue; fi
    PORT=$port; port=$((port + 1))
    log "$s: $NZ zones on port $PORT"
    LOAD_S=-
    if declare -F "setup_$s" >/dev/null; then
      if ! "setup_$s"; then echo "| $s | setup failed | | | | | | | | |" >>"$REPORT"; continue; fi
    fi
    t0=$EPOCHREALTIME
    "start_$s" "$PORT"
    if [ "$s" = reflector ]; then
      FIRST=-
      sleep 0.3
    else
      FIRST=$(wait_first_answer "$PORT" "$PROBE_NAME" "$t0")
    fi
    if ! kill -0 "$SPID" 2>/dev/null; then
      log "$s exited early: $(tail -5 "$WORK/$s.out")"
      echo "| $s | failed to start | | | | | | | | |" >>"$REPORT"
      continue
    fi
    run_load "$s" "$PORT" "$QF"
    read -r RSS PSS ANON < <(tree_mem "$SPID")
    X=-
    if [ "$s" = reflector ]; then REFLECTOR_US=$CPU_US; RCODES="(echo)"
    elif [ -n "$REFLECTOR_US" ] && [ "$CPU_US" != n/a ]; then X=$(awk -v a="$CPU_US" -v b="$REFLECTOR_US" 'BEGIN {printf "%.2f", a / b}'); fi
    echo "| $s | $QPS | $ANSWERED | $LOST | $CPU_US | $X | $LOAD_S | $FIRST | $RSS / $PSS / $ANON | $RCODES |" >>"$REPORT"
    printf '%s\t%s\t%s\t%s\n' "$NZ" "$s" "$QPS" "$CPU_US" >>"$ROWS"
    log "$s: QPS $QPS, answered $ANSWERED, lost $LOST, CPU µs/q $CPU_US, first answer $FIRST ms"

    if [ "$s" = lmdns ] && [ "$UPDATE_RATE" != 0 ]; then
      IDLE_QPS=$QPS IDLE_US=$CPU_US
      log "lmdns: update under load, $UPDATE_RATE changes/s"
      taskset -c "$CLIENT_CPU" "$BIN/update_load" "$BIN/lmdns-loader" "$WORK/lmdns/db" "127.0.0.1:$PORT" "$ZLIST" \
        --rate "$UPDATE_RATE" --seconds "$UPDATE_SECONDS" >"$WORK/update.json" 2>"$WORK/update.err" &
      UPID=$!
      PIDS+=("$UPID")
      SAVED=$DURATION; DURATION=$UPDATE_SECONDS
      run_load lmdns-update "$PORT" "$QF"
      DURATION=$SAVED
      wait "$UPID" || true
      U=$(cat "$WORK/update.json")
      jget() { echo "$U" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
      {
        echo
        echo "lmdns update under load ($NZ zones): \`lmdns-loader record add\` paced at $UPDATE_RATE/s for ${UPDATE_SECONDS} s, loader on core $CLIENT_CPU beside dnsperf."
        echo
        echo "| | QPS | server CPU µs / answered | SERVFAIL | changes (achieved/s) | loader run p50 / p95 (ms) | loader exit → change answered p50 / p95 / max (ms) | never visible |"
        echo "|---|---|---|---|---|---|---|---|"
        echo "| idle | $IDLE_QPS | $IDLE_US | - | - | - | - | - |"
        echo "| updating | $QPS | $CPU_US | $SERVFAIL | $(jget changes) ($(jget rate)/s) | $(jget loader_ms_p50) / $(jget loader_ms_p95) | $(jget visible_ms_p50) / $(jget visible_ms_p95) / $(jget visible_ms_max) | $(jget never_visible) |"
        echo
      } >"$WORK/update.md"
    fi
    stop_server "$SPID"
  done
  if [ -f "$WORK/update.md" ]; then cat "$WORK/update.md" >>"$REPORT"; rm -f "$WORK/update.md"; fi
done

echo >>"$REPORT"
cat "$REPORT"
if [ -n "${OUT:-}" ]; then cp "$REPORT" "$OUT"; fi
CHART=${CHART:-${OUT:+${OUT%.*}.png}}
CHART=${CHART:-$WORK/compare.png}
if command -v gnuplot >/dev/null; then
  python3 bench/scripts/chart.py "$ROWS" "$CHART" --title "bench/compare.sh, zones: $ZONES, $(date -u +%Y-%m-%d)${SIGN:+, signed ($SIGN)}"
  log "chart: $CHART"
else
  log "gnuplot is not installed (apt-get install -y gnuplot-nox): no chart"
fi
