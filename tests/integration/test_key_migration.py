"""`beckon keys migrate`: a Redis holding what a Beckon of before the key layout wrote (keys of no
hash tag, ids of no tag: docs/deployment.md, "Upgrading") is moved into the layout, once, and
nothing is lost: the account logs in, the site is served, the waiting conversation is in the
queue with its messages and can be accepted. Running it again moves nothing."""

import json
import time

from harness import Cases, Redis, http_request, parse_json_body, GLOBAL_PREFIX, site_prefix

T = Cases()

OLD = "bk:"
CID = "c_0123456789abcdef01234567"    # ids as a Beckon of before made them: no tag
VID = "v_89abcdef0123456789abcdef"


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
    now = int(time.time() * 1000)
    r.command("HSET", OLD + f"visitor:{VID}", "created", now, "last_seen", now, "site", "shop", "conv", CID)
    r.command("RPUSH", OLD + f"visitor:{VID}:convs", CID)
    msg = r.command("XADD", OLD + f"conv:{CID}", "*", "from", "visitor", "author", VID, "cmid", "m1",
                    "text", "hej fra før")
    r.command("HSET", OLD + f"visitor:{VID}:cmids", "m1", f"{CID} {msg}")
    r.command("HSET", OLD + f"conv:{CID}:meta", "state", "queued", "visitor", VID, "created", now,
              "preview", "hej fra før")
    for queue in ("queue", "queue:to_ack", "queue:to_offer"):
        r.command("ZADD", OLD + queue, now, CID)
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


if __name__ == "__main__":
    T.run("key_migration")
