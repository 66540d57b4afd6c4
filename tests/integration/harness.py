"""Integration-test harness for Beckon.

Real processes only: every test file starts its own redis-server (unix socket, AOF on, in a temp
dir) and the beckon binary on a free TCP port, then drives real WebSocket clients (Debian's
python3-websockets 10.4, legacy asyncio API). Output is TAP on stdout.

Run with Debian's interpreter, which sees python3-websockets:
    BECKON_BIN=/path/to/beckon BECKON_SOURCE_ROOT=/path/to/repo /usr/bin/python3 test_x.py

Environment:
    BECKON_BIN           the server binary (required)
    BECKON_SOURCE_ROOT   passed as --web-root (default: two levels above this file)
    BECKON_REDIS_SERVER  redis-server binary (default: redis-server on PATH)
    BECKON_IT_DEADLINE   global deadline per file in seconds (default 120)
    BECKON_IT_KEEP_TMP   keep the temp dir even when every test passed
    BECKON_IT_ONLY       run only the cases whose name contains this string
    BECKON_TEST_REDIS_CLUSTER  1: redis-server in cluster mode holding every slot itself, so
                         a plain client is never redirected but a script touching keys of two
                         slots is refused (the key layout's proof: docs/architecture.md)
"""

import asyncio
import atexit
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import websockets
from websockets.exceptions import ConnectionClosed

STREAM_ID_RE = re.compile(r"^\d+-\d+$")
# Reports of a sanitizer build (meson -Dsanitize=true) in a beckon log fail the test that caused them.
SANITIZER_RE = re.compile(r"ERROR: \w*Sanitizer|runtime error:|SUMMARY: \w*Sanitizer")
VISITOR_PROTO = "beckon-visitor.v1"
AGENT_PROTO = "beckon-agent.v1"
DEFAULT_TIMEOUT = 5.0

# --------------------------------------------------------------------------------------------
# Process bookkeeping: every child is registered here and killed at exit, whatever happens.
# --------------------------------------------------------------------------------------------

_children = []
_children_lock = threading.Lock()


def _register(proc):
    with _children_lock:
        _children.append(proc)


