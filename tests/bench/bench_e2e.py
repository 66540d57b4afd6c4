"""Triggers, end to end: how many browsing events a beckon node stores and evaluates per second,
what each costs in server and Redis CPU, and how late a time-on-page invitation arrives.

Real processes only, as in production: a redis-server of its own (unix socket, AOF on with
appendfsync everysec), the beckon binary (build it with --buildtype=release) on a free port, 1 000
realistic rules in `bk:{g}:rules` (plus the one rule the invitation test needs), and WebSocket clients
in several processes (Debian's python3-websockets 10.4, legacy asyncio API).

1. Ingest. K visitor sockets, split over P client processes, each keep W `page_view` requests
   (with `req`) in flight and send the next one as soon as an `ok` comes back. An `ok` means the
   event is in Redis (the track script ran) and the node evaluated its rules for that visitor.
   Counted over a fixed window after a warm-up: ok replies per second, the `ok` round trip,
   beckon's and redis-server's CPU (utime+stime from /proc/PID/stat) per event, and how busy
   the client processes and the machine as a whole were, so that the reader can tell which of
   client, server and Redis was the limit.
2. Invitation latency. Rule `page.path glob /pricing*` + `page.seconds >= 1`. M fresh visitors,
   staggered, each send one `page_view` of /pricing; per visitor: (time the `invite` arrived) -
   (time its page_view was sent + 1 s).

Run with Debian's interpreter (it has python3-websockets):
    /usr/bin/python3 tests/bench/bench_e2e.py --beckon BUILD/server/beckon [--doc docs/benchmarks.md]
tests/bench/run.sh builds the release binary and runs this. --help lists the knobs.
"""

import argparse
import asyncio
import datetime
import json
import multiprocessing
import os
import platform
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

try:
    import websockets
except ImportError:  # the pyenv python3 on PATH does not see Debian's package
    sys.exit("bench_e2e: needs python3-websockets: run it with /usr/bin/python3")

VISITOR_PROTO = "beckon-visitor.v1"
# The key layout (server/base/keys.h): rules in the global slot; with no site configured every
# visitor is of the site "", whose slot's tag is e3b0 (SHA-256 of "").
GLOBAL_PREFIX = "bk:{g}:"
SITE_PREFIX = "bk:{e3b0}:"
SITE = "https://shop.example"
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CLK_TCK = os.sysconf("SC_CLK_TCK")
INVITE_RULE = "bench-pricing-help"
INVITE_TEXT = "Hej! Kan jeg hjælpe med priserne?"
SECTIONS = 125        # /shop/catN/ sections that rules name (1 000 rules / 8, as in bench_rules)
TRAFFIC_SECTIONS = 150  # sections the traffic visits: some have no rule at all

# --------------------------------------------------------------------------------------------
# Processes: everything started here is killed on exit, on Ctrl-C, on failure, on the deadline.
# --------------------------------------------------------------------------------------------

MAIN_PID = os.getpid()
_children = []      # subprocess.Popen
_workers = []       # multiprocessing.Process
_lock = threading.Lock()


