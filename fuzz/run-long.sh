#!/usr/bin/env bash
# The long fuzz runs: every cargo-fuzz target for SECONDS each (default 3600), coverage-guided
# by libFuzzer, starting from the seeds in fixtures/fuzz/<target>/ and the corpus kept from
# earlier runs (fuzz/corpus/, not in git). Writes what each run did to fuzz/LAST_RUN.md; a
# crashing input is left in fuzz/artifacts/<target>/ and makes this script exit 1.
# Needs nightly Rust and cargo-fuzz:  rustup toolchain install nightly && cargo install cargo-fuzz
# Usage: fuzz/run-long.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-3600}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(query zone_file message update changeset ranges)
report=LAST_RUN.md
{
  echo "# Last long fuzz run"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), ${seconds} s per target, $(nproc) cores, $(cargo +nightly --version)."
  echo "Command: \`fuzz/run-long.sh $seconds ${targets[*]}\`"
  echo
  echo "| target | executions | exec/s | coverage (edges) | corpus | crashes |"
  echo "|---|---:|---:|---:|---:|---:|"
} >"$report.tmp"
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target" "artifacts/$target"
  log=$(mktemp)
  # -rss_limit_mb: the harness zone and databases are small; more than this is a leak.
  if ! cargo +nightly fuzz run "$target" "corpus/$target" "../fixtures/fuzz/$target" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
    failed=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
  corpus=$(find "corpus/$target" -type f | wc -l)
  crashes=$(find "artifacts/$target" -type f \( -name "crash-*" -o -name "timeout-*" -o -name "oom-*" -o -name "leak-*" \) | wc -l)
  echo "| $target | $execs | $speed | $cov | $corpus | $crashes |" >>"$report.tmp"
  echo "$target: $execs executions, coverage $cov, $crashes crash files" >&2
  tail -n 30 "$log" >"artifacts/$target/last.log"
  rm -f "$log"
done
mv "$report.tmp" "$report"
exit $failed
