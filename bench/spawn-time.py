#!/usr/bin/env python3
# Wall time of short commands, for rows where the harness's own cost matters: Node's spawnSync
# forks its own (large) process before each exec, which adds about 9 ms to every run on these VMs,
# as much as a helper-level join itself costs. Python's subprocess starts children with vfork.
# stdin: {"contenders": [{"argv": [...], "env": {...}}], "runs": N, "warmup": W}
# stdout: {"times": [[ms, ...] per contender]}
# Contenders run interleaved (A B A B ...), as bench/lib.ts measure() does; a failing run fails
# the whole measurement.
import json
import subprocess
import sys
import time


def main():
    spec = json.load(sys.stdin)
    contenders = spec["contenders"]
    times = [[] for _ in contenders]
    for i in range(-spec.get("warmup", 2), spec["runs"]):
        for j, c in enumerate(contenders):
            t0 = time.perf_counter_ns()
            r = subprocess.run(c["argv"], env=c.get("env"), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            ms = (time.perf_counter_ns() - t0) / 1e6
            if r.returncode != 0:
                sys.stderr.write(f"{c['argv'][0]} failed ({r.returncode}): {r.stderr.decode(errors='replace')}\n")
                sys.exit(1)
            if i >= 0:
                times[j].append(ms)
    json.dump({"times": times}, sys.stdout)


main()
