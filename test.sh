#!/usr/bin/env bash
# Runs every test of the workspace. The differential and interop tests run real DNS servers on
# loopback ports: Knot DNS, NSD, BIND and PowerDNS (as references, secondaries and catalog
# consumers), Unbound (a validating resolver), and the tools dig, kdig, tsig-keygen, the zone
# signers ldns-signzone and dnssec-signzone, and the dnstap readers fstrm_capture and dnstap-ldns. They are installed from Debian when
# missing (nothing is started system-wide: each test runs its own servers in a temp dir).
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/sbin:/sbin"
# tool → the Debian package that has it
declare -A packages=(
  [knotd]=knot [kdig]=knot-dnsutils [knsupdate]=knot-dnsutils [nsd]=nsd [named]=bind9 [tsig-keygen]=bind9
  [dig]=bind9-dnsutils [nsupdate]=bind9-dnsutils [pdns_server]=pdns-server [sqlite3]=sqlite3
  [ldns-signzone]=ldnsutils [ldns-verify-zone]=ldnsutils [unbound]=unbound [dnssec-signzone]=bind9-utils
  [fstrm_capture]=fstrm-bin [dnstap-ldns]=dnstap-ldns [ip]=iproute2
)
need=()
for tool in "${!packages[@]}"; do
  command -v "$tool" >/dev/null || need+=("${packages[$tool]}")
done
# The PowerDNS secondaries keep their zones in SQLite.
[ -f /usr/lib/x86_64-linux-gnu/pdns/libgsqlite3backend.so ] || ls /usr/lib/*/pdns/libgsqlite3backend.so >/dev/null 2>&1 || need+=(pdns-backend-sqlite3)
if ((${#need[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -q
  # Installing the servers must not start system-wide instances: policy-rc.d refuses.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  mapfile -t unique < <(printf '%s\n' "${need[@]}" | sort -u)
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${unique[@]}"
fi
# The UPDATE tests drive certbot's rfc2136 plugin and dnspython (external-dns's records).
if ! target/pyenv/bin/python3 -c 'import certbot_dns_rfc2136, dns' 2>/dev/null; then
  python3 -m venv target/pyenv
  target/pyenv/bin/pip install -q 'certbot-dns-rfc2136>=2,<6' 'dnspython>=2.6,<3'
fi
cargo test --workspace --locked
