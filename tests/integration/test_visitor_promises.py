"""What a site promises its visitors holds on every path: consent gates every way browsing data
comes in, a verified identity changes only with the site's signature, a visitor token belongs to
one site, and an erased visitor stays erased."""

import asyncio
import hashlib
import hmac
import json

import websockets

from harness import VISITOR_PROTO, Cases, http_request, parse_json_body, id_prefix

T = Cases()
SECRET = "s3cret-of-the-shop-0123456789"
SHOP = "https://shop.example"
OTHER = "https://other.example"


async def setup(env):
    r = env.beckon.cli("agent", "add", "admin", "admin", stdin="admin-password\n")
    assert r.returncode == 0, r
    env.agents["admin"] = "admin-password"
    env.add_agent("alice")


async def admin_api(env, method, path, body=None):
    token = await env.login("admin")
    status, _, data = await http_request(env.beckon.port, method, path, body, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def site(env, name, origin, **settings):
    body = {"origins": [origin]}
    body.update(settings)
    status, reply = await admin_api(env, "PUT", f"/api/sites/{name}", body)
    assert status == 200, reply


async def no_sites(env):
    for name in ("shop", "other"):
        await admin_api(env, "DELETE", f"/api/sites/{name}")


class Visitor:
    """A visitor socket on a configured site (the harness's visitors use no Origin)."""

    def __init__(self, ws, welcome):
        self.ws, self.welcome = ws, welcome
        self.id, self.token = welcome.get("visitor"), welcome.get("token")
        self.req = 1

    async def request(self, msg):
        self.req += 1
        msg = dict(msg, req=self.req)
        await self.ws.send(json.dumps(msg))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if m.get("req") == self.req:
                return m


async def hello(origin, port, site_name, token=None):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", subprotocols=[VISITOR_PROTO], origin=origin,
                                  open_timeout=5, close_timeout=2)
    msg = {"type": "hello", "req": 1, "site": site_name}
    if token:
        msg["token"] = token
    await ws.send(json.dumps(msg))
    return Visitor(ws, json.loads(await asyncio.wait_for(ws.recv(), 5)))


async def beacon(env, body):
    status, _, data = await http_request(env.beckon.port, "POST", "/api/events", body)
    return status, parse_json_body(data) if data else None


