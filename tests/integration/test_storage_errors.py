"""Errors are not logouts. Only a real authorization failure (the scripts' "unauthorized")
signs an agent out: HTTP 401, or close 4001 on the socket. Storage trouble - Redis busy with a
long script (BUSY), out of memory (OOM), frozen past the command timeout, without our scripts
(NOSCRIPT) - is 503 on HTTP, and at an agent's hello `error unavailable` then close 1013 (try
again later), after which the same token works again once Redis does."""

import asyncio
import socket
import time

from harness import Cases, http_request, parse_json_body

T = Cases()

NODE = {}


async def setup(env):
    env.add_agent("alice")
    NODE["b"] = await env.new_beckon("storage-node", ["--redis-timeout-ms", "500"])


def node():
    return NODE["b"]


async def route(token):
    """An authorized route (any role): the canned responses."""
    status, _, data = await http_request(node().port, "GET", "/api/canned",
                                         headers={"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def hello(env, token):
    """An agent's hello: (the reply, the close code or None when the socket stays open)."""
    c = await env.connect("agent", beckon=node())
    r = await c.request({"type": "hello", "token": token})
    if r["type"] == "welcome":
        return r, None
    try:
        code = await c.wait_closed(3)
    except AssertionError:
        code = None
    return r, code


async def until_ok(env, token, what, seconds=20):
    """Once Redis is itself again, the same token works on both doors."""
    deadline = time.monotonic() + seconds
    while True:
        status, _ = await route(token)
        if status == 200:
            break
        assert time.monotonic() < deadline, f"{what}: the route still answers {status}"
        await asyncio.sleep(0.2)
    while True:
        c = await env.connect("agent", beckon=node())
        r = await c.request({"type": "hello", "token": token})
        await c.close()
        if r["type"] == "welcome":
            return
        assert time.monotonic() < deadline, f"{what}: hello still answers {r}"
        await asyncio.sleep(0.3)


def storage_trouble(what, status, body, r, code):
    assert status == 503 and body["error"]["code"] == "unavailable", f"{what}: HTTP {status} {body} (want 503, not 401)"
    assert r["type"] == "error" and r["code"] == "unavailable", f"{what}: hello answered {r}"
    assert code == 1013, f"{what}: socket closed with {code} (want 1013 try again later, not the auth code 4001)"


@T.case("a real authorization failure: HTTP 401; the socket gets error unauthorized and close 4001")
async def t_unauthorized(env):
    status, body = await route("0" * 64)
    assert status == 401 and body["error"]["code"] == "unauthorized", (status, body)
    for token in ("0" * 64, "not-a-token"):
        r, code = await hello(env, token)
        assert r["type"] == "error" and r["code"] == "unauthorized", r
        assert code == 4001, f"token {token!r}: close {code}"


@T.case("Redis busy with a long script (BUSY): 503 and close 1013, never 401 or 4001; then the same token works")
async def t_busy(env):
    token = await env.login("alice", beckon=node())
    env.redis.command("CONFIG", "SET", "busy-reply-threshold", "100")
    busy = socket.socket(socket.AF_UNIX)
    busy.connect(env.redis.sock)
    script = b"while true do end"
    busy.sendall(b"*3\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n$1\r\n0\r\n" % (len(script), script))
    try:
        await asyncio.sleep(0.3)
        status, body = await route(token)
        r, code = await hello(env, token)
        storage_trouble("BUSY", status, body, r, code)
    finally:
        env.redis.command("SCRIPT", "KILL")
        busy.close()
        env.redis.command("CONFIG", "SET", "busy-reply-threshold", "5000")
    await until_ok(env, token, "after SCRIPT KILL")


@T.case("Redis out of memory (OOM on the hello's writes): close 1013, not 4001; reading routes still authorize")
async def t_oom(env):
    token = await env.login("alice", beckon=node())
    env.redis.command("CONFIG", "SET", "maxmemory", "1")
    try:
        r, code = await hello(env, token)
        assert r["type"] == "error" and r["code"] == "unavailable", r
        assert code == 1013, f"OOM: close {code}"
        status, body = await route(token)
        assert status == 200, f"the authorize script only reads: {status} {body}"
    finally:
        env.redis.command("CONFIG", "SET", "maxmemory", "0")
    await until_ok(env, token, "after OOM")


@T.case("Redis frozen past --redis-timeout-ms: 503 and close 1013 (the socket is not left waiting); then it works")
async def t_frozen(env):
    token = await env.login("alice", beckon=node())
    env.redis.pause()
    try:
        status, body = await route(token)
        r, code = await hello(env, token)
        storage_trouble("frozen", status, body, r, code)
    finally:
        env.redis.resume()
    await until_ok(env, token, "after the freeze")


@T.case("Redis without our scripts (SCRIPT FLUSH): 503 and 1013, not 401 and 4001; the link loads them again")
async def t_noscript(env):
    token = await env.login("alice", beckon=node())
    env.redis.command("SCRIPT", "FLUSH")
    status, body = await route(token)
    assert status == 503 and body["error"]["code"] == "unavailable", f"NOSCRIPT: HTTP {status} {body}"
    env.redis.command("SCRIPT", "FLUSH")
    r, code = await hello(env, token)
    assert r["type"] == "error" and r["code"] == "unavailable" and code == 1013, (r, code)
    await until_ok(env, token, "after SCRIPT FLUSH", seconds=10)
    with open(node().log, errors="replace") as f:
        assert "does not have our scripts" in f.read(), "the link was not remade"


if __name__ == "__main__":
    T.run("storage_errors", setup=setup)
