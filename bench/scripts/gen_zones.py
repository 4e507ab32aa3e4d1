#!/usr/bin/env python3
"""Generate a hosting-provider-like zone set: many small zones of typical shape.

Usage: gen_zones.py OUT_DIR [--zones N] [--seed S]

Each zone has SOA, NS, MX, SPF/DMARC/DKIM TXT, CAA, SRV, www/mail/ftp A and AAAA, some
CNAMEs, a wildcard in a few, and a tail of random host names, averaging ~43 records, so the
default 20,000 zones come to ~860k records (the size the issue's import target is stated at).
Deterministic for a given seed. Also writes OUT_DIR/../queries.txt (dnsperf format) sampling
names from the zones.
"""
import argparse
import os
import random


def zone_text(name, rnd):
    lines = [
        "$TTL 3600",
        f"@ IN SOA ns1.hosting.example. hostmaster.hosting.example. ( {rnd.randint(2020010100, 2026010100)} 7200 3600 1209600 300 )",
        "@ NS ns1.hosting.example.",
        "@ NS ns2.hosting.example.",
        "@ MX 10 mail",
        "@ MX 20 mx2.hosting.example.",
        f'@ TXT "v=spf1 ip4:192.0.2.{rnd.randint(1, 254)} include:_spf.hosting.example ~all"',
        '_dmarc TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@hosting.example"',
        f'default._domainkey TXT "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC{rnd.getrandbits(128):032x}"',
        '@ CAA 0 issue "letsencrypt.org"',
        "_submission._tcp SRV 0 1 587 mail",
    ]
    base = rnd.randint(0, 250)
    for host in ("@", "www", "mail", "ftp"):
        lines.append(f"{host} A 198.51.{base}.{rnd.randint(1, 254)}")
        lines.append(f"{host} AAAA 2001:db8:{base:x}::{rnd.randint(1, 65535):x}")
    for alias in ("webmail", "blog", "shop"):
        lines.append(f"{alias} CNAME www")
    if rnd.random() < 0.1:
        lines.append(f"* A 198.51.{base}.200")
    extra = max(0, int(rnd.gauss(20, 6)))
    for i in range(extra):
        lines.append(f"h{i}-{rnd.getrandbits(24):06x} {rnd.choice(['A 203.0.113.' + str(rnd.randint(1, 254)), 'AAAA 2001:db8:ffff::' + format(rnd.randint(1, 65535), 'x')])}")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--zones", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    records = 0
    names = []
    for i in range(args.zones):
        name = f"customer{i:06d}-{rnd.getrandbits(16):04x}.example"
        text = zone_text(name, rnd)
        records += sum(1 for l in text.splitlines() if l and not l.startswith("$"))
        with open(os.path.join(args.out, f"{name}.zone"), "w") as f:
            f.write(text)
        if i % 10 == 0:
            names.append(name)
    with open(os.path.join(os.path.dirname(os.path.abspath(args.out)), "queries.txt"), "w") as q:
        for n in names:
            q.write(f"www.{n}. A\nmail.{n}. AAAA\n{n}. MX\nnope.{n}. A\n")
    print(f"{args.zones} zones, {records} records in {args.out}")


if __name__ == "__main__":
    main()
