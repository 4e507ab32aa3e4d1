#!/usr/bin/env python3
"""Generate a hosting-provider-like zone set: many small zones of typical shape.

Usage: gen_zones.py OUT_DIR [--zones N] [--seed S] [--queries N | --no-queries]

Each zone has SOA, NS, MX, SPF/DMARC/DKIM TXT, CAA, SRV, www/mail/ftp A and AAAA, some
CNAMEs, a wildcard in a few, and a tail of random host names, averaging ~43 records, so the
default 20,000 zones come to ~860k records (the size the issue's import target is stated at).
Deterministic for a given seed. Also writes OUT_DIR/../queries.txt (dnsperf format), N queries
in the benchmark mix: 60% A hit, 10% AAAA, 5% MX, 5% TXT, 5% CNAME (alias → www), 5% wildcard
(a random label in a zone with `*`), 10% NXDOMAIN (a random label in a zone without `*`), in a
shuffled order, and OUT_DIR/../zones.txt (one zone name per line).
"""
import argparse
import os
import random


def zone_text(name, rnd, wild):
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
    if wild:
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
    ap.add_argument("--queries", type=int, default=100000, help="queries in the mix file")
    ap.add_argument("--no-queries", action="store_true", help="write only the zone files")
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)
    records = 0
    names, wild, plain = [], [], []
    for i in range(args.zones):
        name = f"customer{i:06d}-{rnd.getrandbits(16):04x}.example"
        has_wild = rnd.random() < 0.1
        text = zone_text(name, rnd, has_wild)
        records += sum(1 for l in text.splitlines() if l and not l.startswith("$"))
        with open(os.path.join(args.out, f"{name}.zone"), "w") as f:
            f.write(text)
        names.append(name)
        (wild if has_wild else plain).append(name)
    print(f"{args.zones} zones, {records} records in {args.out}")
    if args.no_queries:
        return
    parent = os.path.dirname(os.path.abspath(args.out))
    with open(os.path.join(parent, "zones.txt"), "w") as f:
        f.writelines(f"{n}.\n" for n in names)
    q = random.Random(args.seed + 1)
    wild = wild or names  # tiny sets may lack a wildcard zone: then those queries are NXDOMAIN
    plain = plain or names
    mix = [(60, lambda z: f"{q.choice(['@', 'www', 'mail', 'ftp'])}.{z}. A"),
           (10, lambda z: f"{q.choice(['@', 'www', 'mail', 'ftp'])}.{z}. AAAA"),
           (5, lambda z: f"{z}. MX"),
           (5, lambda z: f"{z}. TXT"),
           (5, lambda z: f"{q.choice(['webmail', 'blog', 'shop'])}.{z}. A"),
           (5, None),
           (10, None)]
    lines = []
    for pct, make in mix:
        for _ in range(args.queries * pct // 100):
            if make is not None:
                lines.append(make(q.choice(names)).replace("@.", ""))
            elif pct == 5:
                lines.append(f"w{q.getrandbits(32):08x}.{q.choice(wild)}. A")
            else:
                lines.append(f"nx{q.getrandbits(32):08x}.{q.choice(plain)}. A")
    q.shuffle(lines)
    with open(os.path.join(parent, "queries.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(lines)} queries in {os.path.join(parent, 'queries.txt')}")


if __name__ == "__main__":
    main()