def kill_all_children():
    with _children_lock:
        procs = list(_children)
    for p in procs:
        if p.poll() is None:
            try:
                # A SIGSTOPped process must be continued, or SIGTERM would wait forever.
                os.kill(p.pid, signal.SIGCONT)
                p.terminate()
            except OSError:
                pass
    end = time.monotonic() + 3
    for p in procs:
        try:
            p.wait(timeout=max(0.05, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass


atexit.register(kill_all_children)


def tap(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def diag(text):
    for line in str(text).rstrip("\n").split("\n"):
        tap("# " + line)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail_file(path, since=0, lines=40):
    try:
        with open(path, "rb") as f:
            f.seek(since)
            data = f.read()
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    text = data.decode("utf-8", "replace").rstrip("\n")
    if not text:
        return "<empty>"
    out = text.split("\n")
    if len(out) > lines:
        out = [f"... ({len(out) - lines} earlier lines)"] + out[-lines:]
    return "\n".join(out)


def sanitizer_reports(path, since=0):
    try:
        with open(path, "rb") as f:
            f.seek(since)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return [line for line in text.split("\n") if SANITIZER_RE.search(line)]


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# --------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------


class Redis:
    """A redis-server on a unix socket in `dir`; restartable on the same dir and socket."""

    def __init__(self, dir):
        self.dir = dir
        self.sock = os.path.join(dir, "redis.sock")
        self.log = os.path.join(dir, "redis.log")
        self.bin = os.environ.get("BECKON_REDIS_SERVER") or shutil.which("redis-server") or "redis-server"
        self.proc = None

    @property
    def url(self):
        return "unix://" + self.sock

    def start(self, timeout=10.0):
        assert self.proc is None or self.proc.poll() is not None, "redis already running"
        logf = open(self.log, "ab")
        logf.write(b"----- harness: starting redis -----\n")
        logf.flush()
        self.proc = subprocess.Popen(
            [self.bin, "--port", "0", "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--dir", self.dir, "--daemonize", "no"] + self.cluster_arguments(),
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        _register(self.proc)
        self.wait_ready(timeout)
        if self.cluster:
            self.wait_cluster(timeout)

    cluster = os.environ.get("BECKON_TEST_REDIS_CLUSTER") == "1"

    def cluster_arguments(self):
        if not self.cluster:
            return []
        return ["--cluster-enabled", "yes", "--cluster-port", "0",
                "--cluster-config-file", os.path.join(self.dir, "nodes.conf")]

    def wait_cluster(self, timeout):
        """A one-node cluster: every slot on this node (kept in nodes.conf across restarts)."""
        deadline = time.monotonic() + timeout
        if "cluster_slots_assigned:16384" not in self.command("CLUSTER", "INFO"):
            self.command("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
        while "cluster_state:ok" not in self.command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis cluster not ok after {timeout}s")
            time.sleep(0.05)

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{tail_file(self.log)}")
            try:
                if self.command("PING", timeout=0.5) == "PONG":
                    return
            except Exception as e:  # not listening yet, or LOADING
                last = e
            time.sleep(0.02)
        raise RuntimeError(f"redis not ready after {timeout}s (last: {last!r})")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def logs(self):
        return [self.log]

    def ensure_up(self):
        """Between tests: start it if a test left it dead, continue it if stopped."""
        if not self.running():
            self.start()
        else:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass

    def stop(self, timeout=10.0):
        """SIGTERM (redis fsyncs the AOF on shutdown), wait for exit."""
        if not self.running():
            return
        os.kill(self.proc.pid, signal.SIGCONT)
        self.proc.terminate()
        self.proc.wait(timeout=timeout)

    def kill9(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=5)

    def restart(self):
        self.stop()
        self.start()

    def pause(self):
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def command(self, *args, timeout=2.0):
        """One RESP command over the unix socket (sync; for setup and inspection only)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(self.sock)
            out = [f"*{len(args)}\r\n".encode()]
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
            s.sendall(b"".join(out))
            f = s.makefile("rb")
            return _resp_read(f)


class RedisError(Exception):
    pass


# Where keys live (server/base/keys.h, docs/architecture.md "Redis keys"): a site's keys under
# "bk:{TAG}:", TAG being 4 hex digits of SHA-256 of the site id ("" with no site configured),
# and the ids of visitors and conversations carry it ("v_TAG_..."); the global keys under "bk:{g}:".
GLOBAL_PREFIX = "bk:{g}:"


def site_prefix(site=""):
    import hashlib
    return "bk:{" + hashlib.sha256(site.encode()).hexdigest()[:4] + "}:"


def id_prefix(id):
    """The prefix of the slot of a visitor's or conversation's id."""
    m = re.match(r"^[a-z]+_([0-9a-f]{4})_.", id)
    return "bk:{" + m.group(1) + "}:" if m else site_prefix("")


def _resp_read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_resp_read(f) for _ in range(n)]
    raise RedisError(f"bad RESP line {line!r}")


# --------------------------------------------------------------------------------------------
# Beckon
# --------------------------------------------------------------------------------------------


class Beckon:
    def __init__(self, dir, redis, name="beckon", extra_args=(), port=None):
        self.bin = os.environ.get("BECKON_BIN")
        if not self.bin:
            raise RuntimeError("BECKON_BIN is not set")
        if not os.access(self.bin, os.X_OK):
            raise RuntimeError(f"BECKON_BIN={self.bin} is not an executable file")
        self.web_root = os.environ.get("BECKON_SOURCE_ROOT") or os.path.abspath(
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        self.redis = redis
        self.name = name
        self.data_dir = os.path.join(dir, name + "-data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log = os.path.join(dir, name + ".log")
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.proc = None
        self.notes = []  # remarks the harness wants shown (e.g. a port change on restart)

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def base_args(self):
        return [self.bin, "--redis", self.redis.url, "--data-dir", self.data_dir]

    def _spawn(self):
        logf = open(self.log, "ab")
        logf.write(f"----- harness: starting {self.name} on port {self.port} -----\n".encode())
        logf.flush()
        args = self.base_args() + ["--port", str(self.port), "--bind", "127.0.0.1",
                                   "--web-root", self.web_root, "--log-level", "debug"] + self.extra_args
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        _register(self.proc)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    async def start(self, timeout=10.0):
        assert not self.running(), f"{self.name} already running"
        self._spawn()
        try:
            await self.wait_healthy(timeout)
        except ProcessExited:
            # The same port may still be unusable right after a crash; the contract does not
            # cover that, so try once more on a fresh port and say so.
            old = self.port
            self.port = free_port()
            self.notes.append(f"{self.name} exited at start on port {old}; retried on port {self.port}")
            self._spawn()
            await self.wait_healthy(timeout)

    async def wait_healthy(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProcessExited(
                    f"{self.name} exited with {self.proc.returncode} during start:\n{tail_file(self.log)}")
            try:
                status, _, _ = await http_request(self.port, "GET", "/healthz", timeout=1.0)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except Exception as e:
                last = repr(e)
            await asyncio.sleep(0.03)
        raise RuntimeError(f"{self.name}: /healthz not 200 after {timeout}s (last: {last})")

    async def stop(self, timeout=5.0):
        """SIGTERM; returns the exit code (raises if it takes longer than `timeout`)."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        return await self.wait_exit(timeout)

    async def wait_exit(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not exit within {timeout}s")
            await asyncio.sleep(0.02)
        return self.proc.returncode

    async def kill9(self):
        if self.running():
            self.proc.kill()
            await self.wait_exit(5)

    async def restart(self):
        if self.running():
            await self.stop()
        await self.start()

    def cli(self, *args, stdin="", timeout=15.0):
        """Run `beckon --redis ... --data-dir ... ARGS` (the agent CLI). Returns CompletedProcess."""
        return subprocess.run(self.base_args() + list(args), input=stdin.encode(), capture_output=True,
                              timeout=timeout)


class ProcessExited(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# HTTP (blocking http.client in a worker thread, bounded by socket timeouts)
# --------------------------------------------------------------------------------------------


def _http_sync(port, method, path, body, headers, timeout):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return r.status, dict(r.getheaders()), data
    finally:
        conn.close()


async def http_request(port, method, path, body=None, headers=None, timeout=5.0):
    return await asyncio.wait_for(
        asyncio.to_thread(_http_sync, port, method, path, body, headers, timeout), timeout + 1)


def parse_json_body(data):
    try:
        return json.loads(data)
    except ValueError:
        raise AssertionError(f"HTTP body is not JSON: {data[:300]!r}")


async def raw_handshake(port, path="/ws", protocol=None, timeout=5.0):
    """Send a WebSocket upgrade by hand; return (status_code or None, raw head text).

    None means the server closed the connection without an HTTP response."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                 "Sec-WebSocket-Version: 13"]
        if protocol is not None:
            lines.append(f"Sec-WebSocket-Protocol: {protocol}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.IncompleteReadError as e:
            head = e.partial
        text = head.decode("latin-1")
        m = re.match(r"HTTP/1\.[01] (\d{3})", text)
        return (int(m.group(1)) if m else None), text
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 2)
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# WebSocket client wrapper
# --------------------------------------------------------------------------------------------


def _short(obj, limit=300):
    s = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return s if len(s) <= limit else s[:limit] + f"...(+{len(s) - limit})"


class Client:
    """A WebSocket client whose reader task collects every frame into `inbox`.

    recv_until() removes and returns the first collected message that matches; everything
    else stays in the inbox for later calls (pushes can arrive in any order relative to
    replies to other requests)."""

    _req_counter = 0

    def __init__(self, ws, name, role):
        self.ws = ws
        self.name = name
        self.role = role
        self.inbox = []
        self.log = []
        self.closed = False
        self.reader_error = None
        self.welcome = None
        self._event = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._reader())

    async def _reader(self):
        try:
            async for raw in self.ws:
                try:
                    msg = json.loads(raw)
                except (ValueError, TypeError):
                    msg = {"_raw": raw}
                if not isinstance(msg, dict):
                    msg = {"_raw": raw}
                self.log.append(msg)
                self.inbox.append(msg)
                self._event.set()
        except ConnectionClosed:
            pass
        except Exception as e:  # keep it for diagnostics
            self.reader_error = e
        finally:
            self.closed = True
            self._event.set()

    @property
    def close_code(self):
        return self.ws.close_code

    def describe_inbox(self):
        if not self.inbox:
            return f"{self.name}: inbox empty"
        return f"{self.name}: unconsumed: " + "; ".join(_short(m, 200) for m in self.inbox[-12:])

    @staticmethod
    def next_req():
        Client._req_counter += 1
        return f"r{Client._req_counter}"

    async def send_raw(self, data, timeout=DEFAULT_TIMEOUT):
        await asyncio.wait_for(self.ws.send(data), timeout)

    async def send(self, obj, timeout=DEFAULT_TIMEOUT):
        await self.send_raw(json.dumps(obj), timeout)

    async def recv_until(self, type=None, pred=None, timeout=DEFAULT_TIMEOUT, **fields):
        """First collected message with this `type`, these top-level `fields` and `pred(m)`."""
        def ok(m):
            if type is not None and m.get("type") != type:
                return False
            for k, v in fields.items():
                if k not in m or m[k] != v or (isinstance(v, bool) != isinstance(m[k], bool)):
                    return False
            return pred is None or bool(pred(m))

        desc = f"type={type!r}" + (f" {fields}" if fields else "") + (" +pred" if pred else "")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, m in enumerate(self.inbox):
                if ok(m):
                    del self.inbox[i]
                    return m
            if self.closed:
                raise AssertionError(
                    f"{self.name}: socket closed (code {self.ws.close_code}) while waiting for {desc}; "
                    + self.describe_inbox())
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: no {desc} within {timeout}s; " + self.describe_inbox())
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def expect_none(self, type=None, pred=None, within=0.3, **fields):
        """Assert that nothing matching arrives within `within` seconds (and none is waiting)."""
        try:
            m = await self.recv_until(type, pred, timeout=within, **fields)
        except AssertionError as e:
            if self.closed and "socket closed" in str(e):
                return
            return
        raise AssertionError(f"{self.name}: unexpected {_short(m)}")

    async def request(self, obj, timeout=DEFAULT_TIMEOUT):
        """Send `obj` with a `req` (added if absent) and return the reply echoing that `req`."""
        obj = dict(obj)
        if "req" not in obj:
            obj["req"] = self.next_req()
        req = obj["req"]
        await self.send(obj)
        return await self.recv_until(
            pred=lambda m: "req" in m and m["req"] == req and isinstance(m["req"], type(req))
            and isinstance(m["req"], bool) == isinstance(req, bool),
            timeout=timeout)

    async def expect_reply(self, obj, rtype, timeout=DEFAULT_TIMEOUT):
        r = await self.request(obj, timeout)
        if r.get("type") != rtype:
            raise AssertionError(f"{self.name}: sent {_short(obj)}; expected {rtype}, got {_short(r)}")
        return r

    async def expect_error(self, obj, code, timeout=DEFAULT_TIMEOUT):
        r = await self.request(obj, timeout)
        if r.get("type") != "error" or r.get("code") != code:
            raise AssertionError(f"{self.name}: sent {_short(obj)}; expected error {code}, got {_short(r)}")
        return r

    async def wait_closed(self, timeout=DEFAULT_TIMEOUT):
        try:
            await asyncio.wait_for(self.ws.wait_closed(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"{self.name}: socket still open after {timeout}s; " + self.describe_inbox())
        try:
            await asyncio.wait_for(self._task, 2)
        except Exception:
            pass
        return self.ws.close_code

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), 3)
        except Exception:
            pass
        if not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass

    def abort(self):
        """Drop the TCP connection without a close handshake."""
        try:
            self.ws.transport.abort()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# The environment a test file runs in
# --------------------------------------------------------------------------------------------


class Env:
    """redis: what makes the Redis (Redis, or cluster.RedisCluster: anything with url, start,
    ensure_up, running and logs); with_beckon=False: the file drives Redis alone."""

    def __init__(self, name, beckon_args=(), redis=Redis, with_beckon=True):
        self.tmp = tempfile.mkdtemp(prefix=f"beckon-it-{name}-")
        self.redis = redis(self.tmp)
        self.beckon = Beckon(self.tmp, self.redis, extra_args=beckon_args) if with_beckon else None
        self.extra_beckons = []
        self.agents = {}  # name -> password
        self.clients = []
        self._counter = 0

    def uid(self, prefix="x"):
        self._counter += 1
        return f"{prefix}{os.getpid()}-{self._counter}"

    async def start(self):
        self.redis.start()
        if self.beckon:
            await self.beckon.start()

    async def new_beckon(self, name, extra_args=()):
        b = Beckon(self.tmp, self.redis, name=name, extra_args=extra_args)
        self.extra_beckons.append(b)
        await b.start()
        return b

    async def ensure_up(self):
        """Between tests: bring back whatever a test left down."""
        self.redis.ensure_up()
        if not self.beckon:
            return
        if not self.beckon.running():
            await self.beckon.start()
        await self.beckon.wait_healthy(10)

    def beckons(self):
        return ([self.beckon] if self.beckon else []) + self.extra_beckons

    def logs(self):
        return self.beckon_logs() + self.redis.logs()

    def beckon_logs(self):
        return [b.log for b in self.beckons()]

    # --- agents -------------------------------------------------------------------------

    def add_agent(self, name, password=None):
        password = password or f"pw-{name}-secret"
        r = self.beckon.cli("agent", "add", name, stdin=password + "\n")
        if r.returncode != 0:
            raise AssertionError(f"`agent add {name}` exited {r.returncode}: "
                                 f"{r.stdout.decode(errors='replace')} {r.stderr.decode(errors='replace')}")
        self.agents[name] = password
        return password

    async def login(self, name, password=None, beckon=None):
        b = beckon or self.beckon
        status, _, data = await http_request(
            b.port, "POST", "/api/login", {"name": name, "password": password or self.agents[name]})
        if status != 200:
            raise AssertionError(f"login {name}: HTTP {status} {data[:300]!r}")
        body = parse_json_body(data)
        if not isinstance(body.get("token"), str) or not body["token"]:
            raise AssertionError(f"login {name}: no token in {_short(body)}")
        return body["token"]

    # --- sockets ------------------------------------------------------------------------

    async def connect(self, role="visitor", name=None, beckon=None, subprotocols="default", path="/ws"):
        b = beckon or self.beckon
        if subprotocols == "default":
            subprotocols = [VISITOR_PROTO if role == "visitor" else AGENT_PROTO]
        ws = await websockets.connect(
            f"ws://127.0.0.1:{b.port}{path}", subprotocols=subprotocols, open_timeout=5,
            close_timeout=2, ping_interval=None, max_size=2 ** 22)
        c = Client(ws, name or self.uid(role[0]), role)
        self.clients.append(c)
        return c

    async def visitor(self, token=None, name=None, beckon=None, **hello):
        """Connect as a visitor and say hello; the welcome is in `.welcome`."""
        c = await self.connect("visitor", name=name, beckon=beckon)
        msg = {"type": "hello", "site": "demo", "lang": "en",
               "page": {"url": "https://shop.example/pricing", "title": "Pricing", "referrer": ""}}
        if token is not None:
            msg["token"] = token
        msg.update(hello)
        w = await c.expect_reply(msg, "welcome")
        assert isinstance(w.get("visitor"), str) and w["visitor"].startswith("v_"), f"bad welcome {w}"
        assert isinstance(w.get("token"), str) and w["token"], f"welcome without token: {w}"
        c.visitor_id = w["visitor"]
        c.token = w["token"]
        c.welcome = w
        return c

    async def agent(self, name, beckon=None):
        token = await self.login(name, beckon=beckon)
        c = await self.connect("agent", name=name, beckon=beckon)
        w = await c.expect_reply({"type": "hello", "token": token}, "welcome")
        assert w.get("agent", {}).get("name") == name, f"agent welcome: {w}"
        c.welcome = w
        return c

    async def close_clients(self):
        cs, self.clients = self.clients, []
        await asyncio.gather(*(c.close() for c in cs), return_exceptions=True)

    def cleanup(self, keep):
        kill_all_children()
        if keep:
            diag(f"temp dir kept: {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Conversation helpers shared by several files
# --------------------------------------------------------------------------------------------


async def send_message(client, text, cmid=None, conversation=None, timeout=DEFAULT_TIMEOUT):
    """Send `message` and require an `ack`; returns the ack."""
    msg = {"type": "message", "cmid": cmid or f"m-{Client.next_req()}", "text": text}
    if conversation is not None:
        msg["conversation"] = conversation
    ack = await client.expect_reply(msg, "ack", timeout)
    check_ack(ack, msg)
    return ack


def check_ack(ack, msg):
    assert STREAM_ID_RE.match(str(ack.get("id"))), f"ack id is not a stream id: {ack}"
    assert ack.get("cmid") == msg["cmid"], f"ack cmid {ack.get('cmid')!r} != sent {msg['cmid']!r}"
    assert isinstance(ack.get("conversation"), str) and ack["conversation"].startswith("c_"), f"ack: {ack}"
    assert isinstance(ack.get("ts"), int), f"ack ts not an integer: {ack}"
    assert ack.get("duplicate") in (True, False), f"ack duplicate not a bool: {ack}"


def sid(s):
    a, b = s.split("-")
    return (int(a), int(b))


async def full_history(client, conversation, since="0", timeout=DEFAULT_TIMEOUT, max_pages=50):
    """Resume from `since`, following `complete: false`. Returns (messages, replies)."""
    msgs, replies = [], []
    cur = since
    for _ in range(max_pages):
        h = await client.expect_reply({"type": "resume", "conversation": conversation, "since": cur},
                                      "history", timeout)
        replies.append(h)
        assert h.get("conversation") == conversation, f"history for wrong conversation: {_short(h)}"
        assert isinstance(h.get("messages"), list), f"history without messages list: {_short(h)}"
        msgs.extend(h["messages"])
        if h.get("complete") is True:
            return msgs, replies
        assert h.get("complete") is False, f"history.complete not a bool: {_short(h)}"
        assert h["messages"], f"complete:false with no messages: {_short(h)}"
        cur = h["messages"][-1]["id"]
    raise AssertionError("history never complete")


def assert_ordered_unique(msgs):
    ids = [m["id"] for m in msgs]
    for a, b in zip(ids, ids[1:]):
        assert sid(a) < sid(b), f"history not strictly ordered: {a} then {b} in {ids}"


# --------------------------------------------------------------------------------------------
# TAP runner
# --------------------------------------------------------------------------------------------


class Cases:
    def __init__(self):
        self.cases = []

    def case(self, name, timeout=45, todo=None):
        """`todo`: why the case cannot pass yet. It is reported with a TAP TODO directive: a
        failure is expected (and shown), a pass is unexpected (meson counts it as a failure,
        so that the TODO is removed)."""
        def deco(fn):
            self.cases.append((name, fn, timeout, todo))
            return fn
        return deco

    def run(self, env_name, setup=None, beckon_args=(), deadline=None, redis=Redis, with_beckon=True):
        deadline = float(deadline or os.environ.get("BECKON_IT_DEADLINE", 120))
        only = os.environ.get("BECKON_IT_ONLY")
        cases = [c for c in self.cases if not only or only in c[0]]
        state = {"n": 0, "failed": 0, "env": None, "current": None}

        def on_deadline():
            tap(f"Bail out! global deadline of {deadline:.0f}s exceeded"
                + (f" during '{state['current']}'" if state["current"] else ""))
            env = state["env"]
            if env:
                for path in env.logs():
                    diag(f"--- tail of {path}:\n{tail_file(path)}")
            kill_all_children()
            os._exit(1)

        def on_signal(signum, frame):
            tap(f"Bail out! killed by signal {signum}")
            kill_all_children()
            os._exit(1)

        signal.signal(signal.SIGTERM, on_signal)
        watchdog = threading.Timer(deadline, on_deadline)
        watchdog.daemon = True
        watchdog.start()

        async def main():
            try:
                env = Env(env_name, beckon_args=beckon_args, redis=redis, with_beckon=with_beckon)
                state["env"] = env
                await env.start()
                if setup:
                    await setup(env)
            except Exception:
                tap("Bail out! environment did not start")
                diag(traceback.format_exc())
                if state["env"]:
                    for path in state["env"].logs():
                        diag(f"--- tail of {path}:\n{tail_file(path)}")
                state["failed"] += 1
                return
            for name, fn, timeout, todo in cases:
                state["n"] += 1
                state["current"] = name
                n = state["n"]
                offsets = {p: file_size(p) for p in env.logs()}
                err = None
                try:
                    await env.ensure_up()
                    await asyncio.wait_for(fn(env), timeout)
                except asyncio.TimeoutError:
                    err = f"test timed out after {timeout}s\n" + traceback.format_exc()
                except Exception:
                    err = traceback.format_exc()
                finally:
                    inboxes = [c.describe_inbox() for c in env.clients if c.inbox]
                    await env.close_clients()
                found = [r for p in env.beckon_logs() for r in sanitizer_reports(p, offsets.get(p, 0))]
                if found:
                    # never excused by a TODO
                    err = ((err + "\n") if err else "") + \
                        "sanitizer report(s) in the beckon log during this test:\n" + "\n".join(found[:10])
                    todo = None
                directive = f" # TODO {todo}" if todo else ""
                if err is None:
                    tap(f"ok {n} - {name}{directive}")
                else:
                    if not todo:
                        state["failed"] += 1
                    tap(f"not ok {n} - {name}{directive}")
                    diag(err)
                    for line in inboxes:
                        diag(line)
                    for path in env.logs():
                        diag(f"--- {os.path.basename(path)} (this test):\n"
                             f"{tail_file(path, since=offsets.get(path, 0))}")
                for b in env.beckons():
                    for note in b.notes:
                        diag("note: " + note)
                    b.notes.clear()
            # Last case of every file: the server stops cleanly and no sanitizer ever complained.
            state["n"] += 1
            name = "beckon exits 0 on SIGTERM at the end; no sanitizer reports in its logs"
            state["current"] = name
            problems = []
            for b in env.beckons():
                if b.running():
                    try:
                        rc = await b.stop(5)
                        if rc != 0:
                            problems.append(f"{b.name}: exit code {rc} after SIGTERM")
                    except AssertionError as e:
                        problems.append(str(e))
                found = sanitizer_reports(b.log)
                if found:
                    problems.append(f"{b.name}: sanitizer reports:\n" + "\n".join(found[:10]))
            if problems:
                state["failed"] += 1
                tap(f"not ok {state['n']} - {name}")
                diag("\n".join(problems))
                for p in env.beckon_logs():
                    diag(f"--- {p}:\n{tail_file(p, lines=60)}")
            else:
                tap(f"ok {state['n']} - {name}")
            state["current"] = None

        try:
            asyncio.run(main())
        finally:
            watchdog.cancel()
            tap(f"1..{state['n']}")
            env = state["env"]
            if env:
                env.cleanup(keep=bool(state["failed"]) or bool(os.environ.get("BECKON_IT_KEEP_TMP")))
            else:
                kill_all_children()
        sys.exit(1 if state["failed"] else 0)
