#!/usr/bin/env python3
"""A/B of two `kennel serve` builds on the churn (issue 16): rounds of N `exit 0`
children, K in flight, alternating between the builds (A B B A ...), each round's wall
time and the sidecar's own CPU (utime + stime of /proc/<serve>/stat) per spawn.

usage: churn_ab.py KENNEL_A KENNEL_B [--fixture F] [--rounds R] [--n N] [--k K]
"""
import argparse, json, os, subprocess, time, statistics

def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])

class Sidecar:
    def __init__(self, exe):
        self.p = subprocess.Popen([exe, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.r = self.p.stdout
        self.buf = b""
        assert json.loads(self.line())["event"] == "hello"
        self.seq = 0

    def line(self):
        while b"\n" not in self.buf:
            chunk = os.read(self.r.fileno(), 1 << 16)
            if not chunk:
                raise SystemExit("sidecar closed its stdout")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def churn(self, fixture, n, k):
        started = 0
        done = 0
        out = []
        t = time.perf_counter()
        c0 = cpu_ticks(self.p.pid)
        while done < n:
            reqs = []
            while started < n and started - done < k:
                self.seq += 1
                reqs.append(json.dumps({"op": "spawn", "id": f"c{self.seq}", "cmd": fixture, "args": ["exit", "0"]}))
                started += 1
            if reqs:
                self.p.stdin.write(("\n".join(reqs) + "\n").encode())
            ev = json.loads(self.line())
            if ev["event"] == "exit":
                if ev.get("code") != 0:
                    raise SystemExit(f"child failed: {ev}")
                done += 1
            elif ev["event"] == "error":
                raise SystemExit(f"error: {ev}")
        wall = time.perf_counter() - t
        cpu = (cpu_ticks(self.p.pid) - c0) * 10.0  # ms, 100 Hz ticks
        return n / wall, cpu / n

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a"); ap.add_argument("b")
    ap.add_argument("--fixture", default="target/release/kennel-fixture")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--k", type=int, default=32)
    args = ap.parse_args()
    fixture = os.path.abspath(args.fixture)
    sides = {"A": Sidecar(args.a), "B": Sidecar(args.b)}
    for s in sides.values():
        s.churn(fixture, 200, args.k)  # warm-up
    res = {"A": [], "B": []}
    order = "ABBA" * ((args.rounds + 1) // 2)
    for who in order[: 2 * args.rounds]:
        rate, cpu = sides[who].churn(fixture, args.n, args.k)
        res[who].append((rate, cpu))
        print(f"{who} {rate:7.0f}/s  sidecar {cpu:.3f} ms/spawn", flush=True)
    for who, r in res.items():
        print(f"{who}: rate median {statistics.median(x[0] for x in r):.0f}/s, "
              f"sidecar CPU median {statistics.median(x[1] for x in r):.3f} ms/spawn")
    ra = statistics.median(x[0] for x in res["A"]); rb = statistics.median(x[0] for x in res["B"])
    print(f"B/A rate {rb/ra:.3f}")
    for s in sides.values():
        s.p.stdin.close(); s.p.wait()

main()
