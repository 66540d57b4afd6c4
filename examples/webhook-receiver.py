#!/usr/bin/env python3
"""A Beckon webhook receiver: verifies each request's signature and timestamp, drops
duplicate deliveries, and prints the events. Python standard library only.

    BECKON_WEBHOOK_SECRET=3f9c... python3 examples/webhook-receiver.py --port 9000
    beckon site set shop webhook http://127.0.0.1:9000/

docs/integrations.md describes the events and headers."""

import argparse
import hashlib
import hmac
import json
import os
import sys
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_AGE_MS = 5 * 60 * 1000   # refuse requests older than this (replays)
SEEN_MAX = 10000             # remembered delivery ids


def verify(secret, headers, body):
    """None when the request is Beckon's and fresh, else why not."""
    ts = headers.get("X-Beckon-Timestamp", "")
    signature = headers.get("X-Beckon-Signature", "")
    if not ts.isdigit():
        return "no timestamp"
    if abs(time.time() * 1000 - int(ts)) > MAX_AGE_MS:
        return "timestamp too old"
    expected = "sha256=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "bad signature"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = OrderedDict()

    def answer(self, status, text):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        problem = verify(self.server.secret, self.headers, body)
        if problem:
            self.answer(401, problem)   # not retried usefully: Beckon records it as a failure in the end
            return
        delivery = self.headers.get("X-Beckon-Delivery", "")
        if delivery in self.seen:
            self.answer(200, "seen")     # at least once: a duplicate is acknowledged, not processed
            return
        self.seen[delivery] = True
        while len(self.seen) > SEEN_MAX:
            self.seen.popitem(last=False)
        event = json.loads(body)
        print(json.dumps(event, ensure_ascii=False), flush=True)
        self.answer(200, "ok")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--bind", default="127.0.0.1")
    args = parser.parse_args()
    secret = os.environ.get("BECKON_WEBHOOK_SECRET")
    if not secret:
        sys.exit("set BECKON_WEBHOOK_SECRET to the site's webhook secret")
    server = ThreadingHTTPServer((args.bind, args.port), Handler)
    server.secret = secret.encode()
    print(f"listening on http://{args.bind}:{args.port}/", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
