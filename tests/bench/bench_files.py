#!/usr/bin/python3
"""bench_files.py - files in chat: the upload throughput of one 10 MB file (MB/s, from the first
byte sent to the 201) and beckon's RSS during 20 concurrent uploads, with 1 MB files and with
10 MB files: the node streams bodies to disk, so what it holds must not grow with the files'
size (target: the peak RSS over the idle RSS with 10 MB files within twice that with 1 MB files,
plus 16 MB).

Its own redis-server and beckon (the binary given), a private data dir; prints a table and
pass/miss. Run it through tests/bench/files.sh."""

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import websockets


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    """The peak RSS of pid while running."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kb(self.pid))
            time.sleep(0.005)


async def visitor_token(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["beckon-visitor.v1"]) as ws:
        await ws.send(json.dumps({"type": "hello", "site": "bench"}))
        return json.loads(await ws.recv())["token"]


async def upload(port, token, cmid, body):
    """Sends body as a file; (status, seconds from the first byte to the answer)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    q = urllib.parse.urlencode({"cmid": cmid, "name": "bench.txt"})
    head = (f"POST /api/files?{q} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Visitor {token}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    t0 = time.monotonic()
    writer.write(head)
    view = memoryview(body)
    for i in range(0, len(body), 256 * 1024):
        writer.write(view[i:i + 256 * 1024])
        await writer.drain()
    answer = await reader.readuntil(b"\r\n\r\n")
    seconds = time.monotonic() - t0
    writer.close()
    return int(answer.split(b" ", 2)[1]), seconds


def text_file(size):
    # no commas: libmagic takes lines of comma-separated words for text/csv
    line = b"Beckon benchmark: a plain text file of many lines streamed to the node's disk.\n"
    return (line * (size // len(line) + 1))[:size]


async def concurrent(port, count, size, pid, label):
    tokens = [await visitor_token(port) for _ in range(count)]
    body = text_file(size)
    idle = rss_kb(pid)
    sampler = Sampler(pid)
    sampler.start()
    t0 = time.monotonic()
    results = await asyncio.gather(*(upload(port, t, f"{label}-{i}", body) for i, t in enumerate(tokens)))
    wall = time.monotonic() - t0
    sampler.running = False
    sampler.join()
    bad = [s for s, _ in results if s != 201]
    if bad:
        raise SystemExit(f"bench_files: {len(bad)} uploads of {label} answered {bad[:3]}")
    return idle, sampler.peak, wall


async def main_async(args):
    root = tempfile.mkdtemp(prefix="beckon-bench-files-")
    redis = beckon = None
    try:
        rport, port = free_port(), free_port()
        redis = subprocess.Popen([args.redis_server, "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", root], stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        beckon = subprocess.Popen([args.beckon, "--redis", f"redis://127.0.0.1:{rport}", "--port", str(port),
                                   "--data-dir", os.path.join(root, "data"), "--file-store", args.store,
                                   "--files-per-minute", "1000", "--files-per-minute-per-ip", "1000",
                                   "--log-level", "warn"], stdout=open(os.path.join(root, "beckon.log"), "wb"),
                                  stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        await asyncio.sleep(0.5)
        token = await visitor_token(port)
        body = text_file(10_000_000)
        await upload(port, token, "warm", text_file(100_000))
        best = None
        for i in range(args.runs):
            status, seconds = await upload(port, token, f"one-{i}", body)
            if status != 201:
                raise SystemExit(f"bench_files: a 10 MB upload answered {status}")
            best = seconds if best is None else min(best, seconds)
        mbps = 10.0 / best
        small = await concurrent(port, 20, 1_000_000, beckon.pid, "c1")
        large = await concurrent(port, 20, 10_000_000, beckon.pid, "c10")
        grow_small = (small[1] - small[0]) / 1024
        grow_large = (large[1] - large[0]) / 1024
        target = 2 * grow_small + 16
        ok = grow_large <= target
        print(f"| file store | one 10 MB upload | 20 x 1 MB: RSS idle → peak | 20 x 10 MB: RSS idle → peak | 20 x 10 MB wall |")
        print(f"|---|---|---|---|---|")
        print(f"| {args.store} | {mbps:.0f} MB/s ({best * 1000:.0f} ms) | {small[0] / 1024:.1f} → {small[1] / 1024:.1f} MB "
              f"(+{grow_small:.1f}) | {large[0] / 1024:.1f} → {large[1] / 1024:.1f} MB (+{grow_large:.1f}) | "
              f"{large[2]:.2f} s ({200 / large[2]:.0f} MB/s) |")
        print(f"RSS growth with 10 MB files {grow_large:.1f} MB, target <= {target:.1f} MB "
              f"(2 x the 1 MB files' + 16): {'pass' if ok else 'MISS'}")
        return 0 if ok else 1
    finally:
        for p in (beckon, redis):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--beckon", required=True)
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--store", default="dir", choices=["dir", "redis"])
    ap.add_argument("--runs", type=int, default=3, help="10 MB uploads timed alone; the best counts")
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
