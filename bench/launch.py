"""Run one command and report its wall time and peak RSS: ``python -I -S bench/launch.py RESULT.json CMD [ARG...]``.

Why a launcher: Linux records, at exec, the peak RSS of the memory image being replaced into the new program's
``ru_maxrss``. A command spawned straight from the benchmark (vfork or fork) would therefore report at least the
benchmark's own RSS (~35 MB). Forked from this small process (~9 MB, stdlib only, no site), it reports its own peak,
with this launcher's size as the floor. Times are ``time.perf_counter()`` (CLOCK_MONOTONIC on Linux: one clock for
every process on the machine), so the benchmark can compare the spawn time with when its stub saw the first request.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: launch.py RESULT.json CMD [ARG...]", file=sys.stderr)
        return 2
    result_path, cmd = argv[1], argv[2:]
    spawned_at = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    exited_at = time.perf_counter()
    code = os.waitstatus_to_exitcode(status)
    with open(result_path, "w", encoding="utf-8") as handle:
        json.dump({"spawned_at": spawned_at, "exited_at": exited_at, "code": code, "max_rss_kb": usage.ru_maxrss}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