def cleanup():
    if os.getpid() != MAIN_PID:
        return
    with _lock:
        procs, workers = list(_children), list(_workers)
    for w in workers:
        if w.is_alive():
            try:
                w.kill()
            except Exception:
                pass
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGCONT)
                p.terminate()
            except OSError:
                pass
    end = time.monotonic() + 3
    for p in procs:
        try:
            p.wait(timeout=max(0.05, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                p.kill()
                p.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
    for w in workers:
        w.join(timeout=2)


def _die_with_parent():
    """In the child before exec: get SIGTERM if this script dies, even by SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def spawn(args, log):
    with open(log, "ab") as f:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                             preexec_fn=_die_with_parent)
    with _lock:
        _children.append(p)
    return p


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def log(msg):
    sys.stderr.write(f"[bench_e2e {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


# --------------------------------------------------------------------------------------------
# CPU accounting from /proc
# --------------------------------------------------------------------------------------------


def proc_cpu(pid, children=False):
    """utime+stime of a process (all its threads) in seconds; with reaped children's if asked."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    ticks = int(rest[11]) + int(rest[12])
    if children:
        ticks += int(rest[13]) + int(rest[14])
    return ticks / CLK_TCK


def machine_cpu():
    """(busy, steal, total) jiffies over every CPU, from /proc/stat: busy is user, nice, system,
    irq and softirq; steal is time the hypervisor gave to other guests."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy, v[7], sum(v[:8])


# --------------------------------------------------------------------------------------------
# Redis (one blocking RESP command per call; for setup only)
# --------------------------------------------------------------------------------------------


def redis_command(sock, *args, timeout=10.0):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sock)
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        s.sendall(b"".join(out))
        return _resp(s.makefile("rb"))


def _resp(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError("redis: " + rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp(f) for _ in range(n)]
    raise RuntimeError(f"bad RESP line {line!r}")


# --------------------------------------------------------------------------------------------
# Rules and traffic
# --------------------------------------------------------------------------------------------


def make_rules(count, rng):
    """`count` rules with a real site's mix (after tests/bench/bench_rules.c), none of which fires
    on the benchmark's traffic within the run: whatever matches a page also waits for time on the
    page or the visit (at least 10 s, while the traffic changes page many times a second), or asks
    for a returning visitor (the traffic's visitors are new). So every event is stored and judged,
    and nobody is invited, which would stop further evaluation for that socket.

    Per 100: 45 section globs on page.path, 10 section globs on page.url, 10 exact pages, 15 custom
    events, 12 any/all nestings, 5 anchored regexes on page.url, 3 sitewide time rules."""
    rules = []
    years = 2000 + SECTIONS
    for i in range(count):
        k = rng.randrange(100)
        if k < 45:
            when = {"all": [{"page.path": {"glob": f"/shop/cat{rng.randrange(SECTIONS)}/*"}},
                            {"page.seconds": {">=": 10 + rng.randrange(50)}},
                            {"visit.pages": {">=": 1 + rng.randrange(4)}}]}
        elif k < 55:
            when = {"all": [{"page.url": {"glob": f"{SITE}/shop/cat{rng.randrange(SECTIONS)}/*"}},
                            {"page.seconds": {">=": 10 + rng.randrange(50)}},
                            {"visitor.visits": {">=": 2 + rng.randrange(4)}}]}
        elif k < 65:
            if rng.randrange(2):
                when = {"all": [{"page.path": f"/plans/plan{rng.randrange(SECTIONS)}"},
                                {"page.seconds": {">=": 20}}]}
            else:
                when = {"all": [{"page.path": {"in": [f"/plans/plan{rng.randrange(SECTIONS)}",
                                                      f"/plans/plan{rng.randrange(SECTIONS)}"]}},
                                {"visit.seconds": {">=": 60 + rng.randrange(240)}}]}
        elif k < 80:
            when = {"all": [{"event.name": f"evt{rng.randrange(max(3, count // 20))}"},
                            {"event.props.value": {">": rng.randrange(1000)}}]}
        elif k < 92:
            when = {"all": [{"any": [{"page.path": {"glob": f"/shop/cat{rng.randrange(SECTIONS)}/*"}},
                                     {"page.path": {"glob": f"/blog/{2000 + rng.randrange(SECTIONS)}/*"}}]},
                            {"not": {"visitor.lang": {"starts_with": "en"}}},
                            {"visitor.visits": {">=": 2 + rng.randrange(3)}}]}
        elif k < 97:
            when = {"all": [{"page.url": {"regex": "^https://shop\\.example/blog/%d/[0-9a-z-]+$"
                                          % (2000 + rng.randrange(years - 2000))}},
                            {"page.seconds": {">=": 20 + rng.randrange(40)}}]}
        else:
            when = {"all": [{"visit.seconds": {">=": 120 + rng.randrange(600)}},
                            {"visitor.visits": {">=": 1 + rng.randrange(5)}},
                            {"idle.seconds": {">=": 10 + rng.randrange(50)}},
                            {"conversation.open": False}]}
        rules.append({"id": f"rule-{i:05d}", "name": f"Bench rule {i}", "priority": rng.randrange(20),
                      "when": when, "unless": {"conversation.open": True},
                      "cap": {"per_visit": 1, "cooldown_days": 7},
                      "then": {"invite": {"text": "Hej! Kan jeg hjælpe?"}}})
    rules.append({"id": INVITE_RULE, "name": "Help on pricing (benchmark)", "priority": 100,
                  "when": {"all": [{"page.path": {"glob": "/pricing*"}}, {"page.seconds": {">=": 1}}]},
                  "then": {"invite": {"text": INVITE_TEXT}}})
    return rules


def make_pages(count, rng):
    """(url, title) of `count` distinct pages; never /pricing (only the invitation test goes there)."""
    pages = []
    for _ in range(count):
        k = rng.randrange(10)
        if k < 5:
            s, n = rng.randrange(TRAFFIC_SECTIONS), rng.randrange(500)
            path, title = f"/shop/cat{s}/item{n}", f"Vare {n} – Kategori {s} – Shop"
        elif k < 7:
            y, n = 2000 + rng.randrange(SECTIONS), rng.randrange(100)
            path, title = f"/blog/{y}/indlaeg-{n}", f"Indlæg {n} fra {y}"
        elif k < 8:
            n = rng.randrange(SECTIONS)
            path, title = f"/plans/plan{n}", f"Abonnement {n}"
        else:
            path, title = rng.choice(["/", "/kontakt", "/om-os", "/levering", "/search?q=sofa"]), "Shop"
        url = SITE + path + ("" if rng.randrange(4) else ("&" if "?" in path else "?") + "utm_source=news")
        pages.append((url, title))
    return pages


# --------------------------------------------------------------------------------------------
# Ingest client process
# --------------------------------------------------------------------------------------------


def worker_main(index, cfg, conn, counts, measuring):
    """One client process: cfg['conns'] visitor sockets, each keeping cfg['window'] page_views in
    flight. Talks to the parent over `conn`: -> ('ready', n) <- 'go' <- 'stop' -> ('done', stats).
    counts[index] is the number of ok replies so far (read by the parent at the window's edges);
    latencies are recorded while measuring.value is 1."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent cleans up on Ctrl-C
    _die_with_parent()
    if os.getppid() != MAIN_PID:  # the parent died before prctl
        os._exit(1)
    try:
        stats = asyncio.run(_worker(index, cfg, conn, counts, measuring))
        conn.send(("done", stats))
    except BaseException:
        try:
            conn.send(("failed", traceback.format_exc()))
        except Exception:
            pass


async def _worker(index, cfg, conn, counts, measuring):
    loop = asyncio.get_running_loop()
    rng = random.Random(1000 + index)
    pages = make_pages(2000, rng)
    frames = [json.dumps({"type": "page_view", "req": 0, "url": u, "title": t, "referrer": ""},
                         ensure_ascii=False, separators=(",", ":")).replace("%", "%%").replace('"req":0', '"req":%d')
              for u, t in pages]
    go, stop = asyncio.Event(), asyncio.Event()

    def pipe_reader():  # a thread: the parent's commands into the loop
        try:
            while True:
                msg = conn.recv()
                loop.call_soon_threadsafe((go if msg == "go" else stop).set)
                if msg == "stop":
                    return
        except (EOFError, OSError):
            loop.call_soon_threadsafe(stop.set)
            loop.call_soon_threadsafe(go.set)

    threading.Thread(target=pipe_reader, daemon=True).start()

    uri = f"ws://127.0.0.1:{cfg['port']}/ws"
    sem = asyncio.Semaphore(50)

    async def open_one(i):
        async with sem:
            ws = await websockets.connect(uri, subprotocols=[VISITOR_PROTO], open_timeout=10,
                                          close_timeout=2, ping_interval=None, max_queue=None,
                                          compression=None)
            await ws.send(json.dumps({"type": "hello", "req": "h", "site": "demo", "lang": "da",
                                      "device": "desktop",
                                      "page": {"url": SITE + "/", "title": "Shop", "referrer": ""}}))
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m.get("req") == "h":
                    if m.get("type") != "welcome":
                        raise RuntimeError(f"hello answered with {m}")
                    return ws

    sockets = await asyncio.gather(*(open_one(i) for i in range(cfg["conns"])))
    conn.send(("ready", len(sockets)))
    await go.wait()

    window = cfg["window"]
    st = {"ok": 0, "errors": 0, "invites": 0, "other": 0, "lat": [], "error_sample": None}
    lat = st["lat"]
    mono = time.monotonic

    async def drive(ws, ci):
        sent = {}
        req = 0
        nframes = len(frames)
        pos = ci * 7919

        async def send_next():
            nonlocal req, pos
            req += 1
            pos += 1
            sent[req] = mono()
            await ws.send(frames[pos % nframes] % req)

        for _ in range(window):
            await send_next()
        try:
            async for raw in ws:
                m = json.loads(raw)
                kind = m.get("type")
                if kind == "ok":
                    t0 = sent.pop(m.get("req"), None)
                    st["ok"] += 1
                    counts[index] = st["ok"]
                    if t0 is not None and measuring.value:
                        lat.append(mono() - t0)
                elif kind == "invite":
                    st["invites"] += 1
                    continue
                elif kind == "error":
                    st["errors"] += 1
                    st["error_sample"] = st["error_sample"] or raw[:300]
                    sent.pop(m.get("req"), None)
                else:
                    st["other"] += 1
                    continue
                if stop.is_set():
                    if not sent:
                        break
                else:
                    await send_next()
        except websockets.ConnectionClosed as e:
            st["error_sample"] = st["error_sample"] or f"socket closed: {e}"
            st["errors"] += 1

    tasks = [asyncio.ensure_future(drive(ws, ci)) for ci, ws in enumerate(sockets)]
    await stop.wait()
    # Let the in-flight requests finish (they are answered within milliseconds), then close.
    await asyncio.wait(tasks, timeout=5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return st


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="beckon-bench-")
        self.sock = os.path.join(self.tmp, "redis.sock")
        self.redis_log = os.path.join(self.tmp, "redis.log")
        self.beckon_log = os.path.join(self.tmp, "beckon.log")
        self.redis = self.beckon = None
        self.port = free_port()
        self.results = {}

    # --- servers ----------------------------------------------------------------------------

    def start_redis(self):
        self.redis = spawn([self.args.redis_server, "--port", "0", "--unixsocket", self.sock,
                            "--unixsocketperm", "700", "--save", "", "--appendonly", "yes",
                            "--appendfsync", "everysec", "--dir", self.tmp, "--daemonize", "no"],
                           self.redis_log)
        deadline = time.monotonic() + 10
        while True:
            if self.redis.poll() is not None:
                raise RuntimeError(f"redis-server exited:\n{tail(self.redis_log)}")
            try:
                if redis_command(self.sock, "PING", timeout=0.5) == "PONG":
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server not ready after 10 s")
            time.sleep(0.02)
        self.results["redis_version"] = re.search(
            r"redis_version:(\S+)", redis_command(self.sock, "INFO", "server")).group(1)

    def load_rules(self):
        rules = make_rules(self.args.rules, random.Random(42))
        args = ["HSET", GLOBAL_PREFIX + "rules"]
        for r in rules:
            args += [r["id"], json.dumps(r, ensure_ascii=False)]
        redis_command(self.sock, "DEL", GLOBAL_PREFIX + "rules")
        redis_command(self.sock, *args)
        self.rule_count = len(rules)

    def start_beckon(self):
        data = os.path.join(self.tmp, "beckon-data")
        os.makedirs(data, exist_ok=True)
        self.beckon = spawn([self.args.beckon, "--redis", "unix://" + self.sock, "--data-dir", data,
                             "--port", str(self.port), "--bind", "127.0.0.1", "--web-root", SOURCE_ROOT,
                             # a load test floods on purpose: lift the per-socket limits
                             "--rate-messages-per-second", "1000000", "--rate-burst", "1000000",
                             "--events-per-minute", "100000000",
                             "--log-level", "info"], self.beckon_log)
        deadline = time.monotonic() + 15
        want = f"rules loaded: {self.rule_count}"
        while True:
            if self.beckon.poll() is not None:
                raise RuntimeError(f"beckon exited with {self.beckon.returncode}:\n{tail(self.beckon_log)}")
            text = open(self.beckon_log, "rb").read().decode("utf-8", "replace")
            if want in text and self._healthy():
                break
            m = re.findall(r"rules loaded: (\d+)", text)
            if m and m[-1] != str(self.rule_count):
                raise RuntimeError(f"beckon loaded {m[-1]} rules, not {self.rule_count}:\n{tail(self.beckon_log)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"beckon not ready (healthy, '{want}') after 15 s:\n{tail(self.beckon_log)}")
            time.sleep(0.05)

    def _healthy(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def snapshot(self, workers):
        return {"t": time.monotonic(), "beckon": proc_cpu(self.beckon.pid),
                "redis": proc_cpu(self.redis.pid, children=True),
                "clients": [proc_cpu(w.pid) for w in workers], "me": proc_cpu(os.getpid()),
                "machine": machine_cpu()}

    # --- 1. ingest --------------------------------------------------------------------------

    def ingest(self):
        a = self.args
        ctx = multiprocessing.get_context("fork")
        counts = ctx.RawArray("q", a.procs)
        measuring = ctx.RawValue("i", 0)
        per = [a.conns // a.procs + (1 if i < a.conns % a.procs else 0) for i in range(a.procs)]
        workers, pipes = [], []
        for i in range(a.procs):
            parent_end, child_end = ctx.Pipe()
            w = ctx.Process(target=worker_main, daemon=True,
                            args=(i, {"port": self.port, "conns": per[i], "window": a.window},
                                  child_end, counts, measuring))
            w.start()
            with _lock:
                _workers.append(w)
            workers.append(w)
            pipes.append(parent_end)

        def expect(kind, timeout):
            out = []
            for p in pipes:
                if not p.poll(timeout):
                    raise RuntimeError(f"a client process did not report '{kind}' within {timeout} s")
                msg = p.recv()
                if msg[0] == "failed":
                    raise RuntimeError("client process failed:\n" + msg[1])
                if msg[0] != kind:
                    raise RuntimeError(f"client process said {msg[0]!r}, expected {kind!r}")
                out.append(msg[1])
            return out

        t = time.monotonic()
        ready = expect("ready", 60)
        log(f"ingest: {sum(ready)} visitor sockets open and welcomed in {time.monotonic() - t:.1f} s "
            f"({a.procs} client processes); warm-up {a.warmup:g} s, then {a.duration:g} s measured")
        for p in pipes:
            p.send("go")
        time.sleep(a.warmup)
        measuring.value = 1
        s0, c0 = self.snapshot(workers), sum(counts)
        time.sleep(a.duration)
        s1, c1 = self.snapshot(workers), sum(counts)
        measuring.value = 0
        for p in pipes:
            p.send("stop")
        stats = expect("done", 20)
        for w in workers:
            w.join(timeout=5)

        wall = s1["t"] - s0["t"]
        events = c1 - c0
        lat = sorted(x for st in stats for x in st["lat"])
        busy, steal, total = (y - x for x, y in zip(s0["machine"], s1["machine"]))
        r = self.results
        r["ingest_events"] = events
        r["ingest_wall"] = wall
        r["ingest_rate"] = events / wall
        r["beckon_us"] = (s1["beckon"] - s0["beckon"]) / events * 1e6 if events else float("nan")
        r["redis_us"] = (s1["redis"] - s0["redis"]) / events * 1e6 if events else float("nan")
        r["beckon_pct"] = (s1["beckon"] - s0["beckon"]) / wall * 100
        r["redis_pct"] = (s1["redis"] - s0["redis"]) / wall * 100
        r["client_pct"] = [(b - a_) / wall * 100 for a_, b in zip(s0["clients"], s1["clients"])]
        ncpu = os.cpu_count() or 1
        ours = sum(s1[k] - s0[k] for k in ("beckon", "redis", "me")) + sum(
            y - x for x, y in zip(s0["clients"], s1["clients"]))
        r["client_us"] = sum(y - x for x, y in zip(s0["clients"], s1["clients"])) / events * 1e6 if events else float("nan")
        r["machine_pct"] = busy / total * 100 * ncpu if total else float("nan")
        r["others_pct"] = max(0.0, r["machine_pct"] - ours / wall * 100)
        r["steal_pct"] = steal / total * 100 * ncpu if total else float("nan")
        r["lat_p50"] = percentile(lat, 50) * 1000
        r["lat_p99"] = percentile(lat, 99) * 1000
        r["lat_max"] = (lat[-1] if lat else float("nan")) * 1000
        r["ingest_errors"] = sum(st["errors"] for st in stats)
        r["ingest_error_sample"] = next((st["error_sample"] for st in stats if st["error_sample"]), None)
        r["ingest_invites"] = sum(st["invites"] for st in stats)
        r["ingest_total_ok"] = sum(st["ok"] for st in stats)
        # Every ok'd event is in Redis: the visitors' streams hold the hello's page and every
        # page_view (MAXLEN ~ 1 000 per visitor trims nothing at these counts).
        stored, longest, cursor = 0, 0, "0"
        while True:
            cursor, keys = redis_command(self.sock, "SCAN", cursor, "MATCH", SITE_PREFIX + "events:*", "COUNT", 1000)
            for k in keys:
                n = redis_command(self.sock, "XLEN", k)
                stored += n
                longest = max(longest, n)
            if cursor == "0":
                break
        r["stored"], r["stored_expected"] = stored, r["ingest_total_ok"] + sum(ready)
        r["stored_trimmed"] = longest >= 900
        log(f"ingest: {events} ok in {wall:.2f} s = {r['ingest_rate']:.0f}/s; "
            f"beckon {r['beckon_pct']:.0f}% redis {r['redis_pct']:.0f}% clients "
            + "+".join(f"{x:.0f}%" for x in r["client_pct"]))

    # --- 2. invitation latency ----------------------------------------------------------------

    async def invitations(self):
        a = self.args
        uri = f"ws://127.0.0.1:{self.port}/ws"
        sem = asyncio.Semaphore(50)

        async def open_one(i):
            async with sem:
                ws = await websockets.connect(uri, subprotocols=[VISITOR_PROTO], open_timeout=10,
                                              close_timeout=2, ping_interval=None, compression=None)
                await ws.send(json.dumps({"type": "hello", "req": "h", "site": "demo", "lang": "da",
                                          "page": {"url": SITE + "/", "title": "Shop", "referrer": ""}}))
                while True:
                    m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if m.get("req") == "h":
                        if m.get("type") != "welcome":
                            raise RuntimeError(f"hello answered with {m}")
                        return ws

        sockets = await asyncio.gather(*(open_one(i) for i in range(a.invite_visitors)))
        results = [None] * len(sockets)
        oks = [None] * len(sockets)
        start = time.monotonic() + 0.2

        async def one(i, ws):
            await asyncio.sleep(max(0.0, start + i * a.stagger / 1000.0 - time.monotonic()))
            sent = time.monotonic()
            await ws.send(json.dumps({"type": "page_view", "req": i, "url": SITE + "/pricing",
                                      "title": "Priser", "referrer": ""}))
            deadline = sent + 1.0 + a.invite_timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    raw = await asyncio.wait_for(ws.recv(), left)
                except asyncio.TimeoutError:
                    return
                now = time.monotonic()
                m = json.loads(raw)
                if m.get("type") == "ok" and m.get("req") == i:
                    oks[i] = now - sent
                elif m.get("type") == "invite":
                    if m.get("rule") != INVITE_RULE:
                        raise RuntimeError(f"unexpected invitation {m}")
                    results[i] = now - (sent + 1.0)
                    return
                elif m.get("type") == "error":
                    raise RuntimeError(f"page_view answered with {m}")

        t0 = time.monotonic()
        await asyncio.gather(*(one(i, ws) for i, ws in enumerate(sockets)))
        took = time.monotonic() - t0
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        got = sorted(x * 1000 for x in results if x is not None)
        okl = sorted(x * 1000 for x in oks if x is not None)
        r = self.results
        r["inv_n"], r["inv_got"] = len(sockets), len(got)
        r["inv_p50"], r["inv_p99"] = percentile(got, 50), percentile(got, 99)
        r["inv_min"] = got[0] if got else float("nan")
        r["inv_max"] = got[-1] if got else float("nan")
        r["inv_early"] = sum(1 for x in got if x < 0)
        r["inv_ok_p50"], r["inv_ok_p99"] = percentile(okl, 50), percentile(okl, 99)
        log(f"invitations: {len(got)}/{len(sockets)} in {took:.1f} s; p50 {r['inv_p50']:.1f} ms "
            f"p99 {r['inv_p99']:.1f} ms max {r['inv_max']:.1f} ms")

    # --- report -------------------------------------------------------------------------------

    def table(self):
        r, a = self.results, self.args
        clients = " + ".join(f"{x:.0f} %" for x in r["client_pct"])
        ncpu = os.cpu_count() or 1
        rows = [
            ("ingest: `ok` replies per second (event stored in Redis + rules evaluated)",
             f"{r['ingest_rate']:,.0f} /s".replace(",", " ")),
            (f"ingest: `ok` round trip p50 / p99 / max ({a.conns * a.window} in flight)",
             f"{r['lat_p50']:.1f} / {r['lat_p99']:.1f} / {r['lat_max']:.1f} ms"),
            ("`ok` round trip without load (invitation test) p50 / p99",
             f"{r['inv_ok_p50']:.1f} / {r['inv_ok_p99']:.1f} ms"),
            ("beckon CPU per event (its CPU use)", f"{r['beckon_us']:.1f} µs ({r['beckon_pct']:.0f} % of a core)"),
            ("redis-server CPU per event (its CPU use)", f"{r['redis_us']:.1f} µs ({r['redis_pct']:.0f} % of a core)"),
            (f"client processes' CPU ({a.procs} processes, {a.conns} sockets, {a.window} in flight each)",
             f"{clients} of a core ({r['client_us']:.0f} µs per event)"),
            ("machine: busy / of which other processes / stolen by the hypervisor",
             f"{r['machine_pct']:.0f} / {r['others_pct']:.0f} / {r['steal_pct']:.0f} % of {ncpu * 100} %"),
            ("ingest: errors / invitations during ingest", f"{r['ingest_errors']} / {r['ingest_invites']}"),
            ("ingest: events in Redis streams / `ok`s + hello pages",
             f"{r['stored']} / {r['stored_expected']}" + (" (streams trimmed)" if r["stored_trimmed"] else "")),
            (f"invitation latency p50 / p99 / max ({r['inv_got']}/{r['inv_n']} invited, "
             f"{a.stagger:g} ms apart)",
             f"{r['inv_p50']:.1f} / {r['inv_p99']:.1f} / {r['inv_max']:.1f} ms"),
        ]
        w = max(len(k) for k, _ in rows)
        v = max(len(x) for _, x in rows)
        out = [f"| {'measure':<{w}} | {'value':>{v}} |", f"|{'-' * (w + 2)}|{'-' * (v + 1)}:|"]
        out += [f"| {k:<{w}} | {x:>{v}} |" for k, x in rows]
        return "\n".join(out)

    def bound(self):
        """One sentence on what limited the ingest rate, from the CPU figures."""
        r = self.results
        ncpu = os.cpu_count() or 1
        parts = [("beckon", r["beckon_pct"]), ("redis-server", r["redis_pct"])]
        parts += [(f"client {i + 1}", x) for i, x in enumerate(r["client_pct"])]
        hot = [name for name, pct in parts if pct >= 90]
        machine = (r["machine_pct"] + r["steal_pct"]) / ncpu
        text = ("CPU use during the window: " + ", ".join(f"{n} {p:.0f} %" for n, p in parts)
                + f"; other processes {r['others_pct']:.0f} %, hypervisor steal {r['steal_pct']:.0f} %; "
                f"{ncpu} CPUs were {machine:.0f} % in use. ")
        if hot:
            text += ("Bound by " + " and ".join(hot) + " (single-threaded at a full core). ")
        if machine >= 90:
            text += ("The CPUs were saturated, so client, beckon and Redis were competing for them "
                     + (f"(and with other work: {r['others_pct'] + r['steal_pct']:.0f} % of a core) "
                        if r["others_pct"] + r["steal_pct"] >= 10 else "")
                     + "and the rate is what this machine gives all three together; the CPU per event "
                     "is the figure that carries over (at that cost one core of beckon is good for about "
                     f"{1e6 / r['beckon_us']:,.0f} events/s).".replace(",", " "))
        elif not hot:
            text += "No process used a full core and the CPUs had room: the window (latency) bounds the rate."
        return text

    def machine(self):
        model = "unknown"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem = "?"
        try:
            with open("/proc/meminfo") as f:
                kb = int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1))
            mem = f"{kb / 1024 / 1024:.1f} GiB"
        except (OSError, AttributeError):
            pass
        nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip() or str(os.cpu_count())
        try:
            rev = subprocess.run(["git", "-C", SOURCE_ROOT, "describe", "--always", "--dirty"],
                                 capture_output=True, text=True, timeout=5).stdout.strip()
        except Exception:
            rev = ""
        return {"nproc": nproc, "model": model, "mem": mem, "kernel": platform.release(), "rev": rev or "?"}

    def write_doc(self, path, table, bound, command, rules_table):
        m = self.machine()
        r, a = self.results, self.args
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "## Triggers, end to end",
            "",
            f"Measured {when} on {m['nproc']} × {m['model']}, {m['mem']} RAM, Linux {m['kernel']}; "
            f"source `{m['rev']}`; Redis {r['redis_version']}; Python "
            f"{platform.python_version()} with websockets {websockets.__version__}. Client, beckon and "
            "Redis share the machine.",
            "",
            "Command:",
            "",
            "```sh",
            command,
            "```",
            "",
            f"Set-up: one beckon (release build) and one redis-server (unix socket, AOF on, "
            f"`appendfsync everysec`), {self.rule_count} rules in `bk:{g}:rules` "
            f"({a.rules} of a real site's mix, almost none of which match any given page, plus "
            f"`{INVITE_RULE}`: `page.path glob /pricing*` and `page.seconds >= 1`).",
            "",
            f"- **Ingest**: {a.conns} visitor sockets over {a.procs} client processes, each keeping "
            f"{a.window} `page_view` requests (with `req`) in flight; an `ok` comes back once the event "
            f"is stored in Redis and the rules were evaluated. {a.warmup:g} s warm-up, then "
            f"{r['ingest_wall']:.1f} s counted ({r['ingest_events']} events). CPU per event is "
            "utime+stime from `/proc/PID/stat` over the window divided by the events.",
            f"- **Invitation latency**: {a.invite_visitors} fresh visitors, {a.stagger:g} ms apart, each "
            "send one `page_view` of /pricing; latency = (invite received) − (page_view sent + 1 s), "
            "measured by the client.",
            "",
            table,
            "",
            bound,
            "",
        ]
        if rules_table:
            lines += ["The rule engine alone (`bench_rules`, same build, same run):", "", "```",
                      rules_table.rstrip("\n"), "```", ""]
        section = "\n".join(lines)
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            text = ("# Benchmarks\n\nFigures measured on real processes. Re-run with `tests/bench/run.sh`; "
                    "each run replaces its section.\n\n")
        m_ = re.search(r"^## Triggers, end to end\n.*?(?=^## |\Z)", text, flags=re.M | re.S)
        if m_:
            text = text[:m_.start()] + section + ("\n" if text[m_.end():] else "") + text[m_.end():]
        else:
            text = text.rstrip("\n") + "\n\n" + section
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.rstrip("\n") + "\n")
        log(f"wrote the section 'Triggers, end to end' of {path}")

    def stop_servers(self):
        if self.beckon and self.beckon.poll() is None:
            self.beckon.terminate()
            try:
                rc = self.beckon.wait(timeout=5)
                if rc != 0:
                    log(f"note: beckon exited with {rc} on SIGTERM")
            except subprocess.TimeoutExpired:
                log("note: beckon did not exit within 5 s of SIGTERM")
        cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--beckon", default=os.environ.get("BECKON_BIN"), help="beckon binary (release build)")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--rules", type=int, default=1000, help="generated rules (the invitation rule is one more)")
    ap.add_argument("--conns", type=int, default=200, help="ingest: visitor sockets")
    ap.add_argument("--procs", type=int, default=2, help="ingest: client processes")
    ap.add_argument("--window", type=int, default=8, help="ingest: requests in flight per socket")
    ap.add_argument("--warmup", type=float, default=2.0, help="ingest: seconds before counting")
    ap.add_argument("--duration", type=float, default=10.0, help="ingest: seconds counted")
    ap.add_argument("--invite-visitors", type=int, default=200, help="invitation test: visitors")
    ap.add_argument("--stagger", type=float, default=10.0, help="invitation test: ms between page views")
    ap.add_argument("--invite-timeout", type=float, default=3.0,
                    help="invitation test: seconds after the 1 s threshold to wait for an invite")
    ap.add_argument("--doc", help="write the table to this markdown file (section 'Triggers, end to end')")
    ap.add_argument("--rules-table", help="a file with bench_rules' output, quoted in the doc section")
    ap.add_argument("--command", help="the command line to record in the doc (default: this one)")
    ap.add_argument("--deadline", type=float, default=100.0, help="kill everything after this many seconds")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (logs, AOF)")
    a = ap.parse_args()
    if not a.beckon or not os.access(a.beckon, os.X_OK):
        ap.error("--beckon (or BECKON_BIN) must name the beckon binary")
    if a.procs < 1 or a.conns < a.procs or a.window < 1:
        ap.error("need --procs >= 1, --conns >= --procs, --window >= 1")

    def on_deadline():
        log(f"deadline of {a.deadline:g} s exceeded: stopping everything (logs in {b.tmp})")
        cleanup()
        os._exit(2)

    def on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    b = Bench(a)
    watchdog = threading.Timer(a.deadline, on_deadline)
    watchdog.daemon = True
    watchdog.start()

    ok = interrupted = False
    started = time.monotonic()
    try:
        b.start_redis()
        b.load_rules()
        b.start_beckon()
        log(f"redis {b.results['redis_version']} and beckon up on port {b.port}, {b.rule_count} rules loaded "
            f"(tmp {b.tmp})")
        b.ingest()
        asyncio.run(b.invitations())
        b.stop_servers()
        table = b.table()
        bound = b.bound()
        print()
        print(f"Triggers, end to end ({b.rule_count} rules; beckon {os.path.basename(a.beckon)}, "
              f"redis AOF everysec; {os.cpu_count()} CPUs shared by client, server and Redis)")
        print()
        print(table)
        print()
        print(bound)
        if b.results["ingest_errors"]:
            print(f"note: {b.results['ingest_errors']} errors during ingest, e.g. {b.results['ingest_error_sample']}")
        if b.results["inv_got"] < b.results["inv_n"]:
            print(f"note: {b.results['inv_n'] - b.results['inv_got']} visitors got no invitation within "
                  f"{a.invite_timeout:g} s of the threshold")
        if b.results["inv_early"]:
            print(f"note: {b.results['inv_early']} invitations came before page_view + 1 s "
                  f"(the earliest {-b.results['inv_min']:.2f} ms before"
                  + ("; within the 1 ms granularity of page_started)" if b.results["inv_min"] > -1 else
                     ": earlier than the server's 1 ms clock granularity explains)"))
        print(f"(bench_e2e took {time.monotonic() - started:.0f} s)")
        sys.stdout.flush()
        if a.doc:
            rules_table = None
            if a.rules_table and os.path.exists(a.rules_table):
                with open(a.rules_table, encoding="utf-8", errors="replace") as f:
                    rules_table = f.read()
            command = a.command or " ".join(shlex.quote(x) for x in [sys.executable] + sys.argv)
            b.write_doc(a.doc, table, bound, command, rules_table)
        if b.results["stored"] < b.results["stored_expected"] and not b.results["stored_trimmed"]:
            print(f"note: only {b.results['stored']} events in Redis for {b.results['stored_expected']} "
                  "acknowledged (ok) events and hello pages")
        ok = (b.results["inv_got"] == b.results["inv_n"] and not b.results["ingest_errors"]
              and (b.results["stored"] >= b.results["stored_expected"] or b.results["stored_trimmed"]))
    except KeyboardInterrupt as e:
        log(f"interrupted ({e or 'Ctrl-C'}): cleaning up")
        interrupted = True
    except Exception:
        log("failed:\n" + traceback.format_exc())
        for path in (b.beckon_log, b.redis_log):
            log(f"--- tail of {path}:\n{tail(path)}")
    finally:
        watchdog.cancel()
        cleanup()
        if (ok or interrupted) and not a.keep_tmp:
            shutil.rmtree(b.tmp, ignore_errors=True)
        else:
            log(f"temp dir kept: {b.tmp}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
