"""A test service speaking HTTP/1.1 with keep-alive, and shutting down gracefully on SIGTERM.

GET / answers the version V (with BEHAVIOR=errors, every 5th answer is a 500); /health answers 200,
or 503 with BEHAVIOR=unhealthy.
On SIGTERM it stops accepting, answers the requests still coming on open connections with
``Connection: close`` for a short grace period, then exits: what a well-behaved server does.
"""

import itertools
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

version = os.environ.get("V", "1")
behavior = os.environ.get("BEHAVIOR", "ok")
closing = threading.Event()
answers = itertools.count(1)
print(f"version {version} behavior {behavior}", flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status = 503 if self.path == "/health" and behavior == "unhealthy" else 200
        if self.path == "/" and behavior == "errors" and next(answers) % 5 == 0:
            status = 500
        body = version.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if closing.is_set():
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True


def terminate(*_: object) -> None:
    closing.set()
    threading.Thread(target=server.shutdown).start()


signal.signal(signal.SIGTERM, terminate)
server.serve_forever()
time.sleep(0.5)  # grace: open connections get their answer with Connection: close
