#!/usr/bin/env python3
"""Where a round trip's time goes, stage by stage, at N in flight (see stages.mjs).

    python3 bench/probe/stages.py PERF_SCRIPT_TXT CALLS_JSON

Joins each call of `stages.mjs` (its pid, call and outcome times) with the kernel's
`sched_process_fork`/`exec`/`exit` of that pid (perf on CLOCK_MONOTONIC, the clock of
Node's `process.hrtime`), and prints the mean of each stage by the call's completion
rank within its batch (0 = first outcome of the batch):

  call->fork   the client's request until the sidecar's clone
  fork->exec   the child created until its exec (the sidecar's spawning thread waits)
  exec->exit   the program itself
  exit->client the child's exit until the client has the outcome

Means, so that the stages add up to the total. The first 3 batches are warm-up.
"""
import collections
import json
import re
import statistics
import sys

LINE = re.compile(r"\s*(\S.*?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):\s+sched:(\w+):\s*(.*)")
STAGES = ["call->fork", "fork->exec", "exec->exit", "exit->client", "total"]


def main(trace, calls_json):
    fork, execd, exited = {}, {}, {}
    for line in open(trace):
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, t, event, rest = m.groups()
        pid, t = int(pid), float(t) * 1000
        if event == "sched_process_fork":
            fork[int(re.search(r"child_pid=(\d+)", rest).group(1))] = t
        elif event == "sched_process_exec":
            execd[pid] = t
        elif event == "sched_process_exit" and comm == "kennel-fixture":
            exited[pid] = t
    batches = collections.defaultdict(list)
    for c in json.load(open(calls_json)):
        batches[c["batch"]].append(c)
    rows = collections.defaultdict(lambda: collections.defaultdict(list))
    for b, calls in batches.items():
        if b < 3:
            continue
        calls.sort(key=lambda c: c["end"])
        for rank, c in enumerate(calls):
            p = c["pid"]
            if not (p in fork and p in execd and p in exited):
                continue
            times = [c["start"], fork[p], execd[p], exited[p], c["end"]]
            for stage, (a, z) in zip(STAGES, zip(times, times[1:])):
                rows[stage][rank].append(z - a)
            rows["total"][rank].append(c["end"] - c["start"])
    if not rows:
        sys.exit("no call matched the trace (was perf run with -k CLOCK_MONOTONIC?)")
    ranks = sorted(rows["total"])
    print(f"{'mean, ms, by rank':17}", " ".join(f"{r:6d}" for r in ranks), "   all")
    for stage in STAGES:
        by = rows[stage]
        every = [d for r in ranks for d in by[r]]
        cells = " ".join(f"{statistics.mean(by[r]):6.2f}" for r in ranks)
        print(f"{stage:17}", cells, f"{statistics.mean(every):6.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
