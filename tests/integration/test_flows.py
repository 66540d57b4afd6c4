"""Quick-reply flows (docs/flows.md): saved per site with versions and checked with the path of
the wrong field named; run over a real server and Redis through their buttons, a resend answered
as a duplicate, a wrong button refused, typing instead handing off at once, the hand-off queued
with the path the visitor took, an email collected outside the site's hours, and two nodes."""

import asyncio
import datetime as dt
import json

import websockets

from harness import GLOBAL_PREFIX, VISITOR_PROTO, Cases, Client, full_history, http_request, parse_json_body, \
    send_message, site_prefix

T = Cases()
ORIGIN = "https://shop.example"

FLOW = {
    "name": "Shop help", "start": "greeting",
    "steps": {
        "greeting": {"text": "Hi! What can we help with?", "buttons": [
            {"id": "track", "label": "Track my order", "next": "track"},
            {"id": "returns", "label": "Returns", "next": "returns"},
            {"id": "person", "label": "Talk to a person", "next": "person"}]},
        "track": {"text": "Your orders are here.", "link": {"url": "https://shop.example/orders", "label": "My orders"},
                  "end": True},
        "returns": {"text": "You have 30 days.", "article": "returns-policy", "buttons": [
            {"id": "more", "label": "Still need help", "next": "person"},
            {"id": "menu", "label": "Back", "next": "greeting"}]},
        "person": {"text": "Connecting you with a person…", "handoff": True},
    },
    "closed": {"text": "We are closed. Leave your email and we will write.", "collect_email": True,
               "thanks": "Thanks, we will write to you."},
}


async def setup(env):
    for name, role in (("mia", "marketer"), ("alice", "agent"), ("root", "admin")):
        r = env.beckon.cli("agent", "add", name, role, stdin=f"pw-{name}-secret\n")
        assert r.returncode == 0, r
        env.agents[name] = f"pw-{name}-secret"


