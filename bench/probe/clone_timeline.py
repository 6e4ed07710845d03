#!/usr/bin/env python3
"""Where a spawn waits, from a perf trace of the sidecar's clone3s.

    perf record -o /tmp/ev.data -e sched:sched_process_exec -e sched:sched_process_exit \
        -e syscalls:sys_enter_clone3 -e syscalls:sys_exit_clone3 -- \
        node bench/probe/positions.mjs --kennel ... --fixture ...
    perf script -i /tmp/ev.data -F comm,tid,time,event,trace > /tmp/ev.txt
    python3 bench/probe/clone_timeline.py /tmp/ev.txt

For each spawn: clone3 entered -> the child first runs (returns 0 in the child) -> the
child's exec -> clone3 returns the pid in the parent (CLONE_VFORK: only after the exec),
and how often the program had already exited by then (its exit cannot be reported
before its spawn returns). A probe for docs/DECISIONS.md ("Session 11").
"""
import re
import sys

LINE = re.compile(r"\s*(\S+)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)")


def main(path):
    entered, child_runs, execd, exited, parent_back = {}, {}, {}, {}, {}
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        comm, tid, t, event, rest = m.groups()
        tid, t = int(tid), float(t) * 1000
        if event == "syscalls:sys_enter_clone3":
            entered[tid] = t
        elif event == "syscalls:sys_exit_clone3":
            ret = int(rest, 16)
            if ret == 0:
                child_runs[tid] = t
            elif ret < 1 << 31:
                parent_back[ret] = (t, entered.get(tid))
        elif event == "sched:sched_process_exec":
            execd[tid] = t
        elif event == "sched:sched_process_exit":
            exited[tid] = t
    to_run, to_exec, to_back, late = [], [], [], []
    for pid, (back, enter) in parent_back.items():
        if enter is None or pid not in child_runs or pid not in execd:
            continue
        to_run.append(child_runs[pid] - enter)
        to_exec.append(execd[pid] - child_runs[pid])
        to_back.append(back - execd[pid])
        if pid in exited and exited[pid] < back:
            late.append(back - exited[pid])

    def show(name, xs):
        if not xs:
            print(f"{name}: none")
            return
        xs = sorted(xs)
        print(f"{name}: n={len(xs)} median {xs[len(xs) // 2]:.3f} ms, mean {sum(xs) / len(xs):.3f}, p90 {xs[int(len(xs) * 0.9)]:.3f}")

    show("clone3 entered -> child runs", to_run)
    show("child runs -> exec", to_exec)
    show("exec -> clone3 returns in the parent", to_back)
    show(f"program already exited when its spawn returned ({len(late)} of {len(to_back)}), by", late)


if __name__ == "__main__":
    main(sys.argv[1])
