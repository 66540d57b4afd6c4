"""Plain HTTP, hardened where every request passes (http_server.c): a deadline for the whole request body,
a per-address cap on plain HTTP connections, and request targets that cannot name one resource
while acting on another (control characters, over-long paths)."""

import asyncio
import json
import re
import socket
import struct
import time

from harness import VISITOR_PROTO, Cases, http_request, parse_json_body, raw_handshake

T = Cases()
STATUS_RE = re.compile(rb"^HTTP/1\.[01] (\d{3})")


async def setup(env):
    env.add_agent("alice")


async def node(env, *args):
    return await env.new_beckon(env.uid("node"), extra_args=list(args))


class Conn:
    """One raw TCP connection to a node: requests by hand, responses read by Content-Length."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port):
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        return cls(reader, writer)

    async def send(self, data):
        self.writer.write(data)
        await self.writer.drain()

    async def request(self, method, path, headers=None, body=b"", timeout=5):
        """Sends a request; returns (status, headers, body), status None when the server closed."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body:
            lines.append(f"Content-Length: {len(body)}")
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        return await self.response(timeout)

    async def response(self, timeout=5):
        try:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None, {}, b""
        m = STATUS_RE.match(head)
        assert m, f"not an HTTP response: {head[:200]!r}"
        headers = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await asyncio.wait_for(self.reader.readexactly(int(headers.get("content-length", "0"))), timeout)
        return int(m.group(1)), headers, body

    async def closed_by_server(self, within, answer_ok=False):
        """True when the server closes the connection within `within` seconds (EOF or reset).
        Bytes before the end are an error unless answer_ok."""
        deadline = time.monotonic() + within
        while True:
            try:
                data = await asyncio.wait_for(self.reader.read(65536), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                return False
            except ConnectionError:
                return True
            if not data:
                return True
            assert answer_ok, f"unexpected bytes from the server: {data[:200]!r}"

    def close(self):
        self.writer.close()

    def reset(self):
        """Drops the connection with a TCP reset instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.close()


def error_code(body):
    b = parse_json_body(body)
    assert isinstance(b.get("error"), dict) and isinstance(b["error"].get("message"), str), b
    return b["error"]["code"]


async def metric(port, name):
    status, _, data = await http_request(port, "GET", "/metrics")
    assert status == 200, status
    for line in data.decode().splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError(f"{name} missing from /metrics:\n{data.decode()}")


async def eventually(fn, within=3.0, what="condition"):
    deadline = time.monotonic() + within
    while True:
        last = await fn()
        if last is True:
            return
        assert time.monotonic() < deadline, f"{what}: still {last!r} after {within}s"
        await asyncio.sleep(0.1)


def log_lines(b, text):
    with open(b.log, encoding="utf-8", errors="replace") as f:
        return [line for line in f if text in line]


async def trickle(conn, head, every=0.25, limit=8.0):
    """Sends `head`, then one body byte every `every` s until the server answers or closes.
    Returns (bytes the server sent, seconds from the end of the headers)."""
    await conn.send(head)
    t0 = time.monotonic()

    async def drip():
        try:
            while True:
                await asyncio.sleep(every)
                await conn.send(b"x")
        except (ConnectionError, OSError):
            pass

    task = asyncio.create_task(drip())
    data = b""
    try:
        while True:
            chunk = await asyncio.wait_for(conn.reader.read(65536), max(0.1, limit - (time.monotonic() - t0)))
            if not chunk:
                break
            data += chunk
    except asyncio.TimeoutError:
        raise AssertionError(f"a trickled body was still being taken after {limit}s; got {data[:200]!r}")
    except ConnectionError as e:
        data += f"<{type(e).__name__}>".encode()
    finally:
        task.cancel()
    return data, time.monotonic() - t0


# ---- the body deadline ------------------------------------------------------------------------


@T.case("a body trickled one byte at a time is dropped after body-timeout-seconds with 408; "
        "logged once, counted, and the server keeps serving")
async def t_body_trickle(env):
    b = await node(env, "--body-timeout-seconds", "2")
    c = await Conn.open(b.port)
    data, took = await trickle(c, b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  b"Content-Length: 1000\r\n\r\n{")
    c.close()
    assert data.startswith(b"HTTP/1.1 408 "), f"after {took:.1f}s: {data[:300]!r}"
    assert error_code(data.split(b"\r\n\r\n", 1)[1]) == "bad_request", data
    assert 1.8 <= took <= 4.5, f"dropped after {took:.1f}s, want about 2"
    assert (await http_request(b.port, "GET", "/healthz"))[0] == 200
    assert await metric(b.port, "beckon_http_body_timeouts_total") == 1
    assert len(log_lines(b, "did not arrive within")) == 1, log_lines(b, "did not arrive within")


@T.case("a body trickled to a static file, or after a bodiless POST's answer, is dropped too")
async def t_body_trickle_elsewhere(env):
    b = await node(env, "--body-timeout-seconds", "2")
    # lws serves (or refuses) the file itself and then discards the body, renewing its own
    # timeout with every piece; the deadline is ours, so it holds there as well
    c = await Conn.open(b.port)
    _, took = await trickle(c, b"POST /beckon.js HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
    c.close()
    assert took <= 4.5, f"static file: dropped after {took:.1f}s"
    # a POST without Content-Length is answered at once, but lws then waits for a body
    c = await Conn.open(b.port)
    _, took = await trickle(c, b"POST /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
    c.close()
    assert took <= 4.5, f"POST without Content-Length: dropped after {took:.1f}s"
    assert (await http_request(b.port, "GET", "/healthz"))[0] == 200


@T.case("a body that arrives in pieces within the deadline is served; its deadline ends with it")
async def t_body_in_time(env):
    b = await node(env, "--body-timeout-seconds", "2")
    c = await Conn.open(b.port)
    body = json.dumps({"name": "nobody", "password": "not-the-password"}).encode()
    await c.send(f"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode())
    for i in range(0, len(body), 10):
        await asyncio.sleep(0.1)
        await c.send(body[i:i + 10])
    status, _, data = await c.response()
    assert status == 401 and error_code(data) == "unauthorized", (status, data)
    # the same keep-alive connection, idle past the body deadline, is not sent a 408
    await asyncio.sleep(2.6)
    status, _, _ = await c.request("GET", "/healthz")
    assert status == 200, status
    c.close()
    assert await metric(b.port, "beckon_http_body_timeouts_total") == 0


@T.case("a request with Content-Length: 0 is answered at once, not held for a body that is not coming")
async def t_empty_body(env):
    b = await node(env, "--body-timeout-seconds", "2")
    token = await env.login("alice", beckon=b)
    c = await Conn.open(b.port)
    started = asyncio.get_running_loop().time()
    await c.send(f"PUT /api/canned/empty HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                 f"Content-Length: 0\r\n\r\n".encode())
    status, _, data = await c.response()
    assert status == 400 and error_code(data) == "bad_request", (status, data)
    assert asyncio.get_running_loop().time() - started < 1.0
    c.close()
    assert await metric(b.port, "beckon_http_body_timeouts_total") == 0


# ---- connections per address -------------------------------------------------------------------


async def held(port, n, headers=None):
    """n keep-alive connections that each made one request and now sit idle."""
    conns = []
    for _ in range(n):
        c = await Conn.open(port)
        status, _, data = await c.request("GET", "/healthz", headers)
        assert status == 200, (len(conns), status, data)
        conns.append(c)
    return conns


@T.case("the (N+1)th HTTP connection from one address gets 429; a freed slot is usable again")
async def t_http_cap(env):
    b = await node(env, "--max-http-connections-per-ip", "3")
    conns = await held(b.port, 3)
    for path in ("/healthz", "/beckon.js"):      # API and static files alike
        extra = await Conn.open(b.port)
        status, _, data = await extra.request("GET", path)
        assert status == 429 and error_code(data) == "rate_limited", (path, status, data)
        assert await extra.closed_by_server(2), "a refused connection is closed"
    # the held ones still work
    assert (await conns[1].request("GET", "/healthz"))[0] == 200
    conns[0].close()

    async def slot_free():
        status, _, _ = await http_request(b.port, "GET", "/healthz")
        return status == 200 or status
    await eventually(slot_free, what="a freed slot")
    for c in conns[1:]:
        c.close()
    assert await metric(b.port, "beckon_http_connections_refused_total") == 2


@T.case("WebSockets and plain HTTP connections are counted apart: neither limit lowers the other")
async def t_counted_apart(env):
    b = await node(env, "--max-http-connections-per-ip", "2", "--max-connections-per-ip", "3")
    sockets = [await env.connect("visitor", beckon=b) for _ in range(3)]
    conns = await held(b.port, 1)
    status, _ = await raw_handshake(b.port, "/ws", VISITOR_PROTO)
    assert status == 429, f"4th WebSocket: {status}"
    await asyncio.sleep(0.2)
    conns += await held(b.port, 1)        # three WebSockets leave both HTTP slots
    # at both limits, a connection that could become either is closed at once
    extra = await Conn.open(b.port)
    assert await extra.closed_by_server(2), "an address at both limits got another connection"
    await sockets[0].close()
    await asyncio.sleep(0.2)
    extra = await Conn.open(b.port)
    status, _, data = await extra.request("GET", "/healthz")
    assert status == 429 and error_code(data) == "rate_limited", (status, data)
    extra.close()

    async def ws_free():
        status, _ = await raw_handshake(b.port, "/ws", VISITOR_PROTO)
        return status == 101 or status
    await eventually(ws_free, what="a freed WebSocket slot")
    for c in conns:
        c.close()


@T.case("a keep-alive connection that upgrades to a WebSocket leaves the HTTP count")
async def t_upgrade_leaves(env):
    b = await node(env, "--max-http-connections-per-ip", "2")
    c = await Conn.open(b.port)
    assert (await c.request("GET", "/healthz"))[0] == 200
    await c.send(("\r\n".join([
        "GET /ws HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Protocol: {VISITOR_PROTO}"]) + "\r\n\r\n").encode())
    head = await asyncio.wait_for(c.reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101"), head[:200]
    conns = await held(b.port, 2)     # both slots are free again
    for x in conns + [c]:
        x.close()


@T.case("a trusted proxy is not capped as one client; the clients it names are")
async def t_trusted_proxy(env):
    b = await node(env, "--trusted-proxies", "127.0.0.1", "--max-http-connections-per-ip", "2",
                   "--max-connections-per-ip", "1")
    # five clients through the proxy: more connections than one address may hold at all (1 + 2)
    conns = []
    for i in range(5):
        conns += await held(b.port, 1, {"X-Forwarded-For": f"203.0.113.{i + 1}"})
    conns += await held(b.port, 2, {"X-Forwarded-For": "198.51.100.7"})
    extra = await Conn.open(b.port)
    status, _, _ = await extra.request("GET", "/healthz", {"X-Forwarded-For": "198.51.100.7"})
    assert status == 429, status
    # a proxy connection that carries another client next is counted for that one
    status, _, _ = await conns[0].request("GET", "/healthz", {"X-Forwarded-For": "198.51.100.7"})
    assert status == 429, status
    for c in conns + [extra]:
        c.close()


@T.case("an untrusted peer's X-Forwarded-For does not escape the cap")
async def t_untrusted_forwarded(env):
    b = await node(env, "--max-http-connections-per-ip", "2")
    conns = [(await held(b.port, 1, {"X-Forwarded-For": f"203.0.113.{i}"}))[0] for i in (1, 2)]
    extra = await Conn.open(b.port)
    status, _, _ = await extra.request("GET", "/healthz", {"X-Forwarded-For": "203.0.113.3"})
    assert status == 429, status
    for c in conns + [extra]:
        c.close()


@T.case("silent connections from one address are capped when accepted, far below the handshake timeout")
async def t_silent_capped(env):
    b = await node(env, "--max-http-connections-per-ip", "2", "--max-connections-per-ip", "2")
    silent = [await Conn.open(b.port) for _ in range(4)]     # up to both limits together
    await asyncio.sleep(0.3)
    for i, c in enumerate(silent):
        assert not await c.closed_by_server(0.05), f"silent connection {i + 1} of 4 was closed"
    extra = await Conn.open(b.port)
    assert await extra.closed_by_server(2), "the 5th connection from one address was kept"
    for c in silent:
        c.close()

    async def usable():
        status, _, _ = await http_request(b.port, "GET", "/healthz")
        return status == 200 or status
    await eventually(usable, what="connections after the silent ones left")
    assert await metric(b.port, "beckon_http_connections_refused_total") >= 1


@T.case("every way a connection ends brings the HTTP count back down")
async def t_count_comes_down(env):
    b = await node(env, "--max-http-connections-per-ip", "2", "--max-connections-per-ip", "1",
                   "--body-timeout-seconds", "1", "--handshake-timeout-seconds", "2")
    port = b.port
    for _ in range(3):
        c = await Conn.open(port)                                   # answered, then closed by the client
        assert (await c.request("GET", "/healthz"))[0] == 200
        c.close()
        c = await Conn.open(port)                                   # Connection: close
        assert (await c.request("GET", "/healthz", {"Connection": "close"}))[0] == 200
        assert await c.closed_by_server(2)
        c = await Conn.open(port)                                   # a static file
        assert (await c.request("GET", "/beckon.js"))[0] == 200
        c.reset()
        c = await Conn.open(port)                                   # reset in the middle of a body
        await c.send(b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"type\"")
        await asyncio.sleep(0.05)
        c.reset()
        c = await Conn.open(port)                                   # half a header, then gone
        await c.send(b"GET /heal")
        c.close()
        c = await Conn.open(port)                                   # refused: a control character
        assert (await c.request("GET", "/healthz%0D"))[0] == 400
        c.close()
        c = await Conn.open(port)                                   # the body deadline
        await c.send(b"POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        assert await c.closed_by_server(3, answer_ok=True)
        c = await Conn.open(port)                                   # the handshake deadline
        await c.send(b"GET /healthz HTTP/1.1\r\n")
        assert await c.closed_by_server(4)
        # refused at the cap while two are held
        hold = await held(port, 2)
        c = await Conn.open(port)
        assert (await c.request("GET", "/healthz"))[0] == 429
        c.close()
        for h in hold:
            h.close()

    async def only_this_one():
        n = await metric(port, "beckon_http_connections")
        return n == 1 or n    # the connection asking
    await eventually(only_this_one, within=5, what="open HTTP connections")
    # and exactly the accept-time allowance (1 + 2) of silent connections is left
    silent = [await Conn.open(port) for _ in range(3)]
    await asyncio.sleep(0.3)
    for i, c in enumerate(silent):
        assert not await c.closed_by_server(0.05), f"silent connection {i + 1} of 3 was closed: a count leaked"
    for c in silent:
        c.close()


# ---- request targets ---------------------------------------------------------------------------


async def canned(env, port, token, method, path, body=None):
    c = await Conn.open(port)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        raw = b""
        if body is not None:
            raw = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        return await c.request(method, path, headers, raw)
    finally:
        c.close()


async def canned_ids(env, port, token):
    status, _, data = await canned(env, port, token, "GET", "/api/canned")
    assert status == 200, (status, data)
    return {e["id"] for e in parse_json_body(data)["canned"]}


@T.case("a path with %0D is refused with 400 and nothing is deleted")
async def t_path_cr(env):
    port = env.beckon.port
    token = await env.login("alice")
    status, _, _ = await canned(env, port, token, "PUT", "/api/canned/abc", {"shortcut": "/a", "text": "keep me"})
    assert status == 200
    for path in ("/api/canned/abc%0Dxyz", "/api/canned/abc%0Axyz", "/api/canned/abc%0D%0A"):
        status, _, data = await canned(env, port, token, "DELETE", path)
        assert status == 400 and error_code(data) == "bad_request", (path, status, data)
        assert "abc" in await canned_ids(env, port, token), f"DELETE {path} deleted abc"


@T.case("control characters anywhere in the decoded path or query are refused with 400, NUL included")
async def t_control_characters(env):
    port = env.beckon.port
    token = await env.login("alice")
    problems = []
    for target in ("/api/canned/%00abc", "/api/canned/abc%09", "/api/canned/a%1Bb", "/api/canned/a%7F",
                   "/healthz?a=%0D", "/healthz?a=b%0Ac", "/healthz?a=%09", "/healthz?a=%7F",
                   "/api/stats/service?agent=x%1F", "/x/.%00y", "/beckon.js%0D"):
        c = await Conn.open(port)
        status, _, data = await c.request("GET", target, {"Authorization": f"Bearer {token}"})
        c.close()
        if status != 400 or error_code(data) != "bad_request":
            problems.append(f"{target}: {status} {data[:120]!r}")
    assert not problems, "\n".join(problems)
    # control: ordinary escapes still work
    status, _, _ = await canned(env, port, token, "PUT", "/api/canned/a%2Db", {"shortcut": "/d", "text": "dash"})
    assert status == 200 and "a-b" in await canned_ids(env, port, token)


@T.case("an over-long path or query is refused with 414, not cut short into another id")
async def t_too_long(env):
    port = env.beckon.port
    token = await env.login("alice")
    status, _, _ = await canned(env, port, token, "PUT", "/api/canned/abc", {"shortcut": "/a", "text": "keep me"})
    assert status == 200
    for target in ("/api/canned/abc" + "x" * 600, "/healthz?a=" + "x" * 600):
        status, _, data = await canned(env, port, token, "DELETE", target)
        assert status == 414 and error_code(data) == "bad_request", (target[:40], status, data)
    assert "abc" in await canned_ids(env, port, token)
    # a long parameter no longer hides the ones after it
    status, _, data = await canned(env, port, token, "GET",
                                   "/api/stats/service?pad=" + "x" * 300 + "&agent=not%20an%20id")
    assert status == 400 and parse_json_body(data)["error"]["message"].startswith("agent"), (status, data)


if __name__ == "__main__":
    T.run("http_hardening", setup=setup)
