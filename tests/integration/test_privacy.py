"""A visitor's data on request: everything held is exported, and an erasure leaves nothing
in Redis that names them (the test SCANs every key and reads every value)."""

from harness import Cases, http_request, parse_json_body, send_message

T = Cases()


async def setup(env):
    env.add_agent("alice")
    r = env.beckon.cli("agent", "add", "dpo", "admin", stdin="dpo-password\n")
    assert r.returncode == 0, r
    env.agents["dpo"] = "dpo-password"


async def api(env, method, path, token):
    status, _, data = await http_request(env.beckon.port, method, path, None, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def a_full_visitor(env):
    """A visitor who did everything Beckon records: browsing, identify, a rated chat with a
    note, an invitation, a second open chat in the queue, a message left."""
    alice = await env.agent("alice")
    v = await env.visitor(page={"url": "https://shop.example/?utm_source=mail", "title": "Home", "referrer": ""})
    await v.expect_reply({"type": "page_view", "url": "https://shop.example/pricing", "title": "Pricing"}, "ok")
    await v.expect_reply({"type": "event", "name": "cart_add", "props": {"sku": "A-1"}}, "ok")
    await v.expect_reply({"type": "identify", "name": "Sofie", "email": "sofie@example.dk",
                          "attrs": {"plan": "pro"}}, "ok")
    ack = await send_message(v, "Mit telefonnummer er 12 34 56 78")
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await alice.expect_reply({"type": "note", "conversation": conv, "cmid": "n", "text": "ring hende"}, "ack")
    await alice.expect_reply({"type": "close", "conversation": conv}, "ok")
    await v.recv_until("conversation", id=conv, state="closed")
    await v.expect_reply({"type": "rate", "score": 5, "comment": "super"}, "ok")
    await alice.expect_reply({"type": "invite", "visitor": v.visitor_id, "text": "Hej igen!"}, "ok")
    inv = await v.recv_until("invite")
    await v.expect_reply({"type": "invite_shown", "invitation": inv["invitation"]}, "ok")
    await v.expect_reply({"type": "leave_message", "email": "sofie@example.dk", "text": "Ring i morgen"}, "ok")
    second = await send_message(v, "Er I der?")
    return v, alice, conv, second["conversation"]


def everything_in_redis(redis):
    """(key, text of its value) for every key."""
    out = []
    cursor = "0"
    while True:
        cursor, keys = redis.command("SCAN", cursor, "COUNT", "1000")
        for key in keys:
            kind = redis.command("TYPE", key)
            if kind == "string":
                value = redis.command("GET", key)
            elif kind == "hash":
                value = redis.command("HGETALL", key)
            elif kind == "list":
                value = redis.command("LRANGE", key, "0", "-1")
            elif kind == "set":
                value = redis.command("SMEMBERS", key)
            elif kind == "zset":
                value = redis.command("ZRANGE", key, "0", "-1")
            elif kind == "stream":
                value = redis.command("XRANGE", key, "-", "+")
            else:
                value = ""
            out.append((key, repr(value)))
        if cursor == "0":
            return out


@T.case("export: profile, events, conversations with messages and notes, invitations, messages left")
async def t_export(env):
    v, alice, conv, second = await a_full_visitor(env)
    dpo = await env.login("dpo")
    assert (await api(env, "GET", f"/api/visitors/{v.visitor_id}/export", await env.login("alice")))[0] == 403
    status, body = await api(env, "GET", f"/api/visitors/{v.visitor_id}/export", dpo)
    assert status == 200, body
    assert body["id"] == v.visitor_id and body["visitor"]["name"] == "Sofie", body["visitor"]
    assert body["visitor"]["attrs"] == {"plan": "pro"}, body["visitor"]
    assert [e["type"] for e in body["events"]] == ["page_view", "page_view", "event"], body["events"]
    convs = {c["id"]: c for c in body["conversations"]}
    assert set(convs) == {conv, second}, convs.keys()
    texts = [m["text"] for m in convs[conv]["messages"]]
    assert "Mit telefonnummer er 12 34 56 78" in texts and "ring hende" in texts, texts
    assert convs[conv]["meta"]["rating"] == "5" and convs[conv]["meta"]["rating_comment"] == "super", convs[conv]
    assert [i["text"] for i in body["invitations"]] == ["Hej igen!"], body["invitations"]
    assert [m["text"] for m in body["left_messages"]] == ["Ring i morgen"], body["left_messages"]
    assert (await api(env, "GET", "/api/visitors/v_nobody/export", dpo))[0] == 404


@T.case("erasure: nothing in Redis names the visitor afterwards; their socket is closed; queue updated")
async def t_erase(env):
    v, alice, conv, second = await a_full_visitor(env)
    other = await env.visitor()
    await send_message(other, "I stay")
    dpo = await env.login("dpo")
    vid = v.visitor_id
    assert any(vid in k or vid in val for k, val in everything_in_redis(env.redis)), "setup stored nothing?"
    status, body = await api(env, "DELETE", f"/api/visitors/{vid}", dpo)
    assert status == 200 and body["erased"] == vid and body["deleted"] > 5, body
    await alice.recv_until("queue_remove", conversation=second, reason="erased")
    assert await v.wait_closed(5) == 1008
    left = [(k, val[:200]) for k, val in everything_in_redis(env.redis) if vid in k or vid in val
            or conv in k or conv in val or second in k or second in val]
    assert left == [], f"still in Redis: {left}"
    assert (await api(env, "DELETE", f"/api/visitors/{vid}", dpo))[0] == 404
    # the rest of the world is untouched
    h = await other.expect_reply({"type": "resume", "conversation": other.welcome["conversation"]["id"]
                                  if other.welcome["conversation"] else (await send_message(other, "x"))["conversation"],
                                  "since": "0"}, "history")
    assert any(m["text"] == "I stay" for m in h["messages"]), h


if __name__ == "__main__":
    T.run("privacy", setup=setup)
