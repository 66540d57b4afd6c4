"""Limits that keep one client from hurting the others, each answered with a clear error or
close code and counted in /metrics."""

import asyncio
import time

from harness import Cases, http_request

T = Cases()


async def setup(env):
    pass


async def node(env, *args):
    return await env.new_beckon(env.uid("node"), extra_args=list(args))


@T.case("rate limit: a burst, then the sustained rate; the rest gets rate_limited; the socket stays up")
async def t_rate(env):
    b = await node(env, "--rate-messages-per-second", "5", "--rate-burst", "5")
    v = await env.visitor(beckon=b)   # hello was the first token
    replies = []
    for i in range(12):
        await v.send({"type": "resume", "req": f"r{i}", "conversation": "c_nothere", "since": "0"})
    for _ in range(12):
        replies.append(await v.recv_until("error"))
    codes = [r["code"] for r in replies]
    assert codes.count("not_found") == 4 and codes.count("rate_limited") == 8, codes
    await asyncio.sleep(1.1)           # five tokens back
    r = await v.request({"type": "resume", "conversation": "c_nothere", "since": "0"})
    assert r["code"] == "not_found", r


@T.case("events per minute: page views over the limit get rate_limited, chat still works")
async def t_events(env):
    b = await node(env, "--events-per-minute", "3")
    v = await env.visitor(beckon=b)    # hello's page is not counted against the limit
    codes = []
    for i in range(5):
        r = await v.request({"type": "page_view", "url": f"https://shop.example/p{i}"})
        codes.append(r["type"] if r["type"] == "ok" else r["code"])
    assert codes == ["ok", "ok", "ok", "rate_limited", "rate_limited"], codes
    await v.expect_reply({"type": "message", "cmid": "c1", "text": "still here"}, "ack")


@T.case("connections per IP: past the limit the handshake gets HTTP 429; a freed slot is usable again")
async def t_per_ip(env):
    b = await node(env, "--max-connections-per-ip", "3")
    open_ = [await env.connect("visitor", beckon=b) for _ in range(3)]
    from harness import raw_handshake, VISITOR_PROTO
    status, head = await raw_handshake(b.port, "/ws", VISITOR_PROTO)
    assert status == 429, f"4th socket from one IP: {status} {head[:120]!r}"
    await open_[0].close()
    deadline = time.monotonic() + 3
    while True:
        status, _ = await raw_handshake(b.port, "/ws", VISITOR_PROTO)
        if status == 101:
            break
        assert time.monotonic() < deadline, f"slot not freed: {status}"
        await asyncio.sleep(0.1)


@T.case("hello deadline: a socket that says nothing is told hello_required and closed with 1008")
async def t_hello_timeout(env):
    b = await node(env, "--hello-timeout-seconds", "1")
    t0 = time.monotonic()
    silent = await env.connect("visitor", beckon=b)
    talker = await env.visitor(beckon=b)
    err = await silent.recv_until("error", timeout=4)
    assert err["code"] == "hello_required", err
    code = await silent.wait_closed(4)
    took = time.monotonic() - t0
    assert code == 1008 and 1.0 <= took <= 3.5, (code, took)
    await talker.expect_reply({"type": "message", "cmid": "x", "text": "I said hello"}, "ack")


@T.case("slow handshake: a request that never completes is dropped after handshake-timeout-seconds")
async def t_slowloris(env):
    b = await node(env, "--handshake-timeout-seconds", "2")
    reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
    await writer.drain()
    t0 = time.monotonic()
    data = await asyncio.wait_for(reader.read(), 8)   # EOF when the server drops it
    took = time.monotonic() - t0
    assert took <= 5, f"half a request held for {took:.1f}s"
    writer.close()
    status, _, _ = await http_request(b.port, "GET", "/healthz")
    assert status == 200
    print(f"# dropped after {took:.2f}s ({len(data)} bytes answered)", flush=True)


@T.case("/metrics: Prometheus text with connections, messages, errors by code, Redis and the queue")
async def t_metrics(env):
    b = await node(env, "--rate-messages-per-second", "1", "--rate-burst", "2")
    v = await env.visitor(beckon=b)
    await v.expect_reply({"type": "message", "cmid": "m1", "text": "count me"}, "ack")
    await v.send({"type": "resume", "conversation": "c_x", "since": "0"})
    await v.send({"type": "resume", "conversation": "c_x", "since": "0"})
    await v.recv_until("error", code="rate_limited")
    status, headers, data = await http_request(b.port, "GET", "/metrics")
    text = data.decode()
    assert status == 200, status
    lines = set(text.splitlines())
    for want in ('beckon_connections{kind="visitor"} 1', "beckon_messages_stored_total 1", "beckon_redis_up 1"):
        assert want in lines, f"missing {want!r} in:\n{text}"
    queue = [int(line.split()[1]) for line in lines if line.startswith("beckon_queue_length ")]
    assert queue and queue[0] >= 1, f"queue length (this test's chat is waiting): {queue}\n{text}"
    assert any(line.startswith('beckon_errors_total{code="rate_limited"} ') for line in lines), text
    assert "# TYPE beckon_errors_total counter" in lines, text


if __name__ == "__main__":
    T.run("limits", setup=setup)
