"""Run a command and write its peak RSS (KiB) to a file, like ``/usr/bin/time -f %M``.

Linux charges a process that calls ``exec`` with the memory high-water mark of the process it
was forked from, so a command started straight from the (large) benchmark process would report
at least the benchmark's own RSS. Started from this small interpreter (``python -I -S``, about
8 MB), the figure is the command's own, or this floor when the command is smaller. The
benchmark prefers GNU time (about 1 MB) when it is installed::

    python -I -S bench_rss.py RSS_FILE COMMAND [ARGS...]
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: bench_rss.py RSS_FILE COMMAND [ARGS...]", file=sys.stderr)
        return 2
    rss_file, command = argv[0], argv[1:]
    pid = os.fork()
    if pid == 0:  # the child: become the command
        try:
            os.execvp(command[0], command)  # noqa: S606 - becoming the measured command is the point
        except OSError as exc:
            print(f"bench_rss: cannot run {command[0]}: {exc.strerror}", file=sys.stderr)
        os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    with open(rss_file, "w", encoding="utf-8") as out:
        out.write(f"{usage.ru_maxrss}\n")
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code  # killed by a signal: 128 + its number, as shells do


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
