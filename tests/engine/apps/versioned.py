"""A test service: answers its version on GET /, and misbehaves on request.

BEHAVIOR (for the replicas in FAIL_REPLICAS, default all; only while FAIL_FLAG exists when set):
  ok (default) | crash (exit 3 at start) | unhealthy (/health answers 503) | silent (never listens)
"""

import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

version = os.environ.get("V", "1")
replica = os.environ.get("MOORING_REPLICA", "1")
targets = os.environ.get("FAIL_REPLICAS") or None
flag = os.environ.get("FAIL_FLAG")
misbehave = (targets is None or replica in targets.split(",")) and (not flag or os.path.exists(flag))
behavior = os.environ.get("BEHAVIOR", "ok") if misbehave else "ok"
print(f"version {version} replica {replica} behavior {behavior}", flush=True)

if behavior == "crash":
    sys.exit(3)
if behavior == "silent":
    while True:
        time.sleep(60)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 503 if self.path == "/health" and behavior == "unhealthy" else 200
        body = version.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
