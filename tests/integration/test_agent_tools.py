"""What agents work with beside the chat itself: who the visitor is and what they browsed, the
visitors on the site now, manual invitations, notes, transfers, away status, messages left
while nobody was online, identify, and canned responses."""

import json

from harness import Cases, http_request, parse_json_body, send_message

T = Cases()


async def setup(env):
    for name in ("alice", "bob", "carol"):
        env.add_agent(name)


def page(path, title=""):
    return {"url": f"https://shop.example{path}", "title": title, "referrer": ""}


async def chatting(env, agent):
    """A visitor with an active conversation that `agent` accepted."""
    v = await env.visitor(page=page("/pricing", "Pricing"))
    ack = await send_message(v, "Hej, jeg har et spørgsmål")
    conv = ack["conversation"]
    await agent.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await agent.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await v.recv_until("conversation", id=conv, state="active")
    return v, conv


@T.case("visitor details: profile, identify, this visit's pages in order, UTM, past conversations")
async def t_visitor_details(env):
    alice = await env.agent("alice")
    v = await env.visitor(page={"url": "https://shop.example/?utm_source=newsletter&utm_campaign=spring",
                                "title": "Home", "referrer": "https://www.google.com/"}, device="mobile", lang="da")
    await v.expect_reply({"type": "page_view", "url": "https://shop.example/pricing", "title": "Pricing"}, "ok")
    await v.expect_reply({"type": "identify", "name": "Ida Holm", "email": "ida@example.dk",
                          "attrs": {"plan": "pro", "seats": 12}}, "ok")
    r = await alice.expect_reply({"type": "visitor", "visitor": v.visitor_id}, "visitor")
    who = r["visitor"]
    assert who["id"] == v.visitor_id and who["name"] == "Ida Holm" and who["email"] == "ida@example.dk", who
    assert who["attrs"] == {"plan": "pro", "seats": 12}, who
    assert who["lang"] == "da" and who["device"] == "mobile" and who["visits"] == 1, who
    assert who["referrer"] == "https://www.google.com/", who
    assert who["utm"] == {"source": "newsletter", "campaign": "spring"}, who
    assert who["page"]["url"] == "https://shop.example/pricing" and who["visit_pages"] == 2, who
    assert [p["title"] for p in r["pages"]] == ["Home", "Pricing"], r["pages"]
    assert r["pages"][0]["ts"] <= r["pages"][1]["ts"], r["pages"]
    assert r["conversations"] == [], r
    ack = await send_message(v, "Hvad koster det?")
    r = await alice.expect_reply({"type": "visitor", "visitor": v.visitor_id}, "visitor")
    assert [c["id"] for c in r["conversations"]] == [ack["conversation"]], r["conversations"]
    assert r["conversations"][0]["state"] == "queued", r["conversations"]
    await alice.expect_error({"type": "visitor", "visitor": "v_nobody"}, "not_found")
    await v.expect_error({"type": "identify", "email": "not-an-email"}, "bad_request")


@T.case("visitors now: the live list, visitor_update on every page view, manual invitation")
async def t_visitors_now(env):
    alice = await env.agent("alice")
    v = await env.visitor(page=page("/", "Home"))
    upd = await alice.recv_until("visitor_update", pred=lambda m: m["visitor"]["id"] == v.visitor_id)
    assert upd["visitor"]["page_url"] == "https://shop.example/" and upd["visitor"]["visit_pages"] == 1, upd
    await v.send({"type": "page_view", "url": "https://shop.example/product", "title": "Sencha"})
    upd = await alice.recv_until("visitor_update", pred=lambda m: m["visitor"]["id"] == v.visitor_id
                                 and m["visitor"]["visit_pages"] == 2)
    assert upd["visitor"]["page_title"] == "Sencha", upd
    assert isinstance(upd["visitor"]["visit_started"], int) and "name" not in upd["visitor"], upd
    assert isinstance(upd["visitor"]["page_since"], int) and upd["visitor"]["page_since"] >= upd["visitor"]["visit_started"]
    await v.expect_reply({"type": "identify", "name": "Åse \"Tea\" Hansen"}, "ok")
    await v.send({"type": "page_view", "url": "https://shop.example/product/2", "title": "Sencha / Gyokuro"})
    upd = await alice.recv_until("visitor_update", pred=lambda m: m["visitor"]["id"] == v.visitor_id
                                 and m["visitor"]["visit_pages"] == 3)
    assert upd["visitor"]["name"] == "Åse \"Tea\" Hansen" and upd["visitor"]["page_title"] == "Sencha / Gyokuro", upd
    r = await alice.expect_reply({"type": "visitors"}, "visitors")
    mine = [x for x in r["visitors"] if x["id"] == v.visitor_id]
    assert len(mine) == 1 and mine[0]["page_title"] == "Sencha / Gyokuro" and mine[0]["visit_pages"] == 3, r
    await alice.expect_reply({"type": "invite", "visitor": v.visitor_id, "text": "Kan jeg hjælpe med teen?"}, "ok")
    inv = await v.recv_until("invite", rule="manual")
    assert inv["text"] == "Kan jeg hjælpe med teen?" and inv["agent"] == "alice", inv
    ok = await v.expect_reply({"type": "invite_accepted", "invitation": inv["invitation"]}, "ok")
    conv = ok["conversation"]
    qa = await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    assert qa["conversation"]["rule"] == "manual", qa
    first = await v.recv_until("message", conversation=conv)
    assert first["from"] == "agent" and first["author"] == "alice" and first["text"] == inv["text"], first
    # a chatting visitor is not invited again
    await alice.expect_error({"type": "invite", "visitor": v.visitor_id, "text": "Hej igen"}, "wrong_state")