def signed(user_id):
    return hmac.new(SECRET.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@T.case("consent: a beacon is refused before consent and after withdrawal (403 consent_required), "
        "and nothing is stored; with consent it is stored")
async def t_beacon_consent(env):
    await site(env, "shop", SHOP, consent_required=True)
    try:
        v = await hello(SHOP, env.beckon.port, "shop")
        events = f"{id_prefix(v.id)}events:{v.id}"
        page = {"type": "page_view", "token": v.token, "url": SHOP + "/pricing", "title": "Pricing"}
        status, body = await beacon(env, page)
        assert status == 403 and body["error"]["code"] == "consent_required", (status, body)
        status, body = await beacon(env, {"type": "event", "token": v.token, "name": "exit_intent"})
        assert status == 403 and body["error"]["code"] == "consent_required", (status, body)
        assert env.redis.command("EXISTS", events) == 0
        assert env.redis.command("HGET", f"{id_prefix(v.id)}visitor:{v.id}", "page_url") is None

        assert (await v.request({"type": "consent", "granted": True}))["type"] == "ok"
        assert (await beacon(env, page))[0] == 202
        assert env.redis.command("XLEN", events) == 1

        assert (await v.request({"type": "consent", "granted": False}))["type"] == "ok"
        status, body = await beacon(env, page)
        assert status == 403 and body["error"]["code"] == "consent_required", (status, body)
        assert env.redis.command("EXISTS", events) == 0
        # the socket path answers the same, from the same check
        r = await v.request({"type": "page_view", "url": SHOP + "/b"})
        assert r["type"] == "error" and r["code"] == "consent_required", r
        assert env.redis.command("EXISTS", events) == 0
    finally:
        await no_sites(env)


@T.case("identity: leaving a message does not rewrite a verified profile; the message keeps "
        "its details, marked unverified")
async def t_verified_identity_kept(env):
    await site(env, "shop", SHOP, identity_secret=SECRET)
    try:
        alice = await env.agent("alice")
        v = await hello(SHOP, env.beckon.port, "shop")
        r = await v.request({"type": "identify", "id": "user-42", "hash": signed("user-42"),
                             "name": "Ida", "email": "ida@shop.example"})
        assert r["type"] == "ok", r
        r = await v.request({"type": "leave_message", "name": "Mallory", "email": "mallory@evil.example",
                             "text": "call me"})
        assert r["type"] == "ok", r
        d = (await alice.expect_reply({"type": "visitor", "visitor": v.id}, "visitor"))["visitor"]
        assert (d["name"], d["email"], d["verified"]) == ("Ida", "ida@shop.example", True), d
        left = await alice.expect_reply({"type": "left_messages"}, "left_messages")
        mine = [m for m in left["messages"] if m["visitor"] == v.id]
        assert mine and mine[0]["email"] == "mallory@evil.example" and mine[0]["unverified"] is True, mine
        # identify without the signature may not change it either
        r = await v.request({"type": "identify", "name": "Mallory"})
        assert r["type"] == "error" and r["code"] == "forbidden", r
        d = (await alice.expect_reply({"type": "visitor", "visitor": v.id}, "visitor"))["visitor"]
        assert d["name"] == "Ida", d
        # the signature covers the user id only: the same identity keeps its name and email
        r = await v.request({"type": "identify", "id": "user-42", "hash": signed("user-42"), "name": "Mallory",
                             "email": "mallory@evil.example"})
        assert r["type"] == "ok", r
        d = (await alice.expect_reply({"type": "visitor", "visitor": v.id}, "visitor"))["visitor"]
        assert (d["name"], d["email"]) == ("Ida", "ida@shop.example"), d
        # another signed identity starts with its own details
        r = await v.request({"type": "identify", "id": "user-43", "hash": signed("user-43"), "name": "Bo"})
        assert r["type"] == "ok", r
        d = (await alice.expect_reply({"type": "visitor", "visitor": v.id}, "visitor"))["visitor"]
        assert (d["user_id"], d["name"], d.get("email")) == ("user-43", "Bo", None), d
    finally:
        await no_sites(env)


@T.case("identity: on a site that enforces signed identities, an unverified visitor's left "
        "message does not put a name or email in the profile")
async def t_enforced_identity(env):
    await site(env, "shop", SHOP, identity_secret=SECRET, enforce_identity=True)
    try:
        alice = await env.agent("alice")
        v = await hello(SHOP, env.beckon.port, "shop")
        r = await v.request({"type": "leave_message", "name": "Ida", "email": "ida@shop.example", "text": "hi"})
        assert r["type"] == "ok", r
        d = (await alice.expect_reply({"type": "visitor", "visitor": v.id}, "visitor"))["visitor"]
        assert d.get("name") is None and d.get("email") is None and d["verified"] is False, d
    finally:
        await no_sites(env)


@T.case("tokens: a visitor token from one site is refused on another (invalid_token); "
        "the same token still works on its own site")
async def t_token_one_site(env):
    await site(env, "shop", SHOP, identity_secret=SECRET, enforce_identity=True)
    await site(env, "other", OTHER)
    try:
        v = await hello(SHOP, env.beckon.port, "shop")
        r = await v.request({"type": "identify", "id": "user-42", "hash": signed("user-42"), "name": "Ida"})
        assert r["type"] == "ok", r
        elsewhere = await hello(OTHER, env.beckon.port, "other", token=v.token)
        assert elsewhere.welcome["type"] == "error" and elsewhere.welcome["code"] == "invalid_token", elsewhere.welcome
        assert env.redis.command("HGET", f"{id_prefix(v.id)}visitor:{v.id}", "site") == "shop"
        fresh = await hello(OTHER, env.beckon.port, "other")  # what the widget does next
        assert fresh.welcome["type"] == "welcome" and fresh.id != v.id, fresh.welcome
        again = await hello(SHOP, env.beckon.port, "shop", token=v.token)
        assert again.welcome["type"] == "welcome" and again.id == v.id, again.welcome
    finally:
        await no_sites(env)


@T.case("erasure: an erased visitor's token starts a new, unrelated visitor; a beacon with it is "
        "refused; no key names the old id")
async def t_erasure_final(env):
    v = await env.visitor()
    old, token = v.visitor_id, v.token
    status, body = await admin_api(env, "DELETE", f"/api/visitors/{old}")
    assert status == 200 and body["erased"] == old, body
    await v.wait_closed(5)

    status, body = await beacon(env, {"type": "page_view", "token": token, "url": "https://shop.example/x"})
    assert status == 401 and body["error"]["code"] == "invalid_token", (status, body)

    back = await env.visitor(token=token)
    assert back.visitor_id != old and back.token != token, back.welcome
    assert back.welcome["conversation"] is None, back.welcome
    await asyncio.sleep(0.3)  # a page view from the hello is stored by then
    names = [k for k in env.redis.command("KEYS", "*") if old in k]
    for key in (id_prefix(old) + "visitors:seen", id_prefix(old) + "visitors:active"):
        if env.redis.command("ZSCORE", key, old) is not None:
            names.append(key)
    assert names == [], f"keys naming the erased visitor: {names}"


@T.case("erasure: requests from a socket whose visitor was erased meanwhile are refused and store nothing")
async def t_erased_meanwhile(env):
    v = await env.visitor()
    vid = v.visitor_id
    for _ in range(50):  # the hello's page view is stored after the welcome: let it land first
        if env.redis.command("EXISTS", f"{id_prefix(vid)}events:{vid}") == 1:
            break
        await asyncio.sleep(0.05)
    # what visitor_forget.lua does, before its "!forget" reaches the node and closes the socket
    for key in env.redis.command("KEYS", f"*{vid}*"):
        env.redis.command("DEL", key)
    for request in ({"type": "message", "cmid": "after-erasure", "text": "still here?"},
                    {"type": "consent", "granted": True},
                    {"type": "identify", "name": "Ida"},
                    {"type": "leave_message", "email": "ida@shop.example", "text": "call me"}):
        r = await v.request(request)
        assert r["type"] == "error" and r["code"] == "invalid_token", (request, r)
    assert [k for k in env.redis.command("KEYS", "*") if vid in k] == []



@T.case("consent: page views of several sockets stored by one call (a node's batch) each get their "
        "own answer: refused without consent, stored with it and on a site that asks none")
async def t_batch_consent(env):
    await site(env, "shop", SHOP, consent_required=True)
    await site(env, "other", OTHER)
    try:
        without = await hello(SHOP, env.beckon.port, "shop")
        consented = await hello(SHOP, env.beckon.port, "shop")
        assert (await consented.request({"type": "consent", "granted": True}))["type"] == "ok"
        free = await hello(OTHER, env.beckon.port, "other")
        visitors = [without, consented, free]
        for v in visitors:  # sent together, answered each by its own element of the reply
            v.req += 1
            await v.ws.send(json.dumps({"type": "page_view", "req": v.req, "url": SHOP + "/together"}))
        answers = []
        for v in visitors:
            while (m := json.loads(await asyncio.wait_for(v.ws.recv(), 5))).get("req") != v.req:
                pass
            answers.append(m)
        assert answers[0]["type"] == "error" and answers[0]["code"] == "consent_required", answers
        assert answers[1]["type"] == "ok" and answers[2]["type"] == "ok", answers
        assert env.redis.command("EXISTS", f"{id_prefix(without.id)}events:{without.id}") == 0
        assert env.redis.command("XLEN", f"{id_prefix(consented.id)}events:{consented.id}") == 1
        assert env.redis.command("XLEN", f"{id_prefix(free.id)}events:{free.id}") == 1
    finally:
        await no_sites(env)


@T.case("consent: a withdrawal sent right after a page view, without waiting, comes after it: the page "
        "view is stored first, then deleted with the rest")
async def t_withdrawal_after_page_view(env):
    v = await hello(OTHER, env.beckon.port, "demo")  # no sites: any origin, no consent asked
    r = await v.request({"type": "page_view", "url": OTHER + "/first"})
    assert r["type"] == "ok", (r, v.welcome)
    v.req += 1
    second = v.req
    await v.ws.send(json.dumps({"type": "page_view", "req": second, "url": OTHER + "/second"}))
    v.req += 1
    await v.ws.send(json.dumps({"type": "consent", "req": v.req, "granted": False}))
    answers = {}
    while len(answers) < 2:  # both answered, in whichever order
        m = json.loads(await asyncio.wait_for(v.ws.recv(), 5))
        if m.get("req") in (second, v.req):
            answers[m["req"]] = m
    assert answers[second]["type"] == "ok" and answers[v.req]["type"] == "ok", answers
    assert env.redis.command("EXISTS", f"{id_prefix(v.id)}events:{v.id}") == 0, "a page view sent before the withdrawal outlived it"
    assert env.redis.command("HGET", f"{id_prefix(v.id)}visitor:{v.id}", "page_url") is None


if __name__ == "__main__":
    T.run("visitor_promises", setup=setup)
