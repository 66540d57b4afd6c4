"""`beckon keys migrate`: a Redis holding what a Beckon of before the key layout wrote (keys of no
hash tag, ids of no tag: docs/deployment.md, "Upgrading") is moved into the layout, once, and
nothing is lost: the account logs in, the site is served, the waiting conversation is in the
queue with its messages and can be accepted. Running it again moves nothing. A visitor of before
comes back with its token on the server with sites: the same visitor, in the slot of site "", with
its conversation, history and the agent's replies."""

import base64
import hashlib
import hmac
import json
import os
import time

import websockets

from harness import (VISITOR_PROTO, Cases, Client, Redis, http_request, parse_json_body, GLOBAL_PREFIX,
                     site_prefix)

T = Cases()

OLD = "bk:"
CID = "c_0123456789abcdef01234567"    # ids as a Beckon of before made them: no tag
VID = "v_89abcdef0123456789abcdef"


def seed_old_visitor(env, vid, cid, text):
    """A visitor of site shop with a waiting conversation of one message, as a Beckon of before
    stored them. Returns the message's id."""
    r = env.redis
    now = int(time.time() * 1000)
    r.command("HSET", OLD + f"visitor:{vid}", "created", now, "last_seen", now, "site", "shop", "conv", cid)
    r.command("RPUSH", OLD + f"visitor:{vid}:convs", cid)
    msg = r.command("XADD", OLD + f"conv:{cid}", "*", "from", "visitor", "author", vid, "cmid", "m1", "text", text)
    r.command("HSET", OLD + f"visitor:{vid}:cmids", "m1", f"{cid} {msg}")
    r.command("HSET", OLD + f"conv:{cid}:meta", "state", "queued", "visitor", vid, "created", now, "preview", text)
    for queue in ("queue", "queue:to_ack", "queue:to_offer"):
        r.command("ZADD", OLD + queue, now, cid)
    return msg


def seed_old_layout(env):
    """What main's Beckon left in Redis (as observed: agent add, site add, a visitor's message)."""
    r = env.redis
    # written in the new layout by this binary, then moved back to the old names
    added = env.beckon.cli("agent", "add", "alice", "admin", stdin="alice-password-1\n")
    assert added.returncode == 0, added
    env.agents["alice"] = "alice-password-1"
    for name in ("agent:alice", "agents", "agent:alice:sessions"):
        if r.command("EXISTS", GLOBAL_PREFIX + name):
            r.command("RENAME", GLOBAL_PREFIX + name, OLD + name)
    r.command("SADD", OLD + "sites", "shop")
    r.command("HSET", OLD + "site:shop", "origins", json.dumps(["https://shop.example"]), "retention_days", "30")
    r.command("HSET", OLD + "canned", "greet", json.dumps({"shortcut": "hi", "text": "Hej!"}))
    msg = seed_old_visitor(env, VID, CID, "hej fra før")
    r.command("SET", OLD + "queue:marks", "1")
    return msg


def old_keys(env):
    return sorted(k for k in env.redis.command("KEYS", OLD + "*") if "{" not in k)


@T.case("the keys of before are moved into the layout and nothing is lost; a second run moves nothing",
        todo="the migration runs on a single Redis: a cluster refuses RENAME across slots" if Redis.cluster else None)
async def t_migrate(env):
    await env.beckon.stop()
    first = seed_old_layout(env)
    r = env.beckon.cli("keys", "migrate")
    out = r.stdout.decode()
    assert r.returncode == 0, (r.returncode, out, r.stderr.decode())
    assert old_keys(env) == [], old_keys(env)
    unsited = site_prefix("")
    assert env.redis.command("HGET", GLOBAL_PREFIX + "agent:alice", "role") is not None
    assert env.redis.command("SMEMBERS", GLOBAL_PREFIX + "sites") == ["shop"]
    assert env.redis.command("SMEMBERS", site_prefix("shop") + "sites") == ["shop"]
    for prefix in (site_prefix("shop"), GLOBAL_PREFIX):
        assert env.redis.command("HGET", prefix + "site:shop", "retention_days") == "30", prefix
    assert env.redis.command("ZSCORE", unsited + "queue", CID) is not None
    assert env.redis.command("XLEN", unsited + f"conv:{CID}") == 1

    again = env.beckon.cli("keys", "migrate")
    assert again.returncode == 0 and "keys moved: 0;" in again.stdout.decode(), again.stdout.decode()

    await env.beckon.start()
    token = await env.login("alice")
    status, _, data = await http_request(env.beckon.port, "GET", "/api/sites", None,
                                         {"Authorization": "Bearer " + token})
    sites = parse_json_body(data)["sites"]
    assert status == 200 and [s["id"] for s in sites] == ["shop"] and sites[0]["origins"] == ["https://shop.example"]
    status, _, data = await http_request(env.beckon.port, "GET", "/api/canned", None,
                                         {"Authorization": "Bearer " + token})
    assert status == 200 and "greet" in data.decode(), data
    alice = await env.agent("alice")
    assert [q["id"] for q in alice.welcome["queue"]] == [CID], alice.welcome
    history = await alice.expect_reply({"type": "resume", "conversation": CID, "since": "0"}, "history")
    assert [(m["id"], m["text"]) for m in history["messages"]] == [(first, "hej fra før")], history
    await alice.expect_reply({"type": "accept", "conversation": CID}, "ok")
    assert env.redis.command("HGET", unsited + f"conv:{CID}:meta", "agent") == "alice"


