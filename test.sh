#!/usr/bin/env bash
# Runs every test of the workspace. The differential tests compare lmdns with Knot DNS and NSD
# running on loopback ports, so those (and dig) are installed from Debian when missing.
set -euo pipefail
cd "$(dirname "$0")"
need=()
command -v knotd >/dev/null || [ -x /usr/sbin/knotd ] || need+=(knot)
command -v nsd >/dev/null || [ -x /usr/sbin/nsd ] || need+=(nsd)
command -v dig >/dev/null || need+=(bind9-dnsutils)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${need[@]}"
fi
export PATH="$PATH:/usr/sbin"
cargo test --workspace --locked
