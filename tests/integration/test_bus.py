"""The bus addressed to recipients: a node receives only what its own sockets need.

Every change is published with Redis 7's sharded pub/sub on the channel of its recipient
(`bk:{TAG}:to:v:VISITOR` in the visitor's slot; `to:a:AGENT`, `to:agents`, `to:nodes` in every slot;
`bk:{g}:to:node:NODE`), and a node subscribes to a visitor's or an agent's channel only while it holds a socket of theirs
(docs/architecture.md, "The bus"). Two nodes, A (the harness's) and B, share one Redis and one
`--secret`. What a node receives is read from its /metrics (`beckon_bus_messages_received_total`)
and what Redis holds from PUBSUB SHARDNUMSUB. The hello's guarantee (no push slips past a socket
between the snapshot of its welcome and its first push) is tested with a second tab saying hello
while an agent keeps writing.
"""

import asyncio
import re
import selectors
import socket
import threading
import time

from harness import Cases, diag, http_request, send_message, sid, id_prefix, GLOBAL_PREFIX

T = Cases()

SECRET = "b5" * 32
# The same key on both nodes (a token of one verifies on the other); rate limits out of the way.
NODE_ARGS = ["--secret", SECRET, "--rate-messages-per-second", "1000", "--rate-burst", "1000"]

_nodes = {}
_redis = None


async def setup(env):
    global _redis
    _redis = env.redis
    for name in ("alice", "bob", "kim"):
        env.add_agent(name)
    r = env.beckon.cli("agent", "add", "root", "admin", stdin="root-password\n")
    assert r.returncode == 0, f"agent add root admin: {r.stdout!r} {r.stderr!r}"
    env.agents["root"] = "root-password"
    _nodes["A"] = env.beckon
    _nodes["B"] = await env.new_beckon("b", extra_args=NODE_ARGS)


def A():
    return _nodes["A"]


def B():
    b = _nodes["B"]
    assert b.running(), "node B is not running"
    return b


async def received(node):
    """The node's beckon_bus_messages_received_total."""
    status, _, data = await http_request(node.port, "GET", "/metrics")
    assert status == 200, f"{node.name}: GET /metrics {status}"
    m = re.search(rb"^beckon_bus_messages_received_total (\d+)$", data, re.M)
    assert m, f"{node.name}: no beckon_bus_messages_received_total in /metrics"
    return int(m.group(1))


def subscribers(channel):
    """How many connections subscribe to a sharded channel (one per node): a visitor's in its
    slot; the others in the global slot (they are subscribed in every slot alike)."""
    slot = id_prefix(channel[len("to:v:"):]) if channel.startswith("to:v:") else GLOBAL_PREFIX
    reply = _redis.command("PUBSUB", "SHARDNUMSUB", slot + channel)
    return int(reply[1])


async def until(what, check, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.02)


async def active_chat(env, visitor, agent, text="hello"):
    """The visitor's new conversation, accepted by agent. Returns its id."""
    conv = (await send_message(visitor, text))["conversation"]
    await agent.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await agent.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await visitor.recv_until("conversation", id=conv, state="active")
    return conv


# A node with nobody may still hear the nodes' own messages meanwhile: its heartbeat's !ping
# (every 5 s) and a !queue when the queue moved. A chat of MESSAGES each way gives far more.
MESSAGES = 20
NODE_MESSAGES_MAX = 6


