"""Waiting, made visible: queue position and expected wait for every waiting visitor, an
automatic acknowledgement in the visitor's language, and an offer to leave an email."""

import asyncio
import time

from harness import Cases, http_request, send_message, id_prefix

T = Cases()


async def setup(env):
    for name in ("alice", "bob"):
        env.add_agent(name)


async def queued_visitor(env, node, text, lang="en"):
    v = await env.visitor(beckon=node, lang=lang)
    ack = await send_message(v, text)
    return v, ack["conversation"]


@T.case("queue position: three waiting visitors learn 1, 2, 3; positions move up within a second of an accept")
async def t_positions(env):
    node = await env.new_beckon("queue-node", [])
    alice = await env.agent("alice", beckon=node)
    waiting = []
    for i in range(3):
        v, conv = await queued_visitor(env, node, f"question {i}")
        waiting.append((v, conv))
        p = await v.recv_until("queue_position", conversation=conv)
        assert p["position"] == i + 1 and p["waiting"] == i + 1, p
        assert p["agents_online"] >= 1, p
    # the first visitor hears about the grown queue from the next sweep (at most a second)
    p0 = await waiting[0][0].recv_until("queue_position", conversation=waiting[0][1], waiting=3)
    # nothing has been accepted yet: no waiting times to estimate from
    assert p0["position"] == 1 and p0["expected_wait_seconds"] is None, p0
    await alice.expect_reply({"type": "accept", "conversation": waiting[0][1]}, "ok")
    for (v, conv), want in ((waiting[1], 1), (waiting[2], 2)):
        p = await v.recv_until("queue_position", conversation=conv, position=want)
        assert p["waiting"] == 2, p
        assert isinstance(p["expected_wait_seconds"], int) and p["expected_wait_seconds"] >= 0, p
    # a visitor who gives up leaves the queue; the one behind moves up
    await waiting[1][0].expect_reply({"type": "close"}, "ok")
    await waiting[2][0].recv_until("queue_position", conversation=waiting[2][1], position=1, waiting=1)
    await alice.expect_reply({"type": "accept", "conversation": waiting[2][1]}, "ok")


@T.case("no agent online: the position says so plainly (agents_online 0, no expected wait)")
async def t_nobody(env):
    node = await env.new_beckon("empty-node", [])
    # other cases' agents may still count for a few seconds: wait until nobody is online
    deadline = time.monotonic() + 25
    while (await env.visitor(beckon=node)).welcome["agents_online"] != 0:
        assert time.monotonic() < deadline, "agents still online"
        await asyncio.sleep(0.5)
    v, conv = await queued_visitor(env, node, "anyone there?")
    p = await v.recv_until("queue_position", conversation=conv)
    assert p["agents_online"] == 0 and p["expected_wait_seconds"] is None, p


@T.case("when the last agent leaves, waiting visitors are told within seconds (agents_online 0)")
async def t_last_agent_leaves(env):
    node = await env.new_beckon("leave-node", [])
    bob = await env.agent("bob", beckon=node)
    deadline = time.monotonic() + 25
    while (await env.visitor(beckon=node)).welcome["agents_online"] != 1:   # only bob
        assert time.monotonic() < deadline, "other agents still online"
        await asyncio.sleep(0.5)
    v, conv = await queued_visitor(env, node, "waiting for bob")
    p = await v.recv_until("queue_position", conversation=conv)
    assert p["agents_online"] == 1, p
    await bob.expect_reply({"type": "status", "status": "away"}, "ok")
    p = await v.recv_until("queue_position", conversation=conv, agents_online=0, timeout=5)
    assert p["expected_wait_seconds"] is None, p


@T.case("after auto-ack-seconds a waiting visitor is told, in Danish on a Danish page, once")
async def t_auto_ack(env):
    node = await env.new_beckon("ack-node", ["--auto-ack-seconds", "1", "--offer-email-seconds", "3"])
    t0 = time.monotonic()
    v, conv = await queued_visitor(env, node, "Hej, er der nogen?", lang="da")
    m = await v.recv_until("message", conversation=conv, pred=lambda m: m["from"] == "system", timeout=5)
    took = time.monotonic() - t0
    assert m["text"] == "Vi har set dit spørgsmål og svarer om lidt.", m
    assert 1.0 <= took <= 3.5, took
    # still waiting, but no longer among the chats the sweep looks at for acknowledgements
    assert env.redis.command("ZSCORE", id_prefix(conv) + "queue", conv) is not None
    assert env.redis.command("ZSCORE", id_prefix(conv) + "queue:to_ack", conv) is None
    offer = await v.recv_until("offer_email", conversation=conv, timeout=6)
    assert offer["conversation"] == conv
    await asyncio.sleep(1.5)
    acks = [x for x in v.inbox if x.get("type") == "message" and x.get("from") == "system"]
    assert not acks, f"the acknowledgement came more than once: {acks}"
    # English and Norwegian visitors get their own language
    w, wconv = await queued_visitor(env, node, "Hei", lang="nb-NO")
    m = await w.recv_until("message", conversation=wconv, pred=lambda m: m["from"] == "system", timeout=5)
    assert m["text"] == "Vi har sett spørsmålet ditt og svarer snart.", m


@T.case("300 conversations opened at once: positions arrive, the node stays healthy (one announcement per change)")
async def t_many(env):
    node = await env.new_beckon("many-node", ["--max-connections-per-ip", "1000"])

    async def one(i):
        v = await env.visitor(beckon=node)
        ack = await send_message(v, f"q{i}")
        return v, ack["conversation"]

    waiting = await asyncio.gather(*(one(i) for i in range(300)))
    status, _, _ = await http_request(node.port, "GET", "/healthz")
    assert status == 200, status
    last_v, last_conv = waiting[-1]
    # (earlier cases' conversations share this Redis, so the queue holds at least 300)
    p = await last_v.recv_until("queue_position", conversation=last_conv,
                                pred=lambda m: m["waiting"] >= 300, timeout=10)
    assert 1 <= p["position"] <= p["waiting"], p
    await env.close_clients()


if __name__ == "__main__":
    T.run("queue", setup=setup)
