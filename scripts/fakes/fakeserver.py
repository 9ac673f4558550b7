"""The loopback server main shared by the fakes (fake-plaid.py, fake-stripe.py). Standard library only; import it with

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fakeserver
"""
import os
import signal
import sys
import threading
from http.server import ThreadingHTTPServer


def serve(handler_class, host, port, parent_watch=True, parent=None):
    """Serves handler_class on (host, port) (port 0: any free one) until SIGTERM/SIGINT, or until the parent process
    (`parent`, default: the current one) is gone when parent_watch is set. The FIRST line on stdout is exactly
    `LISTENING <port>` (flushed). Returns 0, the exit code."""
    if parent is None:
        parent = os.getppid()
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer((host, port), handler_class)
    server.daemon_threads = True
    stopping = threading.Event()

    def stop(*_):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if parent_watch:
        def watch():  # a test runner that crashed must not leave fakes behind
            while not stopping.wait(0.5):
                if os.getppid() != parent:
                    stop()
        threading.Thread(target=watch, daemon=True).start()

    sys.stdout.write(f"LISTENING {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
