"""Races: two agents accepting at once; the same cmid sent on two connections at once."""

import asyncio

from harness import Cases, check_ack, full_history, send_message

T = Cases()
ROUNDS = 20


async def setup(env):
    env.add_agent("alice")
    env.add_agent("bob")


@T.case(f"accept race: two agents accept the same conversation at once, {ROUNDS} rounds")
async def t_accept_race(env):
    alice = await env.agent("alice")
    bob = await env.agent("bob")
    outcomes = []
    for i in range(ROUNDS):
        v = await env.visitor()
        ack = await send_message(v, f"race {i}")
        conv = ack["conversation"]
        for a in (alice, bob):
            await a.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
        first, second = (alice, bob) if i % 2 == 0 else (bob, alice)
        r1, r2 = await asyncio.gather(
            first.request({"type": "accept", "conversation": conv}),
            second.request({"type": "accept", "conversation": conv}))
        replies = {first.name: r1, second.name: r2}
        oks = [n for n, r in replies.items() if r.get("type") == "ok"]
        taken = [n for n, r in replies.items() if r.get("type") == "error" and r.get("code") == "already_taken"]
        assert len(oks) == 1 and len(taken) == 1, f"round {i} ({conv}): replies {replies}"
        winner = oks[0]
        cv = await v.recv_until("conversation", id=conv, state="active")
        assert cv.get("agent") == winner, f"round {i}: ok went to {winner}, visitor was told {cv}"
        outcomes.append(winner)
        await v.close()
    # (not asserted: who wins; just shown)
    print(f"# accept race winners: alice {outcomes.count('alice')}, bob {outcomes.count('bob')}", flush=True)


@T.case("same cmid on two connections of one visitor at once: same id, stored once")
async def t_dup_cmid(env):
    v1 = await env.visitor()
    v2 = await env.visitor(token=v1.token)
    assert v2.visitor_id == v1.visitor_id
    first = await send_message(v1, "opening the conversation")
    conv = first["conversation"]
    sent = []
    for i in range(10):
        msg = {"type": "message", "cmid": f"dup-{i}", "text": f"twice {i}"}
        a1, a2 = await asyncio.gather(v1.request(msg), v2.request(msg))
        for a in (a1, a2):
            assert a.get("type") == "ack", f"round {i}: {a1} / {a2}"
            check_ack(a, msg)
            assert a["conversation"] == conv, f"round {i}: ack in another conversation: {a}"
        assert a1["id"] == a2["id"], f"round {i}: same cmid, different ids: {a1} / {a2}"
        dups = sorted([a1["duplicate"], a2["duplicate"]])
        assert dups == [False, True], f"round {i}: duplicate flags {dups}, want exactly one true: {a1} / {a2}"
        sent.append(a1["id"])
    msgs, _ = await full_history(v1, conv, "0")
    cmids = [m.get("cmid") for m in msgs if m.get("from") == "visitor"]
    for i in range(10):
        assert cmids.count(f"dup-{i}") == 1, f"cmid dup-{i} stored {cmids.count(f'dup-{i}')} times: {cmids}"
    ids = [m["id"] for m in msgs if str(m.get("cmid", "")).startswith("dup-")]
    assert ids == sent, f"history ids {ids} != acked {sent}"
    # a plain resend later is also answered with the first id
    again = await send_message(v1, "twice 3", cmid="dup-3")
    assert again["id"] == sent[3] and again["duplicate"] is True, f"late resend: {again}"


@T.case("(extra) same first message on two connections at once opens one conversation")
async def t_dup_first_message(env):
    for i in range(5):
        v1 = await env.visitor()
        v2 = await env.visitor(token=v1.token)
        msg = {"type": "message", "cmid": f"first-{i}", "text": "hello?"}
        a1, a2 = await asyncio.gather(v1.request(msg), v2.request(msg))
        assert a1.get("type") == "ack" and a2.get("type") == "ack", f"round {i}: {a1} / {a2}"
        assert a1["conversation"] == a2["conversation"], f"round {i}: two conversations opened: {a1} / {a2}"
        assert a1["id"] == a2["id"], f"round {i}: different ids: {a1} / {a2}"
        msgs, _ = await full_history(v1, a1["conversation"], "0")
        n = sum(1 for m in msgs if m.get("cmid") == f"first-{i}")
        assert n == 1, f"round {i}: stored {n} times"
        await v1.close()
        await v2.close()


if __name__ == "__main__":
    T.run("concurrency", setup=setup)
