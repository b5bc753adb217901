#!/usr/bin/env python3
# Time from starting an interactive command on a new pty until its first output byte (the shell's
# prompt), for bench/env.bench.ts. Node has no pty of its own, so this uses Python's pty module.
# stdin: {"contenders": [{"argv": [...], "env": {...}, "cwd": "..."}], "runs": N, "warmup": W}
# stdout: {"times": [[ms, ...] per contender], "first": [first chunk of output per contender]}
# Contenders run interleaved (A B A B ...), as bench/lib.ts measure() does. After the first byte
# the harness types `exit`, reads until the pty closes and reaps the child, so no run overlaps
# the next one.
import json
import os
import pty
import select
import signal
import sys
import time

TIMEOUT = 120.0


def one(c):
    t0 = time.monotonic_ns()
    pid, fd = pty.fork()
    if pid == 0:
        try:
            if c.get("cwd"):
                os.chdir(c["cwd"])
            os.execvpe(c["argv"][0], c["argv"], c["env"])
        finally:
            os._exit(127)
    first = b""
    try:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:
            raise RuntimeError(f"{c['argv']}: no output within {TIMEOUT} s")
        first = os.read(fd, 4096)
        t1 = time.monotonic_ns()
        os.write(fd, b"exit\n")
        # Drain until the pty closes (EIO on Linux once the last process holding it is gone).
        deadline = time.monotonic() + TIMEOUT
        rest = b""
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise RuntimeError(f"{c['argv']}: did not exit after `exit` (output so far: {(first + rest)[-300:]!r})")
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            rest += chunk
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        raise
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{c['argv']} exited {code}; output: {(first + rest)[-500:]!r}")
    return (t1 - t0) / 1e6, first.decode("utf-8", "replace")


def main():
    spec = json.load(sys.stdin)
    cs = spec["contenders"]
    times = [[] for _ in cs]
    first = ["" for _ in cs]
    for i in range(-spec.get("warmup", 2), spec["runs"]):
        for j, c in enumerate(cs):
            ms, out = one(c)
            if i >= 0:
                times[j].append(ms)
            first[j] = out
    json.dump({"times": times, "first": first}, sys.stdout)


main()
