"""Fault drills: Redis frozen, Redis dropping our connections, a client flooding, a burst of
connections. After each, every acknowledged message is there and clients carry on."""

import asyncio
import selectors
import socket
import struct
import threading
import time

from harness import Cases, Redis, assert_ordered_unique, full_history, send_message

T = Cases()


async def setup(env):
    env.add_agent("alice")


async def send_until_acked(v, text, cmid, deadline):
    """Resend with the same cmid until acknowledged (what the widget does)."""
    while True:
        r = await v.request({"type": "message", "cmid": cmid, "text": text}, timeout=10)
        if r["type"] == "ack":
            return r
        assert r["code"] in ("unavailable", "rate_limited"), r
        assert time.monotonic() < deadline, f"{cmid} never acknowledged"
        await asyncio.sleep(0.2)


@T.case("Redis frozen (SIGSTOP) for 10 s: unavailable, never a false ack; afterwards all acked messages are there",
        timeout=90)
async def t_redis_frozen(env):
    b = await env.new_beckon("frozen-node", ["--redis-timeout-ms", "1000"])
    v = await env.visitor(beckon=b)
    acked = [await send_message(v, "before", cmid="f0")]
    env.redis.pause()
    t0 = time.monotonic()
    outcomes = []
    try:
        i = 1
        while time.monotonic() - t0 < 10:
            r = await v.request({"type": "message", "cmid": f"f{i}", "text": f"during {i}"}, timeout=10)
            outcomes.append((f"f{i}", r))
            i += 1
            await asyncio.sleep(0.25)   # a widget retries at a human pace, not in a tight loop
    finally:
        env.redis.resume()
    assert all(r["type"] == "error" and r["code"] == "unavailable" for _, r in outcomes), \
        [r for _, r in outcomes if r["type"] != "error"]
    assert outcomes, "no request was tried while Redis was frozen"
    deadline = time.monotonic() + 45
    # every unconfirmed message is resent with its cmid: each ends up stored exactly once
    for cmid, _ in outcomes:
        acked.append(await send_until_acked(v, f"during {cmid[1:]}", cmid, deadline))
        await asyncio.sleep(0.12)    # within the socket's 10 requests per second
    acked.append(await send_until_acked(v, "after", "f-after", deadline))
    history, _ = await full_history(v, acked[0]["conversation"])
    ids = [m["id"] for m in history if m["from"] == "visitor"]
    assert_ordered_unique(history)
    assert [a["id"] for a in acked] == [i for i in ids if i in {a["id"] for a in acked}], "ack ids out of order"
    assert len(ids) == len(acked), f"{len(ids)} stored, {len(acked)} acknowledged"
    print(f"# {len(outcomes)} requests answered unavailable during the 10 s freeze", flush=True)


@T.case("Redis drops Beckon's connections (CLIENT KILL): Beckon reconnects, clients are told to resync, nothing lost")
async def t_client_kill(env):
    b = await env.new_beckon("killed-node", [])
    alice = await env.agent("alice", beckon=b)
    v = await env.visitor(beckon=b)
    ack = await send_message(v, "before the kill", cmid="k0")
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    env.redis.command("CLIENT", "KILL", "TYPE", "normal")
    env.redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    await v.recv_until("resync", timeout=10)
    deadline = time.monotonic() + 20
    acks = [ack] + [await send_until_acked(v, f"after {i}", f"k{i}", deadline) for i in range(1, 4)]
    for a in acks[1:]:
        await alice.recv_until("message", id=a["id"])
    history, _ = await full_history(v, conv)
    stored = [m["id"] for m in history if m["from"] == "visitor"]
    assert stored == [a["id"] for a in acks], (stored, [a["id"] for a in acks])


class ResettingProxy:
    """TCP in front of the test's Redis (unix socket) that can reset every connection at once:
    RST, no FIN, nothing said - what a crashed middlebox or a NAT timeout does."""

    def __init__(self, redis_sock):
        self.redis_sock, self.pairs, self.reset_now = redis_sock, {}, threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        clients = []
        while not self.stopped:
            if self.reset_now.is_set():
                self.reset_now.clear()
                for c in clients:
                    r = self.pairs.pop(c, None)
                    if r is None:
                        continue
                    self.pairs.pop(r, None)
                    sel.unregister(c)
                    sel.unregister(r)
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    c.close()
                    r.close()
                clients.clear()
            for key, _ in sel.select(0.05):
                sock = key.fileobj
                if sock is self.listener:
                    c, _ = sock.accept()
                    r = socket.socket(socket.AF_UNIX)
                    r.connect(self.redis_sock)
                    self.pairs[c], self.pairs[r] = r, c
                    clients.append(c)
                    sel.register(c, selectors.EVENT_READ)
                    sel.register(r, selectors.EVENT_READ)
                    continue
                other = self.pairs.get(sock)
                if other is None:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.pairs.pop(sock, None)
                    self.pairs.pop(other, None)
                    sel.unregister(sock)
                    sel.unregister(other)
                    sock.close()
                    other.close()
                    continue
                other.sendall(data)