async def api(env, method, path, body=None, who="mia", beckon=None):
    b = beckon or env.beckon
    token = await env.login(who, beckon=b)
    status, _, data = await http_request(b.port, method, path, body, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def save(env, site, flow=FLOW):
    status, reply = await api(env, "PUT", "/api/flows/" + site, flow)
    assert status == 200, (status, reply)
    return reply["version"]


async def start(v):
    ok = await v.expect_reply({"type": "flow_start"}, "ok")
    greeting = await v.recv_until("message", conversation=ok["conversation"], pred=lambda m: m["from"] == "bot")
    return ok, greeting


async def choose(v, message, button):
    return await v.expect_reply({"type": "flow_choose", "message": message["id"], "button": button}, "ok")


async def next_bot(v, conversation, after):
    return await v.recv_until("message", conversation=conversation,
                              pred=lambda m: m["from"] == "bot" and stream_id(m["id"]) > stream_id(after["id"]))


def stream_id(text):
    return tuple(int(part) for part in text.split("-"))


def loop_only(flow):
    """greeting -> returns -> returns ...: no end, no hand-off anywhere."""
    flow["steps"] = {"greeting": {"text": "Hi", "buttons": [{"id": "r", "label": "Returns", "next": "returns"}]},
                     "returns": {"text": "30 days", "buttons": [{"id": "again", "label": "Again", "next": "returns"}]}}


@T.case("a flow with a wrong field is refused with its path; a good one is saved with versions, listed, reverted")
async def t_rest(env):
    cases = [
        (lambda f: f["steps"]["returns"]["buttons"][1].update(next="refund"),
         "steps.returns.buttons[1].next", "no step 'refund'"),
        (lambda f: f["steps"].update(old={"text": "gone", "end": True}), "steps.old", None),
        (loop_only, "steps.greeting.buttons", "never reaches an end or a hand-off: every way out loops (returns → returns)"),
        (lambda f: f["steps"]["track"].update(link={"url": "javascript:alert(1)"}), "steps.track.link.url", None),
        (lambda f: f.update(colour="red"), "colour", None),
    ]
    for change, path, message in cases:
        flow = json.loads(json.dumps(FLOW))
        change(flow)
        status, reply = await api(env, "PUT", "/api/flows/shop", flow)
        assert status == 400 and reply["error"]["code"] == "invalid_flow", (status, reply)
        assert reply["error"]["path"] == path, reply
        if message:
            assert reply["error"]["message"] == message, reply
        status, reply = await api(env, "POST", "/api/flows/validate", flow)
        assert status == 400 and reply["error"]["path"] == path, reply
    status, reply = await api(env, "GET", "/api/flows/shop")
    assert status == 404, reply
    v1 = await save(env, "shop")
    changed = json.loads(json.dumps(FLOW))
    changed["steps"]["greeting"]["text"] = "Hello again"
    v2 = await save(env, "shop", changed)
    assert v2 > v1
    status, reply = await api(env, "GET", "/api/flows/shop")
    assert status == 200 and reply["flow"]["steps"]["greeting"]["text"] == "Hello again" and reply["by"] == "mia", reply
    status, reply = await api(env, "GET", "/api/flows/shop/versions")
    assert [v["version"] for v in reply["versions"]] == [v1, v2], reply
    status, reply = await api(env, "POST", "/api/flows/shop/revert", {"version": v1})
    assert status == 200 and reply["flow"] == FLOW, reply
    status, reply = await api(env, "GET", "/api/flows")
    assert [f["site"] for f in reply["flows"]] == ["shop"], reply
    status, reply = await api(env, "PUT", "/api/flows/shop", FLOW, who="alice")
    assert status == 403, (status, reply)
    status, reply = await api(env, "GET", "/api/flows/shop", who="root")
    assert status == 200, (status, reply)


@T.case("through its buttons: greeting, an answer reached; a resend is a duplicate; a wrong button and an old message refused")
async def t_run(env):
    await save(env, "run-shop")
    v = await env.visitor(site="run-shop")
    ok, greeting = await start(v)
    cid = ok["conversation"]
    assert ok["duplicate"] is False
    assert greeting["text"] == "Hi! What can we help with?", greeting
    assert [b["id"] for b in greeting["flow"]["buttons"]] == ["track", "returns", "person"], greeting
    again = await v.expect_reply({"type": "flow_start"}, "ok")
    assert again["conversation"] == cid and again["duplicate"] is True, again
    await v.expect_error({"type": "flow_choose", "message": greeting["id"], "button": "refund"}, "bad_request")
    r = await choose(v, greeting, "returns")
    assert r["duplicate"] is False
    said = await v.recv_until("message", conversation=cid, pred=lambda m: m["from"] == "visitor")
    assert said["text"] == "Returns", said
    returns = await next_bot(v, cid, greeting)
    assert returns["flow"]["article"] == "returns-policy" and len(returns["flow"]["buttons"]) == 2, returns
    r = await choose(v, greeting, "returns")        # the same choice again: nothing new
    assert r["duplicate"] is True and r["conversation"] == cid, r
    await v.expect_none("message", conversation=cid, within=0.3)
    back = await choose(v, returns, "menu")
    assert back["duplicate"] is False
    greeting2 = await next_bot(v, cid, returns)
    assert greeting2["text"] == "Hi! What can we help with?"
    err = await v.expect_error({"type": "flow_choose", "message": "1-0", "button": "track"}, "bad_request")
    assert "last flow message" in err["message"], err
    await choose(v, greeting2, "track")
    answer = await next_bot(v, cid, greeting2)
    assert answer["flow"]["link"] == {"url": "https://shop.example/orders", "label": "My orders"}, answer
    assert "buttons" not in answer["flow"]
    await v.expect_error({"type": "flow_choose", "message": answer["id"], "button": "track"}, "bad_request")
    hist, _ = await full_history(v, cid)
    texts = [(m["from"], m["text"]) for m in hist]
    assert texts == [("bot", "Hi! What can we help with?"), ("visitor", "Returns"), ("bot", "You have 30 days."),
                     ("visitor", "Back"), ("bot", "Hi! What can we help with?"), ("visitor", "Track my order"),
                     ("bot", "Your orders are here.")], texts
    assert hist[0]["flow"]["buttons"][0] == {"id": "track", "label": "Track my order"}, hist[0]
    stats = env.redis.command("HGETALL", site_prefix("") + "flows:stats:" + dt.datetime.utcnow().strftime("%Y%m%d"))
    counts = dict(zip(stats[::2], stats[1::2]))
    assert counts.get("run-shop:started") == "1" and counts.get("run-shop:completed") == "1", counts


@T.case("the hand-off queues the chat with the path; the agent sees it, accepts, and reads the flow in the history")
async def t_handoff(env):
    await save(env, "hand-shop")
    agent = await env.agent("alice")
    v = await env.visitor(site="hand-shop")
    ok, greeting = await start(v)
    cid = ok["conversation"]
    await agent.expect_none("queue_add", within=0.3)   # a flow is no chat yet
    await choose(v, greeting, "returns")
    returns = await next_bot(v, cid, greeting)
    await choose(v, returns, "more")
    handoff = await next_bot(v, cid, returns)
    assert handoff["text"] == "Connecting you with a person…" and handoff["flow"] == {}, handoff
    queued = await v.recv_until("conversation", id=cid, state="queued")
    assert queued["state"] == "queued"
    add = await agent.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == cid)
    assert add["conversation"]["flow"] == ["Returns", "Still need help"], add
    assert add["conversation"]["preview"] == "Returns › Still need help", add
    # an agent who comes (back) later finds the path in the queue of their welcome
    later = await env.agent("root")
    item = [c for c in later.welcome["queue"] if c["id"] == cid]
    assert item and item[0]["flow"] == ["Returns", "Still need help"], later.welcome["queue"]
    await agent.expect_reply({"type": "accept", "conversation": cid}, "ok")
    hist, _ = await full_history(agent, cid)
    assert [m["from"] for m in hist[:5]] == ["bot", "visitor", "bot", "visitor", "bot"], hist
    assert hist[4]["text"] == "Connecting you with a person…"
    # the flow is over: a message's first choice stands, another button of it changes nothing
    r = await choose(v, returns, "menu")
    assert r["duplicate"] is True, r
    await v.expect_none("message", conversation=cid, pred=lambda m: m["from"] == "bot", within=0.3)


