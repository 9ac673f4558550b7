#!/usr/bin/env python3
"""localstripe (PyPI, GPL-3.0, run as a separate process and never copied) on the loopback, for the Stripe tests.

    localstripe-run.py --port 0 [--host 127.0.0.1] [--no-parent-watch]
        Serve localstripe's aiohttp app on the loopback only (its own CLI binds every interface). The FIRST line on
        stdout is exactly `LISTENING <port>` (flushed), as for the other fakes. State lives in memory only: the
        pickle file localstripe writes to /tmp after every change is not written (two runs at once would share it).
        Exits on SIGTERM/SIGINT, and by itself when its parent process dies (unless --no-parent-watch).
    localstripe-run.py --prepare
        Make the venv (localstripe pinned below, under .build/ unless JOBKIT_LOCALSTRIPE_VENV says where) and exit.

localstripe speaks Stripe's 2017 API (plans, no prices, no billing portal, no idempotency replay); the tests put
scripts/fakes/fake-stripe.py --upstream in front of it for exactly those (see there).
"""
import argparse
import asyncio
import os
import signal
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import pyvenv  # noqa: E402  (scripts/lib/pyvenv.py)

LOCALSTRIPE_VERSION = "1.15.10"
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def main(argv):
    parser = argparse.ArgumentParser(description="localstripe on the loopback (see the module docstring).")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--no-parent-watch", action="store_true")
    parser.add_argument("--prepare", action="store_true")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "::1", "localhost"):
        sys.exit("localstripe-run: the tests' localstripe binds the loopback only")
    parent = os.getppid()  # the re-exec into the venv keeps this process's id, so its parent too
    pyvenv.ensure("localstripe", LOCALSTRIPE_VERSION, "JOBKIT_LOCALSTRIPE_VENV",
                  os.path.join(REPO, ".build", "localstripe-venv"), "JOBKIT_LOCALSTRIPE_IN_VENV",
                  prog="localstripe-run", script=os.path.abspath(__file__), argv=argv)
    if args.prepare:
        print(f"localstripe-run: localstripe {LOCALSTRIPE_VERSION} ready")
        return 0

    import logging
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    from aiohttp import web
    from localstripe import server
    server.store.dump_to_disk = lambda: None  # memory only

    async def run():
        runner = web.AppRunner(server.app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        sys.stdout.write(f"LISTENING {port}\n")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            if not args.no_parent_watch and os.getppid() != parent:
                break
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
        await runner.cleanup()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
