"""Teams (docs/teams.md): a new chat goes to the team its visitor chose, else the site's default
team; an offer team offers each chat to the member with the most room (ties by the longest
idle) with a deadline the sweep moves on; nobody passes their cap, on two nodes under load; a
team with nobody online overflows to its fallback or to the offline path; a pick team is
today's queue, per team."""

import asyncio
import time

import websockets

from harness import VISITOR_PROTO, Cases, Client, http_request, parse_json_body, send_message

T = Cases()
SITE, ORIGIN = "shop", "https://shop.example"
AGENTS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"] + [f"load{i:02d}" for i in range(20)]


async def setup(env):
    r = env.beckon.cli("agent", "add", "admin", "admin", stdin="admin-password\n")
    assert r.returncode == 0, r
    env.agents["admin"] = "admin-password"
    for name in AGENTS:
        env.add_agent(name)
    status, body = await api(env, "PUT", f"/api/sites/{SITE}", {"origins": [ORIGIN]})
    assert status == 200, body


async def api(env, method, path, body=None):
    token = await env.login("admin")
    status, _, data = await http_request(env.beckon.port, method, path, body, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def team(env, name, **fields):
    status, body = await api(env, "PUT", f"/api/sites/{SITE}/teams/{name}", fields)
    assert status == 200, body


async def team_state(env, name):
    status, body = await api(env, "GET", f"/api/sites/{SITE}/teams")
    assert status == 200, body
    return next(t for t in body["teams"] if t["name"] == name)


async def until_online(env, name, count, timeout=10):
    deadline = time.monotonic() + timeout
    while (await team_state(env, name))["online"] != count:
        assert time.monotonic() < deadline, f"team {name}: not {count} online: {await team_state(env, name)}"
        await asyncio.sleep(0.2)


async def visitor(env, beckon=None, **hello):
    b = beckon or env.beckon
    ws = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws", subprotocols=[VISITOR_PROTO], origin=ORIGIN,
                                  open_timeout=5, close_timeout=2)
    c = Client(ws, env.uid("v"), "visitor")
    env.clients.append(c)
    c.welcome = await c.expect_reply(dict({"type": "hello", "site": SITE, "lang": "en"}, **hello), "welcome")
    return c


async def chat(env, text, **hello):
    v = await visitor(env, **hello)
    ack = await send_message(v, text)
    return v, ack["conversation"]


@T.case("REST: a team is checked field by field, listed with its queue and agents online, removed")
async def t_rest(env):
    status, body = await api(env, "PUT", f"/api/sites/{SITE}/teams/Bad", {"mode": "round-robin"})
    assert status == 400 and "mode" in body["error"]["message"], body
    status, body = await api(env, "PUT", f"/api/sites/{SITE}/teams/Bad", {"members": [{"agent": "a b"}]})
    assert status == 400 and "members[0].agent" in body["error"]["message"], body
    status, body = await api(env, "PUT", f"/api/sites/{SITE}/teams/Bad", {"fallback": "Bad"})
    assert status == 400 and "fallback" in body["error"]["message"], body
    status, body = await api(env, "PUT", f"/api/sites/nosuch/teams/Bad", {})
    assert status == 404, body
    await team(env, "Empty", mode="offer", offer_seconds=30, wait_seconds=120,
               members=[{"agent": "alice", "skills": ["billing"], "languages": ["da"]}])
    t = await team_state(env, "Empty")
    assert t["mode"] == "offer" and t["offer_seconds"] == 30 and t["wait_seconds"] == 120, t
    assert t["members"] == [{"agent": "alice", "skills": ["billing"], "languages": ["da"]}], t
    assert t["waiting"] == 0 and t["default"] is False and t["fallback"] is None, t
    assert (await api(env, "DELETE", f"/api/sites/{SITE}/teams/Empty"))[0] == 200
    assert (await api(env, "DELETE", f"/api/sites/{SITE}/teams/Empty"))[0] == 404
    status, body = await api(env, "PUT", "/api/agents/alice", {"max_chats": 0})
    assert status == 400 and "max_chats" in body["error"]["message"], body
    assert (await api(env, "PUT", "/api/agents/alice", {"max_chats": 2}))[0] == 200
    status, body = await api(env, "GET", "/api/agents")
    assert next(a for a in body["agents"] if a["name"] == "alice")["max_chats"] == 2, body
    assert (await api(env, "PUT", "/api/agents/alice", {"max_chats": None}))[0] == 200


