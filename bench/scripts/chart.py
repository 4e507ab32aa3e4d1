#!/usr/bin/env python3
"""Draws a bench/compare.sh run as a PNG: per zone count, server CPU per answered query and QPS
per server as bars, the reflector (the kernel's floor: recvmmsg/sendmmsg echo, no DNS work)
drawn as a dashed line across both.

Input: the TSV compare.sh writes (zones, server, qps, cpu_us; a header line). Output: a PNG
rendered by gnuplot's pngcairo terminal (Debian: gnuplot-nox). Usage:

    bench/scripts/chart.py RUN.tsv OUT.png [--title TEXT]
"""

import argparse
import subprocess
import sys
from collections import OrderedDict


def read_rows(path):
    runs = OrderedDict()  # zones -> [(server, qps, cpu)]
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header[:4] != ["zones", "server", "qps", "cpu_us"]:
            sys.exit(f"{path}: not a compare.sh run (header {header})")
        for n, line in enumerate(f, start=2):
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 4:
                sys.exit(f"{path}:{n}: expected 4 tab-separated fields, got {len(fields)}")
            zones, server, qps, cpu = fields[:4]
            try:
                runs.setdefault(zones, []).append((server, float(qps), float(cpu)))
            except ValueError:
                # A server that failed or lost every query has no numbers: left out of the chart.
                print(f"{path}:{n}: {server} at {zones} zones has no numbers, left out", file=sys.stderr)
    if not runs:
        sys.exit(f"{path}: no rows")
    return runs


def gnuplot_script(runs, out, title):
    panels = len(runs)
    lines = [
        f"set terminal pngcairo size 1200,{380 * panels + 40} font 'DejaVu Sans,10'",
        f"set output '{out}'",
        f"set multiplot layout {panels},2 title '{title}'",
        "set style data histograms",
        "set style fill solid 0.8 border -1",
        "set boxwidth 0.7",
        "set grid ytics",
        "set key below",
    ]
    for zones, rows in runs.items():
        floor = next((r for r in rows if r[0] == "reflector"), None)
        servers = [r for r in rows if r[0] != "reflector"]
        if not servers:
            continue
        for column, label, fmt in ((2, "server CPU µs per answered query", "%.2f"), (1, "queries per second", "%.0f")):
            block = f"$d{zones}_{column}"
            lines.append(f"{block} << EOD")
            lines += [f"\"{s}\" {qps} {cpu}" for s, qps, cpu in servers]
            lines.append("EOD")
            lines.append(f"set title '{zones} zones: {label}'")
            value = floor[column] if floor else None
            # Room above the tallest bar (or the floor) for the value labels.
            top = max([r[column] for r in servers] + ([value] if value is not None else []))
            lines.append(f"set yrange [0:{top * 1.2:.6g}]")
            plot = f"plot {block} using {column + 1}:xtic(1) title '{label}' lc rgb '#4477aa'"
            plot += f", '' using 0:{column + 1}:(sprintf('{fmt}', ${column + 1})) with labels offset 0,0.7 notitle"
            if value is not None:
                plot += f", {value} with lines dt 2 lw 2 lc rgb '#cc3311' title 'reflector (kernel floor) {fmt % value}'"
            lines.append(plot)
    lines.append("unset multiplot")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("tsv", help="the run's TSV (compare.sh writes it beside its report)")
    p.add_argument("png", help="the PNG to write")
    p.add_argument("--title", default="lmdns against the reference servers (bench/compare.sh)", help="chart title")
    a = p.parse_args()
    script = gnuplot_script(read_rows(a.tsv), a.png, a.title.replace("'", ""))
    done = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"gnuplot failed: {done.stderr}")


if __name__ == "__main__":
    main()