def visitor_token(env, vid):
    """The token a Beckon of before gave the visitor (the secret is the data dir's)."""
    with open(os.path.join(env.beckon.data_dir, "secret")) as f:
        secret = bytes.fromhex(f.read().strip())
    mac = hmac.new(secret, f"v1.{vid}".encode(), hashlib.sha256).digest()
    return f"v1.{vid}." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


async def shop_visitor(env, token=None):
    """A visitor of site shop, from its origin."""
    ws = await websockets.connect(f"ws://127.0.0.1:{env.beckon.port}/ws", subprotocols=[VISITOR_PROTO],
                                  origin="https://shop.example", open_timeout=5, close_timeout=2, ping_interval=None)
    c = Client(ws, env.uid("v"), "visitor")
    env.clients.append(c)
    hello = {"type": "hello", "site": "shop", "lang": "da"}
    if token:
        hello["token"] = token
    c.welcome = await c.expect_reply(hello, "welcome")
    return c


@T.case("a visitor of before says hello with its token once sites exist: the same visitor, in the slot of "
        "site \"\", its conversation resumed and continued, the agent's reply pushed to it",
        todo="the migration runs on a single Redis: a cluster refuses RENAME across slots" if Redis.cluster else None)
async def t_visitor_of_before(env):
    vid, cid = "v_0123456789abcdef01234567", "c_89abcdef0123456789abcdef"
    await env.beckon.stop()
    first = seed_old_visitor(env, vid, cid, "er der nogen?")
    r = env.beckon.cli("keys", "migrate")
    assert r.returncode == 0, (r.returncode, r.stdout.decode(), r.stderr.decode())
    unsited = site_prefix("")
    assert env.redis.command("HGET", unsited + f"visitor:{vid}", "conv") == cid
    assert env.redis.command("SMEMBERS", GLOBAL_PREFIX + "sites") == ["shop"], "sites are configured"
    assert site_prefix("shop") != unsited
    await env.beckon.start()

    v = await shop_visitor(env, visitor_token(env, vid))
    assert v.welcome["visitor"] == vid, v.welcome
    assert v.welcome["conversation"] and v.welcome["conversation"]["id"] == cid, v.welcome
    assert v.welcome["conversation"]["last_id"] == first, v.welcome
    assert v.welcome["token"] == visitor_token(env, vid)
    history = await v.expect_reply({"type": "resume", "conversation": cid, "since": "0"}, "history")
    assert [(m["id"], m["text"]) for m in history["messages"]] == [(first, "er der nogen?")], history
    ack = await v.expect_reply({"type": "message", "cmid": "after-1", "text": "hallo igen"}, "ack")
    assert ack["conversation"] == cid, ack
    assert env.redis.command("XLEN", unsited + f"conv:{cid}") == 2
    assert env.redis.command("EXISTS", site_prefix("shop") + f"visitor:{vid}") == 0, "nothing of it in the site's slot"
    # the site's settings that the visitor's scripts read, copied to its slot at the hello
    assert env.redis.command("HGET", unsited + "site:shop", "retention_days") == "30"
    # an agent answers: the reply reaches the visitor on its channel, in the slot of site ""
    alice = await env.agent("alice")
    await alice.expect_reply({"type": "accept", "conversation": cid}, "ok")
    reply = await alice.expect_reply({"type": "message", "conversation": cid, "cmid": "a-1", "text": "ja, her"}, "ack")
    await v.recv_until("message", id=reply["id"])
    # a second tab with the same token is the same visitor
    tab = await shop_visitor(env, v.welcome["token"])
    assert tab.welcome["visitor"] == vid and tab.welcome["conversation"]["id"] == cid, tab.welcome

    # a token of no tag whose visitor is not stored: a new visitor, in the site's own slot
    gone = await shop_visitor(env, visitor_token(env, "v_fedcba9876543210fedcba98"))
    fresh = gone.welcome["visitor"]
    assert fresh.startswith("v_" + site_prefix("shop")[4:8] + "_") and gone.welcome["conversation"] is None, gone.welcome
    assert env.redis.command("EXISTS", site_prefix("shop") + f"visitor:{fresh}") == 1
    # from an origin the site does not allow, a visitor of before is refused as any other
    ws = await websockets.connect(f"ws://127.0.0.1:{env.beckon.port}/ws", subprotocols=[VISITOR_PROTO],
                                  origin="https://evil.example", open_timeout=5, close_timeout=2, ping_interval=None)
    evil = Client(ws, env.uid("v"), "visitor")
    env.clients.append(evil)
    refused = await evil.expect_reply({"type": "hello", "site": "shop", "token": visitor_token(env, vid)}, "error")
    assert refused["code"] == "forbidden", refused


if __name__ == "__main__":
    T.run("key_migration")