@T.case("offer: the member with the most room gets the chat (ties by longest idle); accept and decline")
async def t_offer(env):
    await api(env, "PUT", "/api/agents/alice", {"max_chats": 2})
    await api(env, "PUT", "/api/agents/bob", {"max_chats": 3})
    await team(env, "Sales", mode="offer", offer_seconds=60, members=[{"agent": "alice"}, {"agent": "bob"}])
    alice, bob = await env.agent("alice"), await env.agent("bob")
    await until_online(env, "Sales", 2)
    v1, c1 = await chat(env, "I want to buy", team="Sales")
    o = await bob.recv_until("offer", pred=lambda m: m["conversation"]["id"] == c1)   # bob: 3 free
    assert o["conversation"]["team"] == "Sales" and o["deadline"] > time.time() * 1000, o
    p = await v1.recv_until("queue_position", conversation=c1)
    assert p["position"] == 1 and p["agents_online"] == 2, p
    await alice.expect_error({"type": "accept", "conversation": c1}, "already_taken")
    await bob.expect_reply({"type": "offer_accept", "conversation": c1}, "ok")
    await v1.recv_until("conversation", id=c1, state="active", agent="bob")
    # now 2 free each: alice was idle longer (never offered anything)
    v2, c2 = await chat(env, "me too", team="Sales")
    await alice.recv_until("offer", pred=lambda m: m["conversation"]["id"] == c2)
    await bob.expect_none("offer", within=0.3)
    await alice.expect_reply({"type": "offer_decline", "conversation": c2}, "ok")
    await alice.recv_until("offer_withdrawn", conversation=c2, reason="declined")
    await bob.recv_until("offer", pred=lambda m: m["conversation"]["id"] == c2)
    await alice.expect_error({"type": "offer_decline", "conversation": c2}, "wrong_state")
    await bob.expect_reply({"type": "accept", "conversation": c2}, "ok")
    for v in (v1, v2):
        await v.expect_reply({"type": "close"}, "ok")
    await env.close_clients()


@T.case("deadline: an offer nobody answers moves on to the next agent; an agent who goes away mid-offer loses it")
async def t_deadline(env):
    await team(env, "Support", mode="offer", offer_seconds=6, members=[{"agent": "carol"}, {"agent": "dave"}])
    carol, dave = await env.agent("carol"), await env.agent("dave")
    await until_online(env, "Support", 2)
    v, conv = await chat(env, "help", team="Support")
    first, second = carol, dave
    try:
        await carol.recv_until("offer", pred=lambda m: m["conversation"]["id"] == conv, timeout=3)
    except AssertionError:
        first, second = dave, carol
        await dave.recv_until("offer", pred=lambda m: m["conversation"]["id"] == conv, timeout=1)
    t0 = time.monotonic()
    await first.recv_until("offer_withdrawn", conversation=conv, reason="expired", timeout=9)
    assert time.monotonic() - t0 >= 4.5, "withdrawn before its deadline"
    await second.recv_until("offer", pred=lambda m: m["conversation"]["id"] == conv, timeout=2)
    # the one it is offered to goes away: within a few seconds it goes back to the other
    await second.expect_reply({"type": "status", "status": "away"}, "ok")
    await second.recv_until("offer_withdrawn", conversation=conv, reason="agent_away", timeout=4)
    # the visitor hears that their team has one agent online now
    await v.recv_until("queue_position", conversation=conv, agents_online=1, timeout=4)
    await first.recv_until("offer", pred=lambda m: m["conversation"]["id"] == conv, timeout=2)
    await first.expect_reply({"type": "offer_accept", "conversation": conv}, "ok")
    await second.expect_reply({"type": "status", "status": "online"}, "ok")
    await v.expect_reply({"type": "close"}, "ok")
    await env.close_clients()


