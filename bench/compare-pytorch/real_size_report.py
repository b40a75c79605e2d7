"""real_size.sh's summary: pairs each of our bench rows with PyTorch's at the same thread count,
and our probe with PyTorch's at each thread count; prints the ratios and writes one JSON file.

  real_size_report.py BENCH.jsonl PROBE.jsonl OUT.json

Ratios: throughput ours / PyTorch (above 1: ours is faster); probe time ours / PyTorch (the
issue's goal: at most 2).
"""

import json
import os
import platform
import sys
import time


def rows_of(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def ratio(a, b):
    return round(a / b, 3) if b else None


def bench_pairs(rows):
    ours = [r for r in rows if r["side"] == "ours"]
    torch = {r["threads"]: r for r in rows if r["side"] == "pytorch"}
    pairs = []
    for mine in ours:
        theirs = torch.get(int(mine["threads"]))
        if theirs is None:
            sys.exit(f"no PyTorch bench row at {mine['threads']} thread(s) to pair with ours")
        if mine["trainStep"]["tokens"] != theirs["trainStep"]["tokens"]:
            sys.exit(f"the two sides trained on different work: {mine['trainStep']} vs {theirs['trainStep']}")
        decode = {b: ratio(v, theirs["decodeTokensPerSecond"][b])
                  for b, v in mine["decodeTokensPerSecond"].items()}
        pairs.append({"threads": theirs["threads"], "ours": mine, "pytorch": theirs, "ratios": {
            "trainStep": ratio(mine["trainStep"]["tokensPerSecond"], theirs["trainStep"]["tokensPerSecond"]),
            **{f"decode {b}": r for b, r in decode.items()}}})
    return pairs


def probe_pairs(rows):
    ours = [r for r in rows if r["side"] == "ours"]
    if not ours:
        return []
    mine = ours[0]
    return [{"threads": theirs["threads"], "ours": mine, "pytorch": theirs, "timeRatios": {
        "step": ratio(mine["stepSeconds"], theirs["stepSeconds"]),
        "wall": ratio(mine["wallSeconds"], theirs["wallSeconds"])}}
        for theirs in rows if theirs["side"] == "pytorch"]


def gb(n):
    return f"{n / 1e9:.2f} GB"


def main():
    bench_path, probe_path, out = sys.argv[1:]
    bench, probe = bench_pairs(rows_of(bench_path)), probe_pairs(rows_of(probe_path))
    for p in bench:
        o, t = p["ours"], p["pytorch"]
        print(f"\nbench, {p['threads']} thread(s): ours = {o['backend']} on {o['runtime']}, "
              f"PyTorch {t['torch']} {t['dtype']} (glibc malloc: {t.get('malloc', 'default')}); ratio = ours / PyTorch tokens/s")
        print(f"  {'':<22}{'ours':>10}{'PyTorch':>10}{'ratio':>8}")
        print(f"  {'train step':<22}{o['trainStep']['tokensPerSecond']:>10.2f}"
              f"{t['trainStep']['tokensPerSecond']:>10.2f}{p['ratios']['trainStep']:>7.2f}x")
        for b, v in o["decodeTokensPerSecond"].items():
            print(f"  {'decode ' + b:<22}{v:>10.2f}{t['decodeTokensPerSecond'][b]:>10.2f}"
                  f"{p['ratios']['decode ' + b]:>7.2f}x")
        print(f"  {'peak RSS':<22}{gb(o['peakRssBytes']):>10}{gb(t['peakRssBytes']):>10}")
    for p in probe:
        o, t = p["ours"], p["pytorch"]
        print(f"\nprobe: ours {o['backend']} on {o['runtime']} (threads {o['threads']}) against PyTorch "
              f"at {p['threads']} thread(s), {t['rows']} rows × ({t['prompt']} + {t['completion']}); "
              f"ratio = ours / PyTorch seconds (goal ≤ 2)")
        print(f"  step {o['stepSeconds']:.1f} s vs {t['stepSeconds']:.1f} s: {p['timeRatios']['step']:.2f}x; "
              f"wall {o['wallSeconds']:.1f} s vs {t['wallSeconds']:.1f} s: {p['timeRatios']['wall']:.2f}x; "
              f"peak RSS {gb(o['peakRssBytes'])} vs {gb(t['peakRssBytes'])}")
    with open(out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                               "loadAverage": os.getloadavg()},
                   "bench": bench, "probe": probe}, f, indent=2)
        f.write("\n")
    print(f"\n{out}")


if __name__ == "__main__":
    main()
