#!/usr/bin/env python3
"""Drives an interactive command in a pseudo-terminal, for tests of `jobnode top`'s keys. Standard library only.

    pty-drive.py [--timeout S] STEP... -- COMMAND [ARG...]

A STEP is `wait:TEXT` (read the terminal's output until TEXT has appeared since the previous wait) or `send:KEYS`
(write KEYS; `\\t`, `\\n` and `\\x1b` escapes are understood). After the last step it waits for the command to exit
and exits with the command's status; a wait that times out exits 124 and prints what the screen showed last.
Everything the command wrote goes to stdout at the end.
"""
import os
import pty
import select
import sys
import time


def main(argv):
    timeout = 20.0
    if argv[:1] == ["--timeout"]:
        timeout, argv = float(argv[1]), argv[2:]
    split = argv.index("--")
    steps, command = argv[:split], argv[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    output = b""
    seen = 0

    def read_some(deadline):
        nonlocal output
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return False
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        output += chunk
        return True

    for step in steps:
        kind, _, value = step.partition(":")
        if kind == "wait":
            deadline = time.monotonic() + timeout
            needle = value.encode()
            while needle not in output[seen:]:
                if time.monotonic() > deadline or not read_some(deadline):
                    if time.monotonic() <= deadline:
                        continue
                    sys.stdout.write(output.decode("utf-8", "replace"))
                    sys.stderr.write(f"pty-drive: timed out waiting for {value!r}\n")
                    os.kill(pid, 9)
                    return 124
            seen = output.index(needle, seen) + len(needle)
        elif kind == "send":
            keys = value.encode().decode("unicode_escape").encode("latin-1")
            os.write(fd, keys)
        else:
            sys.stderr.write(f"pty-drive: unknown step {step!r}\n")
            os.kill(pid, 9)
            return 2
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            while read_some(time.monotonic() + 0.05):
                pass
            sys.stdout.write(output.decode("utf-8", "replace"))
            return os.waitstatus_to_exitcode(status)
        read_some(time.monotonic() + 0.1)
    os.kill(pid, 9)
    sys.stdout.write(output.decode("utf-8", "replace"))
    sys.stderr.write("pty-drive: the command did not exit\n")
    return 124


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
