"""Sites: a visitor socket must come from one of its site's origins, exactly; identities are
verified with the site's secret; consent gates tracking; closed chats expire; agent sockets
accept only Beckon's own origin."""

import asyncio
import hashlib
import hmac
import json

import websockets

from harness import AGENT_PROTO, VISITOR_PROTO, Cases, http_request, parse_json_body, id_prefix

T = Cases()
SECRET = "s3cret-of-the-shop-0123456789"


async def setup(env):
    r = env.beckon.cli("agent", "add", "admin", "admin", stdin="admin-password\n")
    assert r.returncode == 0, r
    env.agents["admin"] = "admin-password"
    env.add_agent("alice")


async def sites_api(env, method, path, body=None):
    token = await env.login("admin")
    status, _, data = await http_request(env.beckon.port, method, path, body, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def open_socket(env, origin, protocol=VISITOR_PROTO):
    headers = {}
    kwargs = {"origin": origin} if origin is not None else {}
    return await websockets.connect(f"ws://127.0.0.1:{env.beckon.port}/ws", subprotocols=[protocol],
                                    open_timeout=5, close_timeout=2, **kwargs, extra_headers=headers)


async def hello(env, origin, site="shop", **more):
    ws = await open_socket(env, origin)
    msg = {"type": "hello", "req": 1, "site": site}
    msg.update(more)
    await ws.send(json.dumps(msg))
    reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return ws, reply


async def recv_req(ws, req):
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if m.get("req") == req:
            return m


async def with_site(env, **settings):
    body = {"origins": ["https://shop.example", "http://localhost:8080"]}
    body.update(settings)
    status, reply = await sites_api(env, "PUT", "/api/sites/shop", body)
    assert status == 200, reply


async def without_sites(env):
    await sites_api(env, "DELETE", "/api/sites/shop")


@T.case("origins: the site's own origins get in; missing, null and lookalikes are refused with close 1008")
async def t_origins(env):
    await with_site(env)
    try:
        for origin in ("https://shop.example", "http://localhost:8080", "https://SHOP.example"):
            ws, reply = await hello(env, origin)
            assert reply["type"] == "welcome", (origin, reply)
            await ws.close()
        for origin in (None, "null", "https://shop.example.evil.com", "https://evil-shop.example",
                       "https://shop.example:8443", "https://shop.example.", "http://shop.example",
                       "https://shop.exampl"):
            ws, reply = await hello(env, origin)
            assert reply["type"] == "error" and reply["code"] == "forbidden", (origin, reply)
            await ws.wait_closed()
            assert ws.close_code == 1008, (origin, ws.close_code)
        ws, reply = await hello(env, "https://shop.example", site="other")
        assert reply["code"] == "forbidden", reply
        ws, reply = await hello(env, "https://shop.example", site=None)
        assert reply["code"] == "forbidden", reply
    finally:
        await without_sites(env)
    # with no site configured at all, any origin gets in (development)
    ws, reply = await hello(env, "https://anything.example", site="whatever")
    assert reply["type"] == "welcome", reply


@T.case("identity: a user id signed with the site's secret is verified; a bad signature is refused")
async def t_identity(env):
    await with_site(env, identity_secret=SECRET)
    try:
        alice = await env.agent("alice")
        ws, welcome = await hello(env, "https://shop.example")
        good = hmac.new(SECRET.encode(), b"user-42", hashlib.sha256).hexdigest()
        await ws.send(json.dumps({"type": "identify", "req": 2, "id": "user-42", "hash": good.upper(),
                                  "name": "Ida"}))
        assert (await recv_req(ws, 2))["type"] == "ok"
        d = await alice.expect_reply({"type": "visitor", "visitor": welcome["visitor"]}, "visitor")
        assert d["visitor"]["user_id"] == "user-42" and d["visitor"]["verified"] is True, d
        await ws.send(json.dumps({"type": "identify", "req": 3, "id": "user-43", "hash": good}))
        r = await recv_req(ws, 3)
        assert r["type"] == "error" and r["code"] == "forbidden", r
        # enforcement: names and emails need the signature too
        await with_site(env, identity_secret=SECRET, enforce_identity=True)
        ws2, _ = await hello(env, "https://shop.example")
        await ws2.send(json.dumps({"type": "identify", "req": 4, "name": "Mallory"}))
        r = await recv_req(ws2, 4)
        assert r["type"] == "error" and r["code"] == "forbidden", r
        await ws2.send(json.dumps({"type": "identify", "req": 5, "id": "user-42", "hash": good, "name": "Ida"}))
        assert (await recv_req(ws2, 5))["type"] == "ok"
    finally:
        await without_sites(env)


@T.case("consent: no tracking before consent; withdrawing it deletes the events held")
async def t_consent(env):
    await with_site(env, consent_required=True)
    try:
        alice = await env.agent("alice")
        ws, welcome = await hello(env, "https://shop.example",
                                  page={"url": "https://shop.example/pricing", "title": "Pricing", "referrer": ""})
        vid = welcome["visitor"]
        await ws.send(json.dumps({"type": "page_view", "req": 2, "url": "https://shop.example/a"}))
        r = await recv_req(ws, 2)
        assert r["type"] == "error" and r["code"] == "consent_required", r
        d = await alice.expect_reply({"type": "visitor", "visitor": vid}, "visitor")
        assert d["pages"] == [], d["pages"]
        await ws.send(json.dumps({"type": "consent", "req": 3, "granted": True}))
        assert (await recv_req(ws, 3))["type"] == "ok"
        await ws.send(json.dumps({"type": "page_view", "req": 4, "url": "https://shop.example/b"}))
        assert (await recv_req(ws, 4))["type"] == "ok"
        assert env.redis.command("EXISTS", f"{id_prefix(vid)}events:{vid}") == 1
        await ws.send(json.dumps({"type": "consent", "req": 5, "granted": False}))
        assert (await recv_req(ws, 5))["type"] == "ok"
        assert env.redis.command("EXISTS", f"{id_prefix(vid)}events:{vid}") == 0
        await ws.send(json.dumps({"type": "page_view", "req": 6, "url": "https://shop.example/c"}))
        assert (await recv_req(ws, 6))["code"] == "consent_required"
        await ws.send(json.dumps({"type": "message", "req": 7, "cmid": "c", "text": "chat still works"}))
        assert (await recv_req(ws, 7))["type"] == "ack"
    finally:
        await without_sites(env)


@T.case("retention: a closed conversation expires after its site's retention days (default 365)")
async def t_retention(env):
    await with_site(env, retention_days=7)
    try:
        alice = await env.agent("alice")
        ws, _ = await hello(env, "https://shop.example")
        await ws.send(json.dumps({"type": "message", "req": 2, "cmid": "c", "text": "short-lived"}))
        cid = (await recv_req(ws, 2))["conversation"]
        assert env.redis.command("TTL", f"{id_prefix(cid)}conv:{cid}") == -1, "an open conversation must not expire"
        await alice.expect_reply({"type": "accept", "conversation": cid}, "ok")
        await alice.expect_reply({"type": "close", "conversation": cid}, "ok")
        for key in (f"{id_prefix(cid)}conv:{cid}", f"{id_prefix(cid)}conv:{cid}:meta"):
            ttl = env.redis.command("TTL", key)
            assert 7 * 86400 - 60 <= ttl <= 7 * 86400, (key, ttl)
    finally:
        await without_sites(env)
    v = await env.visitor()
    alice = await env.agent("alice")
    ack = await v.expect_reply({"type": "message", "cmid": "d", "text": "default retention"}, "ack")
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == ack["conversation"])
    await alice.expect_reply({"type": "accept", "conversation": ack["conversation"]}, "ok")
    await alice.expect_reply({"type": "close", "conversation": ack["conversation"]}, "ok")
    ttl = env.redis.command("TTL", f"{id_prefix(ack['conversation'])}conv:{ack['conversation']}")
    assert 365 * 86400 - 60 <= ttl <= 365 * 86400, ttl


