"""Plain HTTP, hardened where every request passes (net.c): a deadline for the whole request body,
a per-address cap on plain HTTP connections, and request targets that cannot name one resource
while acting on another (control characters, over-long paths)."""

import asyncio
import json
import re
import socket
import struct
import time

from harness import Cases, http_request, parse_json_body

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