@T.case("overflow: a team with nobody online passes the chat to its fallback; with none online, the offline path")
async def t_overflow(env):
    await team(env, "Danish", mode="offer", members=[{"agent": "frank"}], fallback="Backup")
    await team(env, "Backup", mode="offer", members=[{"agent": "erin"}])
    erin = await env.agent("erin")
    await until_online(env, "Backup", 1)
    v, conv = await chat(env, "hej", team="Danish")
    o = await erin.recv_until("offer", pred=lambda m: m["conversation"]["id"] == conv)
    assert o["conversation"]["team"] == "Backup", o
    await erin.expect_reply({"type": "offer_accept", "conversation": conv}, "ok")
    await v.expect_reply({"type": "close"}, "ok")
    # nobody in Lonely nor its fallback: the visitor is offered to leave a message, at once
    await team(env, "Ghost", mode="offer", members=[{"agent": "frank"}])
    await team(env, "Lonely", mode="pick", members=[{"agent": "frank"}], fallback="Ghost")
    v2, conv2 = await chat(env, "anyone?", team="Lonely")
    m = await v2.recv_until("offer_email", conversation=conv2, timeout=3)
    assert m["reason"] == "no_agents", m
    p = await v2.recv_until("queue_position", conversation=conv2)
    assert p["agents_online"] == 0 and p["expected_wait_seconds"] is None, p
    assert (await team_state(env, "Lonely"))["waiting"] == 1
    await v2.expect_reply({"type": "close"}, "ok")
    assert (await team_state(env, "Lonely"))["waiting"] == 0
    await env.close_clients()


@T.case("pick teams: the site's default team takes a chat naming none; positions are per team; anyone accepts")
async def t_pick(env):
    await team(env, "General", mode="pick", default=True, members=[{"agent": "grace"}])
    await team(env, "Other", mode="pick", members=[{"agent": "grace"}])
    grace = await env.agent("grace")
    await until_online(env, "General", 1)
    v1, c1 = await chat(env, "general question")
    add = await grace.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == c1)
    assert add["conversation"]["team"] == "General", add
    v2, c2 = await chat(env, "other question", team="Other")
    p1 = await v1.recv_until("queue_position", conversation=c1)
    p2 = await v2.recv_until("queue_position", conversation=c2)
    assert p1["position"] == 1 and p2["position"] == 1 and p2["waiting"] == 1, (p1, p2)
    await grace.expect_none("offer", within=0.5)
    await grace.expect_reply({"type": "accept", "conversation": c2}, "ok")
    await grace.expect_reply({"type": "accept", "conversation": c1}, "ok")
    for v in (v1, v2):
        await v.expect_reply({"type": "close"}, "ok")
    await api(env, "DELETE", f"/api/sites/{SITE}/teams/General")
    await env.close_clients()


@T.case("a flow's hand-off step names the team the chat goes to")
async def t_flow_team(env):
    await team(env, "FlowTeam", mode="pick", members=[{"agent": "grace"}])
    status, body = await api(env, "PUT", f"/api/flows/{SITE}", {"start": "hi", "steps": {
        "hi": {"text": "Hi!", "buttons": [{"id": "person", "label": "A person", "next": "person"}]},
        "person": {"text": "One moment", "handoff": True, "team": "FlowTeam"}}})
    assert status == 200, body
    status, body = await api(env, "PUT", f"/api/flows/{SITE}", {"start": "hi", "steps": {
        "hi": {"text": "Hi!", "end": True, "team": "FlowTeam"}}})
    assert status == 400 and "steps.hi.team" in str(body), body
    grace = await env.agent("grace")
    await until_online(env, "FlowTeam", 1)
    v = await visitor(env)
    ok = await v.expect_reply({"type": "flow_start"}, "ok")
    hi = await v.recv_until("message", conversation=ok["conversation"], pred=lambda m: m["from"] == "bot")
    await v.expect_reply({"type": "flow_choose", "message": hi["id"], "button": "person"}, "ok")
    add = await grace.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == ok["conversation"])
    assert add["conversation"]["team"] == "FlowTeam", add
    assert (await team_state(env, "FlowTeam"))["waiting"] == 1
    await v.expect_reply({"type": "close"}, "ok")
    assert (await api(env, "DELETE", f"/api/flows/{SITE}"))[0] == 200
    await env.close_clients()


