"""Each transport against a server that writes an answer's headers and body apart without TCP_NODELAY.

Python's `http.server` does so: its body waits, under Nagle's algorithm, until the client ACKs the headers,
and Linux delays that ACK up to 40 ms unless the client asks for quick ACKs (the h11 transport does, once
each request is out). The server answers TGI's `/generate` at once, so the time per request is the client's
and the wire's. Wall time per request, median of the rounds with the min-max spread.

    PYTHONPATH=. python bench/bench_unbuffered_server.py [--rounds 3] [--requests 200]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from clue_checks.endpoint.retry import RetryPolicy
from clue_checks.endpoint.scheduler import Scheduler
from clue_checks.endpoint.store import NullStore
from clue_checks.endpoint.transports import TRANSPORTS
from clue_checks.endpoint.types import GenerationParams, Request


class _Unbuffered(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; disable_nagle_algorithm stays False, as in http.server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer(b"{}" if self.path != "/info" else json.dumps({"model_id": "m", "max_concurrent_requests":
                                                                     128}).encode())

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self._answer(json.dumps({"generated_text": body["inputs"].upper(),
                                 "details": {"finish_reason": "length", "generated_tokens": 1}}).encode())

    def _answer(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()  # the headers leave here, the body in a write of its own
        self.wfile.write(data)


def per_request(url: str, http: str, n: int, in_flight: int) -> float:
    scheduler = Scheduler([url], NullStore(), retry=RetryPolicy(max_attempts=1), http=http, concurrency=in_flight)
    scheduler.start()
    try:
        start = time.perf_counter()
        futures = [scheduler.submit(Request("generate", GenerationParams(5), prompt=f"p{i}")) for i in range(n)]
        for future in concurrent.futures.as_completed(futures, timeout=300):
            future.result()
        return (time.perf_counter() - start) / n
    finally:
        scheduler.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unbuffered)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        print("| transport | in flight | ms per request |\n|---|---:|---:|")
        for http in TRANSPORTS:
            for in_flight in (1, 4):
                ms = [1000 * per_request(url, http, args.requests, in_flight) for _ in range(args.rounds)]
                print(f"| {http} | {in_flight} | {statistics.median(ms):.1f} ({min(ms):.1f}–{max(ms):.1f}) |")
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
