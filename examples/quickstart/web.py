"""A page that shows what the api says; it finds the api through MOORING_API_ADDR or API_URL."""

import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

addr = os.environ.get("MOORING_API_ADDR")
API_URL = f"http://{addr}" if addr else os.environ.get("API_URL", "http://127.0.0.1:8081")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        try:
            with urllib.request.urlopen(API_URL + "/", timeout=2) as reply:
                said = reply.read().decode()
            status = 200
        except OSError as exc:
            said, status = f"api unreachable: {exc}", 502
        body = f"<h1>quickstart</h1><p>api says: {said}</p>\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: object) -> None:
        print(fmt % args, flush=True)


port = int(os.environ.get("PORT", "8080"))
print(f"web listening on 127.0.0.1:{port}, api at {API_URL}", flush=True)
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
