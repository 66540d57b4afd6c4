#!/usr/bin/python3
"""bench_help_node.py - help articles on a running node: for 1 000 and 10 000 published articles
of one site, the rebuild as a node does it when the bus says `!help SITE` (read from Redis,
parsed, indexed on the thread pool, swapped in: from the announcement to the log line), the
node's RSS before and after (the index and the articles it keeps), and visitors' help_search
round trips over a WebSocket (p50, p99), the node otherwise idle.

Its own redis-server and beckon (the binary given); the articles go straight into Redis, as
help_article_save.lua keeps them, and the change is announced as the script would. Run it
through tests/bench/help.sh (which builds the release binary), under the exclusive lock."""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import websockets

SITE = "bench"
GLOBAL = "bk:{g}:"


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


def redis_cli(port, *args, stdin=None):
    return subprocess.run(["redis-cli", "-p", str(port), *args], input=stdin, capture_output=True, check=True).stdout


def vocabulary(n=30000, seed=7):
    rnd = random.Random(seed)
    syllables = ["ka", "re", "to", "mi", "sa", "lo", "ne", "vi", "da", "pu", "ri", "ge", "ship", "turn", "pay",
                 "card", "or", "der", "fund", "pass"]
    words = ["".join(rnd.choice(syllables) for _ in range(rnd.randint(2, 4))) for _ in range(n)]
    weights = [1.0 / (i + 1) ** 1.07 for i in range(n)]
    return words, weights, rnd


def articles(count, words, weights, rnd):
    out = []
    for i in range(count):
        title = " ".join(rnd.choices(words, weights, k=rnd.randint(3, 7)))
        body_words = rnd.choices(words, weights, k=rnd.randint(80, 480))
        paragraphs = [" ".join(body_words[k:k + 40]) for k in range(0, len(body_words), 40)]
        body = "## " + body_words[0] + "\n\n" + "\n\n".join(paragraphs)
        out.append({"id": f"a{i}", "title": title, "body": body, "lang": "en",
                    "category": "Orders" if i % 7 == 0 else "General", "state": "published"})
    return out


def load(port, arts):
    """The site's published articles into Redis with one pipe (RESP), as the save script keeps them."""
    lines = []
    key = f"{GLOBAL}help:{SITE}:published"
    lines.append(["DEL", key])
    for k in range(0, len(arts), 500):
        cmd = ["HSET", key]
        for a in arts[k:k + 500]:
            cmd += [a["id"], json.dumps(a)]
        lines.append(cmd)
    lines.append(["SADD", f"{GLOBAL}help:sites", SITE])
    payload = b"".join(b"*%d\r\n" % len(c) + b"".join(b"$%d\r\n%s\r\n" % (len(x.encode()), x.encode()) for x in c)
                       for c in lines)
    redis_cli(port, "--pipe", stdin=payload)


async def searches(port, words, weights, rnd, n=2000):
    times = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["beckon-visitor.v1"],
                                  max_size=2 ** 22) as ws:
        await ws.send(json.dumps({"type": "hello", "req": 0, "site": SITE, "lang": "en"}))
        while json.loads(await ws.recv()).get("type") != "welcome":
            pass
        for i in range(n):
            q = " ".join(rnd.choices(words, weights, k=rnd.randint(1, 6)))
            t0 = time.perf_counter()
            await ws.send(json.dumps({"type": "help_search", "req": i + 1, "query": q, "typing": i % 2 == 0}))
            while True:
                m = json.loads(await ws.recv())
                if m.get("req") == i + 1:
                    break
            assert m["type"] == "help_results", m
            times.append((time.perf_counter() - t0) * 1000)
            await asyncio.sleep(0.201)  # within the searches' own rate: 5 a second
    times.sort()
    return times


async def main_async(args):
    root = tempfile.mkdtemp(prefix="beckon-bench-help-")
    redis = beckon = None
    rows = []
    try:
        rport, port = free_port(), free_port()
        redis = subprocess.Popen([args.redis_server, "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", root], stdout=subprocess.DEVNULL)
        time.sleep(0.3)
        log_path = os.path.join(root, "beckon.log")
        beckon = subprocess.Popen([args.beckon, "--redis", f"redis://127.0.0.1:{rport}", "--port", str(port),
                                   "--data-dir", os.path.join(root, "data"), "--log-level", os.environ.get("BENCH_LOG_LEVEL", "info"),
                                   "--rate-messages-per-second", "1000", "--rate-burst", "1000"],
                                  stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
        time.sleep(1.0)
        words, weights, rnd = vocabulary()
        for count in args.counts:
            arts = articles(count, words, weights, rnd)
            load(rport, arts)
            rss_before = rss_kb(beckon.pid)
            seen = open(log_path, "rb").read().count(b"articles indexed")
            t0 = time.perf_counter()
            redis_cli(rport, "SPUBLISH", GLOBAL + "to:nodes", "!help " + SITE)
            build_ms = None
            while time.perf_counter() - t0 < 60:
                text = open(log_path, "rb").read().decode(errors="replace")
                found = re.findall(r"help: bench: (\d+) articles indexed in ([\d.]+) ms", text)
                if len(found) > seen and int(found[-1][0]) == count:
                    build_ms = float(found[-1][1])
                    break
                time.sleep(0.005)
            wall_ms = (time.perf_counter() - t0) * 1000
            await asyncio.sleep(0.5)
            rss_after = rss_kb(beckon.pid)
            times = await searches(port, words, weights, rnd, n=args.searches)
            rows.append((count, wall_ms, build_ms, (rss_after - rss_before) / 1024, times[len(times) // 2],
                         times[int(len(times) * 0.99)]))
        print("| articles | rebuild, announcement to swap | of it on the thread pool | node RSS growth | "
              "help_search round trip p50 | p99 |")
        print("|---|---|---|---|---|---|")
        for count, wall, build, rss, p50, p99 in rows:
            print(f"| {count} | {wall:.0f} ms | {build:.0f} ms | {rss:.1f} MiB | {p50:.2f} ms | {p99:.2f} ms |")
        return 0
    finally:
        for p in (beckon, redis):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
        if os.environ.get("BENCH_KEEP_LOG"):
            shutil.copy(os.path.join(root, "beckon.log"), os.environ["BENCH_KEEP_LOG"])
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--beckon", required=True)
    ap.add_argument("--redis-server", default=shutil.which("redis-server"))
    ap.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--searches", type=int, default=300)
    args = ap.parse_args()
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