@T.case("typing instead of choosing hands off at once, with the path so far; the message goes to the queue")
async def t_typing(env):
    await save(env, "type-shop")
    agent = await env.agent("alice")
    v = await env.visitor(site="type-shop")
    ok, greeting = await start(v)
    cid = ok["conversation"]
    await choose(v, greeting, "returns")
    await next_bot(v, cid, greeting)
    ack = await send_message(v, "My parcel is broken")
    assert ack["conversation"] == cid, ack
    add = await agent.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == cid)
    assert add["conversation"]["flow"] == ["Returns"] and add["conversation"]["preview"] == "My parcel is broken", add
    await v.recv_until("conversation", id=cid, state="queued")


@T.case("two nodes: the flow saved on one runs for a visitor on the other; the hand-off reaches an agent on the first")
async def t_two_nodes(env):
    other = await env.new_beckon("flows-b")
    await save(env, "two-shop")
    agent = await env.agent("alice")
    v = await env.visitor(site="two-shop", beckon=other)
    ok, greeting = await start(v)
    await choose(v, greeting, "person")
    add = await agent.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == ok["conversation"])
    assert add["conversation"]["flow"] == ["Talk to a person"], add


@T.case("a site without a flow: flow_start is not_found, and a message opens a chat as before")
async def t_no_flow(env):
    v = await env.visitor(site="plain-shop")
    await v.expect_error({"type": "flow_start"}, "not_found")
    ack = await send_message(v, "Hello")
    await v.recv_until("conversation", id=ack["conversation"], state="queued")