@T.case("a reset of both Redis links (RST, nothing said): beckon notices, remakes them, clients resync, pushes flow")
async def t_reset(env):
    proxy = ResettingProxy(env.redis.sock)
    try:
        b = await env.new_beckon("reset-node", ["--redis", f"redis://127.0.0.1:{proxy.port}"])
        alice = await env.agent("alice", beckon=b)
        v = await env.visitor(beckon=b)
        conv = (await send_message(v, "before the reset", cmid="z0"))["conversation"]
        await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
        proxy.reset_now.set()
        await v.recv_until("resync", timeout=20)
        # the bus works again: a message the agent sends reaches the visitor as a push
        deadline = time.monotonic() + 20
        while True:
            r = await alice.request({"type": "message", "conversation": conv, "cmid": "z1", "text": "after"}, timeout=10)
            if r["type"] == "ack":
                break
            assert r["code"] == "unavailable" and time.monotonic() < deadline, r
            await asyncio.sleep(0.2)
        await v.recv_until("message", id=r["id"], timeout=10)
        await b.stop()
    finally:
        proxy.stopped = True


@T.case("Redis demoted to a replica (as after a failover): unavailable, the link is remade, then recovery",
        todo="a node of a Redis Cluster refuses REPLICAOF (BECKON_TEST_REDIS_CLUSTER)" if Redis.cluster else None)
async def t_readonly(env):
    b = await env.new_beckon("readonly-node", [])
    v = await env.visitor(beckon=b)
    first = await send_message(v, "before the failover", cmid="r0")
    env.redis.command("REPLICAOF", "127.0.0.1", "1")   # a primary that does not exist: read-only
    try:
        r = await v.request({"type": "message", "cmid": "r1", "text": "during"})
        assert r["type"] == "error" and r["code"] == "unavailable", r
    finally:
        env.redis.command("REPLICAOF", "NO", "ONE")
    deadline = time.monotonic() + 20
    acked = [first, await send_until_acked(v, "during", "r1", deadline),
             await send_until_acked(v, "after", "r2", deadline)]
    history, _ = await full_history(v, first["conversation"])
    assert [m["id"] for m in history if m["from"] == "visitor"] == [a["id"] for a in acked], history
    assert any("read-only replica" in line for line in open(b.log, errors="replace")), "the link was not remade"


@T.case("a client flooding messages is rate-limited; another chat on the same node keeps its pace")
async def t_flood(env):
    b = await env.new_beckon("flood-node", [])
    flooder = await env.visitor(beckon=b)
    alice = await env.agent("alice", beckon=b)
    v = await env.visitor(beckon=b)
    ack = await send_message(v, "I am the calm one", cmid="c0")
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")

    async def flood():
        for i in range(3000):
            await flooder.send({"type": "message", "cmid": f"x{i}", "text": "spam " * 20})
    task = asyncio.create_task(flood())
    worst = 0.0
    for i in range(20):
        t0 = time.monotonic()
        a = await send_message(v, f"calm {i}", cmid=f"c{i + 1}")
        await alice.recv_until("message", id=a["id"])
        worst = max(worst, time.monotonic() - t0)
    await task
    limited = await flooder.recv_until("error", code="rate_limited", timeout=10)
    assert limited, "the flooder was never rate-limited"
    assert worst < 1.0, f"a calm message took {worst:.3f}s during the flood"
    print(f"# slowest calm round trip during the flood: {worst * 1000:.1f} ms", flush=True)


@T.case("2 000 visitors connecting at once are all welcomed; the node still chats")
async def t_burst(env):
    b = await env.new_beckon("burst-node", ["--max-connections-per-ip", "5000"])

    async def one(i):
        c = await env.connect("visitor", beckon=b)
        return await c.request({"type": "hello", "site": "demo"}, timeout=30)

    t0 = time.monotonic()
    replies = await asyncio.gather(*(one(i) for i in range(2000)))
    took = time.monotonic() - t0
    assert all(r["type"] == "welcome" for r in replies), [r for r in replies if r["type"] != "welcome"][:3]
    v = await env.visitor(beckon=b)
    await send_message(v, "still responsive")
    print(f"# 2 000 sockets opened and welcomed in {took:.2f}s", flush=True)
    await env.close_clients()


if __name__ == "__main__":
    T.run("fault_drills", setup=setup, deadline=240)
