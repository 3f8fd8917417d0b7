"""A stand-in for the Neutron API, enough for Nova's servers booted with networks='none'.

Nova calls Neutron even for servers without networks (server show and list ask for security
groups, delete deallocates ports, live migration lists extensions and bound ports); with no
Neutron endpoint those calls fail with HTTP 500 and deletes leave servers in ERROR. This stub
answers every collection with an empty list, every DELETE with 204 and anything else with 404.
It is the one part of the loopback cloud that is not the real service.

usage: python neutron_stub.py [HOST] [PORT]   (standard library only)
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_NOT_FOUND = {"NeutronError": {"type": "NotFound", "message": "not in the stub", "detail": ""}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _send(self, code: int, body: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path.rstrip("/")
        if path in ("", "/v2.0"):
            link = {"rel": "self", "href": f"http://{self.headers['Host']}/v2.0/"}
            self._send(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [link]}]})
            return
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "v2.0":  # a collection: always empty
            self._send(200, {parts[2].replace("-", "_"): []})
            return
        self._send(404, _NOT_FOUND)

    def do_DELETE(self) -> None:
        self._send(204)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._send(404, _NOT_FOUND)

    do_PUT = do_POST

    def log_message(self, format: str, *args) -> None:
        sys.stdout.write(f"{self.log_date_time_string()} {format % args}\n")
        sys.stdout.flush()


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 9696
    ThreadingHTTPServer((host, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