@T.case("a node with no socket of a visitor or an agent receives none of their messages")
async def t_only_own(env):
    alice = await env.agent("alice", beckon=A())
    v = await env.visitor(beckon=A())
    conv = await active_chat(env, v, alice)
    await until("A subscribed to the visitor's and alice's channels, B to neither",
                lambda: subscribers(f"to:v:{v.visitor_id}") == 1 and subscribers("to:a:alice") == 1)
    a0, b0 = await received(A()), await received(B())
    for i in range(MESSAGES):
        ack = await send_message(v, f"from the visitor {i}")
        await alice.recv_until("message", id=ack["id"])
        ack = await send_message(alice, f"from alice {i}", conversation=conv)
        await v.recv_until("message", id=ack["id"])
    a1, b1 = await received(A()), await received(B())
    diag(f"{2 * MESSAGES} chat messages on A: A received {a1 - a0} bus messages, B {b1 - b0}")
    assert a1 - a0 >= 2 * MESSAGES, f"A received {a1 - a0} bus messages for {2 * MESSAGES} chat messages"
    assert b1 - b0 <= NODE_MESSAGES_MAX, f"B, with no socket, received {b1 - b0} bus messages"

    # An agent on B subscribes B to all agents' channel, not to this conversation's.
    bob = await env.agent("bob", beckon=B())
    await until("B subscribed to bob's channel", lambda: subscribers("to:a:bob") == 1)
    b0 = await received(B())
    for i in range(MESSAGES):
        ack = await send_message(v, f"still between the visitor and alice {i}")
        await alice.recv_until("message", id=ack["id"])
    b1 = await received(B())
    assert b1 - b0 <= NODE_MESSAGES_MAX, f"B (bob only) received {b1 - b0} bus messages of alice's chat"
    await bob.expect_none("message", conversation=conv, within=0.1)

    # The last socket gone, the node unsubscribes.
    await v.close()
    await alice.close()
    await until("the channels of a visitor and an agent with no socket left have no subscriber",
                lambda: subscribers(f"to:v:{v.visitor_id}") == 0 and subscribers("to:a:alice") == 0)
    assert subscribers("to:nodes") == 2, "every node subscribes to to:nodes"


@T.case("a second tab of the visitor on another node gets the pushes; the sending socket does not")
async def t_second_tab(env):
    alice = await env.agent("alice", beckon=B())
    v = await env.visitor(beckon=A())
    conv = await active_chat(env, v, alice)
    tab = await env.visitor(beckon=B(), token=v.token)
    assert tab.visitor_id == v.visitor_id
    await until("both nodes subscribe to the visitor's channel", lambda: subscribers(f"to:v:{v.visitor_id}") == 2)
    sent = await send_message(v, "from the first tab")
    await tab.recv_until("message", id=sent["id"])
    await alice.recv_until("message", id=sent["id"])
    answer = await send_message(alice, "to both tabs", conversation=conv)
    for c in (v, tab):
        await c.recv_until("message", id=answer["id"])
    await v.expect_none("message", id=sent["id"], within=0.2)
    await tab.close()
    await until("only A subscribes once the tab on B closed", lambda: subscribers(f"to:v:{v.visitor_id}") == 1)


class DelayingProxy:
    """TCP in front of the test's Redis (unix socket) that holds back what a bus link sends (a
    connection whose first command is SSUBSCRIBE) for `delay` seconds, in order: its
    subscriptions reach Redis late, while the node's commands go straight through. A node that
    ran a hello's script before its subscription was confirmed would lose what is published
    in between."""

    def __init__(self, redis_sock, delay):
        self.redis_sock, self.delay = redis_sock, delay
        self.pairs, self.delayed, self.held = {}, {}, []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        while not self.stopped:
            for key, _ in sel.select(0.002 if self.held else 0.05):
                sock = key.fileobj
                if sock is self.listener:
                    c, _ = sock.accept()
                    r = socket.socket(socket.AF_UNIX)
                    r.connect(self.redis_sock)
                    self.pairs[c], self.pairs[r] = r, c
                    self.delayed[c] = None  # known with its first bytes
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
                    for s in (sock, other):
                        self.pairs.pop(s, None)
                        self.delayed.pop(s, None)
                        sel.unregister(s)
                        s.close()
                    continue
                if sock in self.delayed:
                    if self.delayed[sock] is None:
                        self.delayed[sock] = b"SSUBSCRIBE" in data.upper()
                    if self.delayed[sock]:
                        self.held.append((time.monotonic() + self.delay, other, data))
                        continue
                other.sendall(data)
            now = time.monotonic()
            while self.held and self.held[0][0] <= now:
                _, other, data = self.held.pop(0)
                if other in self.pairs:
                    other.sendall(data)


