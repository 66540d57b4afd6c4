"""A conversation from first message to rating; coming back with the token; resume after a drop."""

from harness import (Cases, STREAM_ID_RE, assert_ordered_unique, full_history, send_message, sid)

T = Cases()


async def setup(env):
    env.add_agent("alice")
    env.add_agent("bob")


async def open_active(env, alice, text="Hi, I have a question"):
    """A fresh visitor with a conversation that alice has accepted."""
    v = await env.visitor()
    ack = await send_message(v, text)
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await v.recv_until("conversation", id=conv, state="active")
    return v, conv, ack


@T.case("lifecycle: hello, message, queue, accept, chat, typing, read, close, rate")
async def t_lifecycle(env):
    alice = await env.agent("alice")
    bob = await env.agent("bob")

    # hello without a token creates a visitor
    v = await env.connect("visitor")
    w = await v.request({"type": "hello", "req": 1, "site": "demo", "lang": "da",
                         "page": {"url": "https://shop.example/pricing", "title": "Pricing", "referrer": ""}})
    assert w.get("type") == "welcome", f"hello -> {w}"
    assert w["req"] == 1 and not isinstance(w["req"], bool), f"req not echoed as integer 1: {w}"
    assert isinstance(w.get("visitor"), str) and w["visitor"].startswith("v_"), f"visitor id: {w}"
    assert isinstance(w.get("token"), str) and w["token"], f"token: {w}"
    assert "conversation" in w and w["conversation"] is None, f"new visitor has a conversation: {w}"
    assert isinstance(w.get("agents_online"), int) and w["agents_online"] >= 2, f"agents_online: {w}"
    vid = w["visitor"]

    # first message: ack with a stream id, the conversation is queued, both agents see it
    ack = await v.expect_reply({"type": "message", "req": "m1", "cmid": "cm-1",
                                "text": "Hi, I have a question"}, "ack")
    assert STREAM_ID_RE.match(str(ack.get("id"))), f"ack id: {ack}"
    assert ack.get("cmid") == "cm-1" and ack.get("duplicate") is False, f"ack: {ack}"
    assert isinstance(ack.get("ts"), int), f"ack ts: {ack}"
    conv = ack.get("conversation")
    assert isinstance(conv, str) and conv.startswith("c_"), f"ack conversation: {ack}"
    for a in (alice, bob):
        qa = await a.recv_until("queue_add", pred=lambda m: isinstance(m.get("conversation"), dict)
                                and m["conversation"].get("id") == conv)
        c = qa["conversation"]
        assert c.get("visitor") == vid, f"queue_add visitor: {qa}"
        assert isinstance(c.get("created"), int), f"queue_add created: {qa}"
        assert c.get("preview") == "Hi, I have a question", f"queue_add preview: {qa}"
        assert "req" not in qa, f"push carries req: {qa}"

    # alice accepts: ok; bob sees queue_remove; the visitor sees the conversation become active
    ok = await alice.request({"type": "accept", "conversation": conv})
    assert ok.get("type") == "ok", f"accept -> {ok}"
    qr = await bob.recv_until("queue_remove", conversation=conv)
    assert qr.get("reason") == "accepted", f"queue_remove reason: {qr}"
    cv = await v.recv_until("conversation", id=conv, state="active")
    assert cv.get("agent") == "alice", f"conversation push agent: {cv}"

    # visitor -> agent: alice gets a message push with the ack's id
    ack2 = await send_message(v, "Do you ship to Denmark?", cmid="cm-2")
    assert ack2["conversation"] == conv
    assert sid(ack2["id"]) > sid(ack["id"]), f"ids not increasing: {ack['id']} then {ack2['id']}"
    pm = await alice.recv_until("message", id=ack2["id"])
    assert pm.get("conversation") == conv and pm.get("from") == "visitor" and pm.get("author") == vid, pm
    assert pm.get("text") == "Do you ship to Denmark?" and pm.get("cmid") == "cm-2", pm
    assert "req" not in pm, f"push carries req: {pm}"
    # the visitor's other tab gets the push; the socket that sent it has the ack instead
    tab = await env.visitor(token=w["token"])
    ack2b = await send_message(v, "And to Norway?", cmid="cm-2b")
    await tab.recv_until("message", id=ack2b["id"])
    await alice.recv_until("message", id=ack2b["id"])
    await v.expect_none("message", id=ack2b["id"], within=0.3)
    await tab.close()

    # agent -> visitor
    text = "Hej! Hvordan kan jeg hjælpe?"
    ack3 = await send_message(alice, text, cmid="a-1", conversation=conv)
    assert ack3["conversation"] == conv
    vm = await v.recv_until("message", id=ack3["id"])
    assert vm.get("from") == "agent" and vm.get("author") == "alice" and vm.get("text") == text, vm
    assert vm.get("conversation") == conv and vm.get("cmid") == "a-1", vm

    # typing is relayed to the other side (no reply)
    await v.send({"type": "typing", "on": True})
    t1 = await alice.recv_until("typing", conversation=conv)
    assert t1.get("from") == "visitor" and t1.get("on") is True, f"typing push: {t1}"
    await alice.send({"type": "typing", "conversation": conv, "on": False})
    t2 = await v.recv_until("typing", conversation=conv)
    assert t2.get("from") == "agent" and t2.get("on") is False, f"typing push: {t2}"

    # read receipts: ok to the reader, relayed to the other side
    await v.expect_reply({"type": "read", "up_to": ack3["id"]}, "ok")
    r1 = await alice.recv_until("read", conversation=conv)
    assert r1.get("from") == "visitor" and r1.get("up_to") == ack3["id"], f"read push: {r1}"
    await alice.expect_reply({"type": "read", "conversation": conv, "up_to": ack2["id"]}, "ok")
    r2 = await v.recv_until("read", conversation=conv)
    assert r2.get("from") == "agent" and r2.get("up_to") == ack2["id"], f"read push: {r2}"

    # the agent closes: both sides see it closed
    await alice.expect_reply({"type": "close", "conversation": conv}, "ok")
    for c in (v, alice):
        cp = await c.recv_until("conversation", id=conv, state="closed")
        assert cp.get("closed_by") is not None, f"closed push without closed_by: {cp}"

    # rating: out of range first (while nothing is rated yet), then a valid one
    for bad in (0, 6):
        e = await v.expect_error({"type": "rate", "score": bad}, "bad_request")
        assert "score" in str(e.get("message", "")), f"bad_request does not name score: {e}"
    await v.expect_reply({"type": "rate", "score": 5, "comment": "Quick and friendly"}, "ok")
    rt = await alice.recv_until("rating", conversation=conv)
    assert rt.get("score") == 5 and rt.get("comment") == "Quick and friendly", f"rating push: {rt}"