@T.case("notes: the agent's note is stored and seen by agents, never by the visitor, live or in history")
async def t_notes(env):
    alice = await env.agent("alice")
    v, conv = await chatting(env, alice)
    panel2 = await env.agent("alice")  # alice's second panel: it gets the push, the sending one the ack
    ack = await alice.expect_reply({"type": "note", "conversation": conv, "cmid": "n1",
                                    "text": "Stamkunde, giv 10 %"}, "ack")
    note = await panel2.recv_until("message", id=ack["id"])
    assert note["from"] == "note" and note["author"] == "alice", note
    await alice.expect_none("message", id=ack["id"], within=0.3)
    again = await alice.expect_reply({"type": "note", "conversation": conv, "cmid": "n1",
                                      "text": "Stamkunde, giv 10 %"}, "ack")
    assert again["id"] == ack["id"] and again["duplicate"] is True, again
    await v.expect_none("message", pred=lambda m: m.get("from") == "note", within=0.5)
    later = await send_message(v, "Tak!")
    h = await v.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert all(m["from"] != "note" for m in h["messages"]), h["messages"]
    assert h["complete"] is True and h["next"] == later["id"], h
    h = await alice.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert [m["id"] for m in h["messages"] if m["from"] == "note"] == [ack["id"]], h["messages"]


@T.case("transfer: alice hands the chat to bob; a system message; bob and the visitor see the new agent")
async def t_transfer(env):
    alice = await env.agent("alice")
    bob = await env.agent("bob")
    v, conv = await chatting(env, alice)
    await bob.expect_error({"type": "transfer", "conversation": conv, "to": "carol"}, "forbidden")
    await alice.expect_error({"type": "transfer", "conversation": conv, "to": "nobody"}, "not_found")
    await alice.expect_reply({"type": "transfer", "conversation": conv, "to": "bob"}, "ok")
    c = await bob.recv_until("conversation", id=conv)
    assert c["agent"] == "bob" and c["state"] == "active", c
    await v.recv_until("conversation", id=conv, agent="bob")
    sysmsg = await v.recv_until("message", conversation=conv, pred=lambda m: m["from"] == "system"
                                and "transferred" in m["text"])
    assert sysmsg["text"] == "alice transferred the chat to bob", sysmsg
    ack = await bob.expect_reply({"type": "message", "conversation": conv, "cmid": "b1", "text": "Bob her"}, "ack")
    await v.recv_until("message", id=ack["id"])
    await alice.expect_error({"type": "message", "conversation": conv, "cmid": "a9", "text": "?"}, "forbidden")
    w = await env.agent("bob")
    assert conv in [x["id"] for x in w.welcome["conversations"]], w.welcome


@T.case("away: an away agent is not counted online nor available; online again counts")
async def t_away(env):
    carol = await env.agent("carol")
    before = (await env.visitor()).welcome["agents_online"]
    await carol.expect_reply({"type": "status", "status": "away"}, "ok")
    assert (await env.visitor()).welcome["agents_online"] == before - 1
    await carol.expect_error({"type": "status", "status": "busy"}, "bad_request")
    await carol.expect_reply({"type": "status", "status": "online"}, "ok")
    assert (await env.visitor()).welcome["agents_online"] == before


@T.case("leave a message: stored, pushed to every agent, listed newest first")
async def t_leave_message(env):
    alice = await env.agent("alice")
    v = await env.visitor()
    await v.expect_reply({"type": "leave_message", "email": "ole@example.no", "name": "Ole",
                          "text": "Ring meg tilbake, takk"}, "ok")
    push = await alice.recv_until("left_message", pred=lambda m: m["message"]["visitor"] == v.visitor_id)
    m = push["message"]
    assert m["email"] == "ole@example.no" and m["name"] == "Ole" and m["text"] == "Ring meg tilbake, takk", m
    await v.expect_reply({"type": "leave_message", "email": "ole@example.no", "text": "Og en ting til"}, "ok")
    r = await alice.expect_reply({"type": "left_messages"}, "left_messages")
    mine = [x["text"] for x in r["messages"] if x["visitor"] == v.visitor_id]
    assert mine == ["Og en ting til", "Ring meg tilbake, takk"], r
    await v.expect_error({"type": "leave_message", "text": "no email"}, "bad_request")
    d = await alice.expect_reply({"type": "visitor", "visitor": v.visitor_id}, "visitor")
    assert d["visitor"]["email"] == "ole@example.no" and d["visitor"]["name"] == "Ole", d


@T.case("canned responses over REST: any logged-in agent lists, saves, deletes; validation; auth")
async def t_canned(env):
    token = await env.login("alice")
    auth = {"Authorization": "Bearer " + token}
    port = env.beckon.port
    status, _, _ = await http_request(port, "GET", "/api/canned")
    assert status == 401, status
    status, _, data = await http_request(port, "PUT", "/api/canned/prices",
                                         {"shortcut": "/priser", "text": "Se vores priser på /pricing"}, auth)
    assert status == 200, data
    status, _, data = await http_request(port, "PUT", "/api/canned/bad", {"shortcut": "", "text": "x"}, auth)
    assert status == 400, data
    status, _, data = await http_request(port, "GET", "/api/canned", None, auth)
    canned = parse_json_body(data)["canned"]
    assert {"id": "prices", "shortcut": "/priser", "text": "Se vores priser på /pricing"} in canned, canned
    status, _, _ = await http_request(port, "DELETE", "/api/canned/prices", None, auth)
    assert status == 200
    status, _, _ = await http_request(port, "DELETE", "/api/canned/prices", None, auth)
    assert status == 404
    status, _, data = await http_request(port, "GET", "/api/canned", None, auth)
    assert all(c["id"] != "prices" for c in parse_json_body(data)["canned"]), data


if __name__ == "__main__":
    T.run("agent_tools", setup=setup)