@T.case("targets: a chat near its team's waiting target is marked (queue_breach, once); KPIs give the share within target")
async def t_targets(env):
    await team(env, "Timed", mode="pick", wait_seconds=10, first_response_seconds=30, members=[{"agent": "grace"}])
    grace = await env.agent("grace")
    await until_online(env, "Timed", 1)
    v1, c1 = await chat(env, "slow one", team="Timed")
    v2, c2 = await chat(env, "never answered", team="Timed")
    t0 = time.monotonic()
    b = await grace.recv_until("queue_breach", conversation=c1, timeout=12)
    assert b["team"] == "Timed" and b["target"] == "wait" and 7 <= time.monotonic() - t0 + 0.5, b
    await grace.expect_reply({"type": "accept", "conversation": c1}, "ok")      # within 10 s
    await grace.expect_none("queue_breach", conversation=c1, within=1.5)
    await send_message(grace, "hello!", conversation=c1)                       # within 30 s
    await v1.expect_reply({"type": "close"}, "ok")
    await v2.expect_reply({"type": "close"}, "ok")
    status, body = await api(env, "GET", "/api/stats/service")
    assert status == 200, body
    t = next(t for t in body["teams"] if t["team"] == "Timed")
    assert t["chats"] == 2 and t["wait_target_chats"] == 2 and t["within_wait_target"] == 1, t
    assert t["wait_target_share"] == 0.5 and t["first_response_target_share"] == 0.5, t
    await env.close_clients()


@T.case("capacity: 200 chats at once, 20 agents with a cap of 3 on two nodes: nobody ever holds more than 3", timeout=120)
async def t_capacity(env):
    cap, names = 3, [f"load{i:02d}" for i in range(20)]
    for name in names:
        assert (await api(env, "PUT", f"/api/agents/{name}", {"max_chats": cap}))[0] == 200
    await team(env, "Load", mode="offer", offer_seconds=30, members=[{"agent": n} for n in names])
    node2 = await env.new_beckon("teams-node2", ["--max-connections-per-ip", "1000"])
    agents = {}
    for i, name in enumerate(names):
        agents[name] = await env.agent(name, beckon=node2 if i % 2 else None)
    await until_online(env, "Load", 20, timeout=15)
    held, accepted, worst = {n: set() for n in names}, {n: set() for n in names}, [0]
    offered = {n: 0 for n in names}

    async def work(name):
        a = agents[name]
        while True:
            m = await a.recv_until(pred=lambda m: m.get("type") in ("offer", "offer_withdrawn"), timeout=60)
            if m["type"] == "offer_withdrawn":
                held[name].discard(m["conversation"])
                continue
            held[name].add(m["conversation"]["id"])
            worst[0] = max(worst[0], len(held[name]))
            assert len(held[name]) <= cap, (name, held[name])
            # accept most at once, decline every third: both paths under load
            offered[name] += 1
            if offered[name] % 3 == 0:
                await a.send({"type": "offer_decline", "conversation": m["conversation"]["id"]})
            else:
                r = await a.request({"type": "offer_accept", "conversation": m["conversation"]["id"]})
                assert r["type"] == "ok", r
                accepted[name].add(m["conversation"]["id"])

    workers = [asyncio.create_task(work(n)) for n in names]

    async def one(i):
        v = await visitor(env, beckon=node2 if i % 2 else None, team="Load")
        return v, (await send_message(v, f"load {i}"))["conversation"]

    visitors = await asyncio.gather(*(one(i) for i in range(200)))
    deadline = time.monotonic() + 30
    while sum(len(s) for s in accepted.values()) < 20 * cap:
        assert time.monotonic() < deadline, {n: len(s) for n, s in accepted.items()}
        for w in workers:
            if w.done() and w.exception():
                raise w.exception()
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)   # a sweep or two more: no offer may come to anyone full
    for w in workers:
        if w.done() and w.exception():
            raise w.exception()
        w.cancel()
    assert all(len(s) == cap for s in accepted.values()), {n: len(s) for n, s in accepted.items()}
    assert worst[0] <= cap
    state = await team_state(env, "Load")
    assert state["waiting"] == 200 - 20 * cap and state["offers"] == 0, state
    await asyncio.gather(*(v.expect_reply({"type": "close"}, "ok") for v, _ in visitors))
    await env.close_clients()


if __name__ == "__main__":
    T.run("teams", setup=setup)