@T.case("coming back: reconnect with the token gets the same visitor and conversation; resume since 0")
async def t_coming_back(env):
    alice = await env.agent("alice")
    v, conv, first = await open_active(env, alice)
    acks = [first]
    for i in range(3):
        acks.append(await send_message(v, f"visitor line {i}"))
        acks.append(await send_message(alice, f"agent line {i}", conversation=conv))
    await v.recv_until("message", id=acks[-1]["id"])
    vid, token = v.visitor_id, v.token

    v2 = await env.visitor(token=token)   # a new socket (another tab / a reload)
    w = v2.welcome
    assert w["visitor"] == vid, f"same token, different visitor: {vid} vs {w['visitor']}"
    c = w.get("conversation")
    assert isinstance(c, dict) and c.get("id") == conv, f"welcome conversation: {w}"
    assert c.get("state") == "active" and c.get("agent") == "alice", f"welcome conversation: {c}"
    assert STREAM_ID_RE.match(str(c.get("last_id"))), f"welcome last_id: {c}"
    assert sid(c["last_id"]) >= sid(acks[-1]["id"]), f"last_id {c['last_id']} older than {acks[-1]['id']}"

    msgs, replies = await full_history(v2, conv, "0")
    assert replies[0].get("since") == "0" and replies[0].get("state") == "active", _hdr(replies[0])
    assert all(r.get("gap") is False for r in replies), f"gap in a fresh conversation: {_hdr(replies[-1])}"
    assert_ordered_unique(msgs)
    user = [m for m in msgs if m.get("from") in ("visitor", "agent")]
    assert [m["id"] for m in user] == [a["id"] for a in acks], \
        f"history ids {[m['id'] for m in user]} != acked {[a['id'] for a in acks]}"
    texts = [m["text"] for m in user]
    assert texts[0] == "Hi, I have a question" and texts[1] == "visitor line 0" and texts[2] == "agent line 0", texts
    for m in msgs:
        assert {"id", "from", "text", "ts"} <= set(m), f"history message fields: {m}"
        assert m["from"] in ("visitor", "agent", "system"), m
    assert all(m.get("author") == vid for m in user if m["from"] == "visitor"), user
    assert all(m.get("author") == "alice" for m in user if m["from"] == "agent"), user
    assert c["last_id"] == msgs[-1]["id"], f"welcome last_id {c['last_id']} != last in history {msgs[-1]['id']}"


@T.case("drop and resume: 3 agent messages while away, resume since the last seen id")
async def t_drop_resume(env):
    alice = await env.agent("alice")
    v, conv, first = await open_active(env, alice)
    a0 = await send_message(alice, "before the drop", conversation=conv)
    await v.recv_until("message", id=a0["id"])
    last_seen = max((m["id"] for m in v.log if m.get("type") == "message" and m.get("conversation") == conv),
                    key=sid)
    token = v.token
    await v.close()

    sent = [await send_message(alice, f"while you were away {i}", conversation=conv) for i in range(3)]

    v2 = await env.visitor(token=token)
    assert (v2.welcome.get("conversation") or {}).get("id") == conv, f"welcome: {v2.welcome}"
    h = await v2.expect_reply({"type": "resume", "conversation": conv, "since": last_seen}, "history")
    assert h.get("since") == last_seen, f"history.since {h.get('since')!r} != {last_seen!r}"
    assert h.get("gap") is False and h.get("complete") is True, f"gap/complete: {_hdr(h)}"
    got = [(m.get("id"), m.get("text"), m.get("from")) for m in h["messages"]]
    want = [(a["id"], f"while you were away {i}", "agent") for i, a in enumerate(sent)]
    assert got == want, f"resume since {last_seen}: got {got}, want {want}"


def _hdr(h):
    return {k: v for k, v in h.items() if k != "messages"}


if __name__ == "__main__":
    T.run("lifecycle", setup=setup)
