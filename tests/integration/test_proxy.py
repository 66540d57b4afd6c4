"""Behind a reverse proxy: the per-address limits count the client the proxy names in
X-Forwarded-For, but only when the peer is one of `trusted-proxies`; anyone else's header is
ignored, and a header that does not parse leaves the peer's own address."""

import asyncio
import websockets

from harness import VISITOR_PROTO, Cases, http_request, parse_json_body, raw_handshake

T = Cases()


async def setup(env):
    pass


async def socket_from(node, forwarded_for):
    return await websockets.connect(f"ws://127.0.0.1:{node.port}/ws", subprotocols=[VISITOR_PROTO],
                                    extra_headers={"X-Forwarded-For": forwarded_for},
                                    open_timeout=5, close_timeout=1, ping_interval=None)


async def refused(node, forwarded_for):
    """The handshake's HTTP status for a socket from this client (101: it was accepted)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", node.port)
    try:
        writer.write(("\r\n".join([
            "GET /ws HTTP/1.1", f"Host: 127.0.0.1:{node.port}", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Protocol: {VISITOR_PROTO}", f"X-Forwarded-For: {forwarded_for}"]) + "\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode("latin-1")
        return int(head.split(" ", 2)[1])
    finally:
        writer.close()


@T.case("trusted proxy: sockets count against the forwarded client, not the proxy")
async def t_counts_client(env):
    node = await env.new_beckon("behind-proxy", ["--trusted-proxies", "127.0.0.1,::1",
                                                 "--max-connections-per-ip", "2"])
    held = [await socket_from(node, "203.0.113.7") for _ in range(2)]
    assert await refused(node, "203.0.113.7") == 429
    # another client behind the same proxy is not affected; nor is a chain ending in it
    other = await socket_from(node, "203.0.113.8")
    chained = await socket_from(node, "198.51.100.1, 203.0.113.9")
    # the client cannot escape by prepending an address of its own choosing
    assert await refused(node, "192.0.2.1, 203.0.113.7") == 429
    # the proxy's own entries at the right are skipped: the client is the last untrusted one
    assert await refused(node, "203.0.113.7, 127.0.0.1") == 429
    for ws in held + [other, chained]:
        await ws.close()


@T.case("untrusted peer or unparsable header: X-Forwarded-For is ignored, the peer counts")
async def t_ignored(env):
    node = await env.new_beckon("no-proxy", ["--max-connections-per-ip", "2"])
    held = [await socket_from(node, f"203.0.113.{i}") for i in (1, 2)]
    assert await refused(node, "203.0.113.3") == 429, "a header from an untrusted peer was believed"
    for ws in held:
        await ws.close()
    await asyncio.sleep(0.3)
    trusted = await env.new_beckon("proxy-junk", ["--trusted-proxies", "127.0.0.1",
                                                  "--max-connections-per-ip", "2"])
    held = [await socket_from(trusted, v) for v in ("not-an-address", "203.0.113.5; drop")]
    status, _ = await raw_handshake(trusted.port, "/ws", VISITOR_PROTO)
    assert status == 429, f"junk headers must count as the proxy itself: {status}"
    for ws in held:
        await ws.close()


@T.case("login throttling per network uses the forwarded client's /24")
async def t_login_throttle(env):
    node = await env.new_beckon("login-proxy", ["--trusted-proxies", "127.0.0.1"])

    async def login(name, client):
        status, _, data = await http_request(node.port, "POST", "/api/login",
                                             {"name": name, "password": "not-the-password"},
                                             {"X-Forwarded-For": client})
        return status, parse_json_body(data) if data else None

    # 20 failures from one /24 (4 names × 5, so no single name is locked first)
    for n in range(4):
        for i in range(5):
            status, body = await login(f"guess{n}", f"198.51.100.{10 + i}")
            assert status == 401, (n, i, status, body)
    status, body = await login("fresh-name", "198.51.100.200")
    assert status == 429 and body["error"]["code"] == "rate_limited", (status, body)
    # a client of another network, through the same proxy, is not throttled
    assert (await login("fresh-name", "203.0.113.20"))[0] == 401


@T.case("a bad trusted-proxies setting stops the start with a message naming it")
async def t_bad_setting(env):
    r = env.beckon.cli("--trusted-proxies", "10.0.0.1,proxy.example", "agent", "list")
    assert r.returncode != 0 and b"trusted-proxies" in r.stderr and b"proxy.example" in r.stderr, r


if __name__ == "__main__":
    T.run("proxy", setup=setup)