@T.case("agent sockets: a foreign page's origin is refused; Beckon's own origin and no origin are fine")
async def t_agent_origin(env):
    token = await env.login("alice")
    for origin, ok in ((None, True), (f"http://127.0.0.1:{env.beckon.port}", True),
                       ("https://evil.example", False)):
        ws = await open_socket(env, origin, AGENT_PROTO)
        await ws.send(json.dumps({"type": "hello", "req": 1, "token": token}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if ok:
            assert reply["type"] == "welcome", (origin, reply)
            await ws.close()
        else:
            assert reply["type"] == "error" and reply["code"] == "unauthorized", (origin, reply)
            await ws.wait_closed()
            assert ws.close_code == 1008


@T.case("REST for agents and admins: a foreign page's origin is refused, Beckon's own and scripts are fine")
async def t_rest_origin(env):
    port = env.beckon.port
    body = {"name": "alice", "password": env.agents["alice"]}
    status, _, _ = await http_request(port, "POST", "/api/login", body, {"Origin": "https://evil.example"})
    assert status == 403, status
    status, _, data = await http_request(port, "POST", "/api/login", body, {"Origin": f"http://127.0.0.1:{port}"})
    assert status == 200, data
    token = parse_json_body(data)["token"]
    status, _, _ = await http_request(port, "GET", "/api/canned", None,
                                      {"Authorization": "Bearer " + token, "Origin": "https://evil.example"})
    assert status == 403, status
    status, _, _ = await http_request(port, "GET", "/api/canned", None, {"Authorization": "Bearer " + token})
    assert status == 200, status


@T.case("site settings: admin REST validates origins and hides the secret; the CLI does the same")
async def t_site_admin(env):
    status, body = await sites_api(env, "PUT", "/api/sites/bad", {"origins": ["https://shop.example/path"]})
    assert status == 400, body
    status, body = await sites_api(env, "PUT", "/api/sites/shop2", {"origins": ["HTTPS://Shop2.Example"],
                                                                   "identity_secret": SECRET})
    assert status == 200, body
    status, body = await sites_api(env, "GET", "/api/sites")
    site = [x for x in body["sites"] if x["id"] == "shop2"][0]
    assert site["origins"] == ["https://shop2.example"] and site["identity_secret_set"] is True, site
    assert SECRET not in json.dumps(body), "the secret leaked into the listing"
    assert (await sites_api(env, "DELETE", "/api/sites/shop2"))[0] == 200
    r = env.beckon.cli("site", "add", "cli-shop", "https://cli.example", "http://localhost:9000")
    assert r.returncode == 0, r
    r = env.beckon.cli("site", "set", "cli-shop", "consent", "required")
    assert r.returncode == 0, r
    r = env.beckon.cli("site", "list")
    assert b"cli-shop" in r.stdout and b"consent=required" in r.stdout and b"https://cli.example" in r.stdout, r
    r = env.beckon.cli("site", "add", "x", "ftp://cli.example")
    assert r.returncode == 2, r
    r = env.beckon.cli("site", "remove", "cli-shop")
    assert r.returncode == 0, r
    status, body = await sites_api(env, "GET", "/api/sites")
    assert body["sites"] == [], body


if __name__ == "__main__":
    T.run("sites", setup=setup)