@T.case("outside the site's hours a hand-off asks for an email instead; the email is left like a message, counted")
async def t_closed(env):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    hours = f"{days[later.weekday()]} {later.hour:02d}:00-{later.hour:02d}:30"
    status, reply = await api(env, "PUT", "/api/sites/night-shop", {"origins": [ORIGIN], "hours": hours, "tz": "UTC"},
                              who="root")
    assert status == 200, reply
    await save(env, "night-shop")
    agent = await env.agent("alice")
    await asyncio.sleep(1.2)   # the node reads the sites' hours with its sweep
    ws = await websockets.connect(f"ws://127.0.0.1:{env.beckon.port}/ws", subprotocols=[VISITOR_PROTO],
                                  origin=ORIGIN, open_timeout=5, close_timeout=2, ping_interval=None)
    v = Client(ws, env.uid("v"), "visitor")
    env.clients.append(v)
    w = await v.expect_reply({"type": "hello", "site": "night-shop", "lang": "en"}, "welcome")
    assert w["hours"]["open"] is False, w
    ok, greeting = await start(v)
    cid = ok["conversation"]
    await choose(v, greeting, "person")
    handoff = await next_bot(v, cid, greeting)
    assert handoff["text"] == "Connecting you with a person…"
    ask = await next_bot(v, cid, handoff)
    assert ask["text"] == FLOW["closed"]["text"] and ask["flow"]["email"] is True, ask
    await agent.expect_none("queue_add", within=0.3)
    await v.expect_error({"type": "flow_email", "message": ask["id"], "email": "not an address"}, "bad_request")
    r = await v.expect_reply({"type": "flow_email", "message": ask["id"], "email": "ida@example.dk"}, "ok")
    assert r["duplicate"] is False
    left = await agent.recv_until("left_message")
    assert left["message"]["email"] == "ida@example.dk" and left["message"]["text"] == "Talk to a person", left
    thanks = await next_bot(v, cid, ask)
    assert thanks["text"] == "Thanks, we will write to you."
    r = await v.expect_reply({"type": "flow_email", "message": ask["id"], "email": "ida@example.dk"}, "ok")
    assert r["duplicate"] is True
    day = dt.datetime.utcnow().strftime("%Y%m%d")
    stats = env.redis.command("HGETALL", site_prefix("night-shop") + "flows:stats:" + day)
    counts = dict(zip(stats[::2], stats[1::2]))
    assert counts.get("night-shop:emails") == "1" and counts.get("night-shop:started") == "1", counts


@T.case("the KPIs: flows started, completed, handed off and emails collected, per site and in total, JSON and CSV")
async def t_kpis(env):
    today = dt.datetime.utcnow().strftime("%Y-%m-%d")
    status, body = await api(env, "GET", f"/api/stats/service?from={today}&to={today}&site=run-shop")
    assert status == 200, body
    t = body["totals"]
    assert (t["flows_started"], t["flows_completed"], t["flows_handed_off"], t["flows_emails"]) == (1, 1, 0, 0), t
    status, body = await api(env, "GET", f"/api/stats/service?from={today}&to={today}")
    t = body["totals"]
    # run, hand-off, typing, two nodes, night: 5 started; run: 1 completed; hand-off, typing, two nodes: 3 handed off
    assert (t["flows_started"], t["flows_completed"], t["flows_handed_off"], t["flows_emails"]) == (5, 1, 3, 1), t
    assert body["days"][-1]["flows_started"] == 5, body["days"]
    status, body = await api(env, "GET", f"/api/stats/service?from={today}&to={today}&agent=alice")
    assert body["totals"]["flows_started"] is None, body["totals"]
    token = await env.login("mia")
    status, _, data = await http_request(env.beckon.port, "GET", f"/api/stats/service.csv?from={today}&to={today}",
                                         None, {"Authorization": "Bearer " + token})
    lines = data.decode().split("\r\n")
    # the email channel's three columns come last (test_email_channel)
    assert lines[0].endswith(",flows_started,flows_completed,flows_handed_off,flows_emails,"
                             "answered_by_email,email_first_response_p50,email_first_response_p90"), lines[0]
    assert lines[2].startswith("total,") and ",5,1,3,1," in lines[2], lines


if __name__ == "__main__":
    T.run("flows", setup=setup)
