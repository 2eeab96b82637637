#!/usr/bin/env python3
"""Runs a command, polls its whole process tree every 50 ms, and prints the
wall time and the peak of the tree's summed resident memory (what the machine
actually had to hold, across worker processes).

usage: bench_measure.py LABEL N_SAMPLES -- CMD ARGS...
"""
import os
import subprocess
import sys
import time


def tree_rss_kib(root):
    children = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(pid))
        except (OSError, IndexError, ValueError):
            pass
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def main():
    label, n = sys.argv[1], int(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.05)
    wall = time.time() - start
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        print(f"{label}: FAILED (exit {proc.returncode})\n{err[-3000:]}", file=sys.stderr)
        sys.exit(1)
    print(f"{label:12s} {n} samples in {wall:7.2f} s = {n / wall:8.1f} images/s, peak RSS {peak / 1024:7.1f} MiB")


if __name__ == "__main__":
    main()
