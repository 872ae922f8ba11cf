"""A tiny JSON API: GET / answers a greeting, GET /health answers ok."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            body = b"ok"
        else:
            body = json.dumps({"greeting": os.environ.get("GREETING", "hello"),
                               "instance": os.environ.get("MOORING_INSTANCE", "?")}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        if not self.path.startswith("/health"):  # probes every second would drown the log
            print(fmt % args, flush=True)


port = int(os.environ.get("PORT", "8081"))
print(f"api listening on 127.0.0.1:{port}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