async def hello_race(env, node, rounds, writers=4):
    """Tabs of one visitor say hello on `node`, which holds no other socket of theirs, while
    `writers` tasks of an agent on A keep messages in flight. Every message stored after the
    snapshot a tab's welcome was built from (its id above the welcome's last_id) must reach the
    tab as a push. Returns how many such messages there were."""
    alice = await env.agent("alice", beckon=A())
    v = await env.visitor(beckon=A())
    conv = await active_chat(env, v, alice)
    acked = []
    stop = asyncio.Event()

    async def writer(w):
        i = 0
        while not stop.is_set():
            ack = await send_message(alice, f"writer {w}: while you say hello {i}", conversation=conv)
            acked.append(ack["id"])
            i += 1

    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(writer(w)) for w in range(writers)]
    checked = 0
    try:
        for r in range(rounds):
            tab = await env.visitor(beckon=node, token=v.token)
            last = tab.welcome["conversation"]["last_id"]
            n = len(acked)
            while len(acked) < n + 2 * writers:
                await asyncio.sleep(0.002)
            # every writer has had an ack since the welcome: what it sent before is stored
            after = [i for i in acked if sid(i) > sid(last)]
            for i in after:
                await tab.recv_until("message", id=i, timeout=5)
            checked += len(after)
            await tab.close()
            env.clients.remove(tab)
            await until("the node unsubscribed", lambda: subscribers(f"to:v:{v.visitor_id}") == 1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return checked


ROUNDS = 30


@T.case(f"no push slips past a hello: tabs say hello on another node while the agent writes ({ROUNDS} rounds)")
async def t_hello_race(env):
    """What comes during the hello is held for after the welcome."""
    checked = await hello_race(env, B(), ROUNDS)
    diag(f"{ROUNDS} tabs: {checked} messages stored after their welcome's snapshot, each pushed to the tab")


SLOW_ROUNDS = 8
SUBSCRIBE_DELAY = 0.05


@T.case(f"no push slips past a hello whose subscription reaches Redis {SUBSCRIBE_DELAY * 1000:.0f} ms late "
        f"({SLOW_ROUNDS} rounds)")
async def t_hello_race_slow_subscription(env):
    """The hello's script runs only once the subscription is confirmed: published meanwhile
    is in the snapshot, published after reaches the node."""
    proxy = DelayingProxy(env.redis.sock, SUBSCRIBE_DELAY)
    try:
        c = await env.new_beckon("c-slow-bus", NODE_ARGS + ["--redis", f"redis://127.0.0.1:{proxy.port}"])
        checked = await hello_race(env, c, SLOW_ROUNDS)
        diag(f"{SLOW_ROUNDS} tabs on the slow node: {checked} messages after their welcome's snapshot, each pushed")
        await c.stop()
    finally:
        proxy.stopped = True


@T.case("!forget and !logout close the sockets on the other node")
async def t_forget_logout(env):
    v = await env.visitor(beckon=A())
    tab = await env.visitor(beckon=B(), token=v.token)
    kim = await env.agent("kim", beckon=B())
    root = await env.login("root", beckon=A())
    status, _, body = await http_request(A().port, "DELETE", f"/api/visitors/{v.visitor_id}",
                                         headers={"Authorization": "Bearer " + root})
    assert status == 200, (status, body)
    assert await tab.wait_closed(5) == 1008, "the erased visitor's tab on B stays open"
    assert await v.wait_closed(5) == 1008
    r = A().cli("agent", "passwd", "kim", stdin="kim-password-2\n")
    assert r.returncode == 0, r.stderr
    env.agents["kim"] = "kim-password-2"
    assert await kim.wait_closed(5) == 4001, "kim's socket on B stays open after a new password"


@T.case("the bus link dropped by Redis (CLIENT KILL TYPE pubsub): clients resync, channels come back")
async def t_pubsub_kill(env):
    alice = await env.agent("alice", beckon=A())
    v = await env.visitor(beckon=B())
    conv = await active_chat(env, v, alice)
    env.redis.command("CLIENT", "KILL", "TYPE", "pubsub")
    for c in (v, alice):
        await c.recv_until("resync", timeout=10)
    await until("both nodes subscribed again",
                lambda: subscribers(f"to:v:{v.visitor_id}") == 1 and subscribers("to:a:alice") == 1
                and subscribers("to:nodes") == 2 and subscribers("to:agents") == 1)
    ack = await send_message(alice, "after the drop", conversation=conv)
    await v.recv_until("message", id=ack["id"])
    ack = await send_message(v, "and back")
    await alice.recv_until("message", id=ack["id"])


if __name__ == "__main__":
    T.run("bus", setup=setup, beckon_args=NODE_ARGS, deadline=150)
