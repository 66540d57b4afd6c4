"""The one-command default: without --redis, beckon runs and supervises a private redis-server
in its data dir; the agent commands work against it; and a whole chat followed by SIGTERM
leaves nothing behind (valgrind, in the normal build)."""

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import websockets

from harness import Cases, free_port, http_request, parse_json_body

T = Cases()
BECKON = os.environ["BECKON_BIN"]
ROOT = os.environ.get("BECKON_SOURCE_ROOT", ".")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    # a zombie is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def redis_servers_of(data_dir):
    """Pids of redis-server processes whose command line names data_dir (its socket)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "redis-server" in cmdline and data_dir in cmdline and pid_alive(int(entry)):
            found.append(int(entry))
    return found


class PrivateBeckon:
    """A beckon with no --redis: it starts its own redis-server in `data`."""

    def __init__(self, wrapper=()):
        self.dir = tempfile.mkdtemp(prefix="beckon-embedded-")
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "beckon.log")
        self.wrapper = list(wrapper)
        self.proc = None

    def args(self, *more):
        return [BECKON, "--data-dir", self.data, "--web-root", ROOT, *more]

    async def start(self, timeout=15):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + self.args("--port", str(self.port), "--bind", "127.0.0.1"),
                                     stdout=log, stderr=log)
        await self.wait_healthy(timeout)

    async def wait_healthy(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"beckon exited with {self.proc.returncode}:\n{self.log()}"
            try:
                status, _, _ = await http_request(self.port, "GET", "/healthz", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"/healthz not 200 within {timeout}s:\n{self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def redis_pid(self):
        with open(os.path.join(self.data, "redis.pid")) as f:
            return int(f.read().strip())

    def cli(self, *args, stdin=""):
        return subprocess.run(self.args(*args), input=stdin, capture_output=True, text=True, timeout=30)

    async def stop(self, timeout=30):
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            raise AssertionError(f"beckon still running {timeout}s after SIGTERM")
        return self.proc.returncode

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in redis_servers_of(self.data):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)


async def login(port, name, password):
    status, _, body = await http_request(port, "POST", "/api/login",
                                         body=json.dumps({"name": name, "password": password}).encode())
    return status, parse_json_body(body)


async def chat_once(port, text):
    """A visitor says something; returns (token, conversation, acked id)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["beckon-visitor.v1"]) as ws:
        await ws.send(json.dumps({"type": "hello", "req": 1}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await ws.send(json.dumps({"type": "message", "req": 2, "cmid": "c1", "text": text}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if m.get("req") == 2:
                assert m["type"] == "ack", m
                return welcome["token"], m["conversation"], m["id"]


async def history(port, token, conversation):
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=["beckon-visitor.v1"]) as ws:
        await ws.send(json.dumps({"type": "hello", "req": 1, "token": token}))
        await asyncio.wait_for(ws.recv(), 5)
        await ws.send(json.dumps({"type": "resume", "req": 2, "conversation": conversation, "since": "0"}))
        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            if m.get("req") == 2:
                return m


async def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what} within {timeout}s")


@T.case("no --redis: a private redis-server in the data dir (unix socket, AOF), supervised, restarted when it dies")
async def t_private_redis(env):
    b = PrivateBeckon()
    try:
        await b.start()
        assert os.path.exists(os.path.join(b.data, "redis.sock")), "no unix socket in the data dir"
        assert "started private redis-server" in b.log()
        token, conversation, acked = await chat_once(b.port, "kept in the AOF")
        assert os.path.isdir(os.path.join(b.data, "appendonlydir")), "AOF is not on"
        first = b.redis_pid()
        os.kill(first, signal.SIGKILL)
        await wait_for(lambda: "private redis-server died" in b.log(), 10, "the death is logged")
        await wait_for(lambda: b.redis_pid() != first and pid_alive(b.redis_pid()), 20, "a new redis-server runs")
        await b.wait_healthy(20)
        # /healthz may turn green a moment before the command link has reloaded its scripts:
        # `unavailable` then means "ask again", as a client would
        deadline = time.monotonic() + 10
        while (h := await history(b.port, token, conversation)).get("code") == "unavailable":
            assert time.monotonic() < deadline, f"still unavailable: {h}"
            await asyncio.sleep(0.2)
        assert acked in [m["id"] for m in h.get("messages", [])], f"acked message lost after a redis restart: {h}"
        second = b.redis_pid()
        rc = await b.stop()
        assert rc == 0, f"exit code {rc}"
        assert not pid_alive(second) and not redis_servers_of(b.data), "the private redis-server outlived beckon"
        assert "private redis-server stopped" in b.log()
    finally:
        b.cleanup()


@T.case("a private redis-server left by a SIGKILLed beckon is stopped before a new one starts; data kept")
async def t_leftover(env):
    b = PrivateBeckon()
    try:
        await b.start()
        token, conversation, acked = await chat_once(b.port, "before the crash")
        left = b.redis_pid()
        b.proc.kill()
        b.proc.wait()
        assert pid_alive(left), "expected the orphaned redis-server to survive a SIGKILL of beckon"
        await b.start()
        assert "from an earlier run is still up; stopping it" in b.log()
        await wait_for(lambda: not pid_alive(left), 5, "the leftover redis-server is gone")
        h = await history(b.port, token, conversation)
        assert acked in [m["id"] for m in h["messages"]], f"acked message lost: {h}"
        assert await b.stop() == 0
    finally:
        b.cleanup()


@T.case("agent add (with a role), list, passwd, remove, with the server running and without it")
async def t_agent_cli(env):
    b = PrivateBeckon()
    try:
        # Without a server: a temporary private redis for the command's duration only.
        r = b.cli("agent", "add", "bob", "marketer", stdin="first-password\n")
        assert r.returncode == 0 and "added marketer bob" in r.stdout, r
        assert not redis_servers_of(b.data), "the temporary redis-server was left running"
        r = b.cli("agent", "add", "bob", stdin="again-password\n")
        assert r.returncode != 0 and "exists already" in r.stderr, r
        r = b.cli("agent", "add", "shorty", stdin="short\n")
        assert r.returncode != 0 and "at least 8" in r.stderr, r
        r = b.cli("agent", "add", "eve", "superuser", stdin="long-enough-pw\n")
        assert r.returncode == 2 and "role" in r.stderr, r
        await b.start()
        # With the server running, the CLI uses its redis.
        r = b.cli("agent", "list")
        assert r.returncode == 0 and "bob\tmarketer" in r.stdout.splitlines(), r
        status, body = await login(b.port, "bob", "first-password")
        assert status == 200 and body["agent"] == {"name": "bob", "role": "marketer"}, (status, body)
        r = b.cli("agent", "passwd", "bob", stdin="second-password\n")
        assert r.returncode == 0, r
        assert (await login(b.port, "bob", "first-password"))[0] == 401
        assert (await login(b.port, "bob", "second-password"))[0] == 200
        r = b.cli("agent", "remove", "bob")
        assert r.returncode == 0, r
        assert (await login(b.port, "bob", "second-password"))[0] == 401
        r = b.cli("agent", "remove", "bob")
        assert r.returncode != 0 and "no agent named bob" in r.stderr, r
        assert await b.stop() == 0
    finally:
        b.cleanup()


def is_sanitizer_build():
    out = subprocess.run(["ldd", BECKON], capture_output=True, text=True).stdout
    return "libasan" in out or "libubsan" in out


if shutil.which("valgrind") and not is_sanitizer_build():
    @T.case("under valgrind: a chat, an agent, sockets open at SIGTERM: exit 0, no leak, no error", timeout=120)
    async def t_valgrind(env):
        vg = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
              "--error-exitcode=99", "--quiet"]
        b = PrivateBeckon(wrapper=vg)
        try:
            r = b.cli("agent", "add", "alice", stdin="alice-password\n")
            assert r.returncode == 0, r
            await b.start(timeout=60)
            status, body = await login(b.port, "alice", "alice-password")
            assert status == 200, body
            agent = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws", subprotocols=["beckon-agent.v1"])
            await agent.send(json.dumps({"type": "hello", "token": body["token"]}))
            await asyncio.wait_for(agent.recv(), 10)
            token, conversation, _ = await chat_once(b.port, "valgrind, anyone?")
            await agent.send(json.dumps({"type": "accept", "conversation": conversation, "req": 1}))
            visitor = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws", subprotocols=["beckon-visitor.v1"])
            await visitor.send(json.dumps({"type": "hello", "token": token,
                                           "page": {"url": "https://shop.example/pricing"}}))
            await asyncio.wait_for(visitor.recv(), 10)
            rc = await b.stop(timeout=60)
            log = b.log()
            assert rc == 0, f"exit code {rc} (99 = valgrind found errors or leaks):\n{log[-4000:]}"
            assert "stopped cleanly" in log, "uv_loop_close did not return 0"
        finally:
            b.cleanup()


async def setup(env):
    pass


if __name__ == "__main__":
    T.run("embedded", setup=setup, deadline=300)
