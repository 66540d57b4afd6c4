"""Browsing events without a socket (navigator.sendBeacon to POST /api/events), and rules
loaded from a file at start without overwriting what marketers changed since."""

import asyncio
import json
import os
import tempfile
import time

from harness import Cases, http_request, parse_json_body, id_prefix

T = Cases()
RULES = [
    {"id": "file-pricing", "name": "Pricing (from the file)", "priority": 5,
     "when": {"all": [{"page.path": {"glob": "/pricing*"}}, {"page.seconds": {">=": 1}}]},
     "then": {"invite": {"text": "Hej fra filen"}}},
    {"id": "file-blog", "when": {"page.path": {"starts_with": "/blog"}}, "then": {"invite": {"text": "Blog"}}},
]


async def setup(env):
    env.add_agent("alice")
    r = env.beckon.cli("agent", "add", "mia", "marketer", stdin="mia-password\n")
    assert r.returncode == 0, r
    env.agents["mia"] = "mia-password"


async def beacon(env, body):
    status, _, data = await http_request(env.beckon.port, "POST", "/api/events", body)
    return status, parse_json_body(data) if data else None


@T.case("POST /api/events: page views and events with the visitor token are stored; bad ones refused")
async def t_beacon(env):
    v = await env.visitor()
    status, body = await beacon(env, {"type": "page_view", "token": v.token,
                                      "url": "https://shop.example/checkout", "title": "Checkout"})
    assert status == 202 and body == {"ok": True}, (status, body)
    status, _ = await beacon(env, {"type": "event", "token": v.token, "name": "exit_intent", "props": {"y": 3}})
    assert status == 202
    events = env.redis.command("XRANGE", f"{id_prefix(v.visitor_id)}events:{v.visitor_id}", "-", "+")
    kinds = [dict(zip(e[1][::2], e[1][1::2])) for e in events]
    assert any(k.get("url") == "https://shop.example/checkout" for k in kinds), kinds
    assert any(k.get("name") == "exit_intent" for k in kinds), kinds
    alice = await env.agent("alice")
    d = await alice.expect_reply({"type": "visitor", "visitor": v.visitor_id}, "visitor")
    assert d["visitor"]["page"]["url"] == "https://shop.example/checkout", d
    for bad, want in (({"type": "page_view", "url": "https://x.example/"}, 401),
                      ({"type": "page_view", "token": v.token + "x", "url": "https://x.example/"}, 401),
                      ({"type": "message", "token": v.token, "cmid": "c", "text": "no"}, 400),
                      ({"type": "page_view", "token": v.token}, 400)):
        status, body = await beacon(env, bad)
        assert status == want, (bad, status, body)
    status, _, _ = await http_request(env.beckon.port, "POST", "/api/events", b"{not json")
    assert status == 400


@T.case("--rules-file: rules Redis lacks are added at start; a marketer's later change survives a restart")
async def t_rules_file(env):
    path = os.path.join(tempfile.mkdtemp(prefix="beckon-rules-"), "rules.json")
    with open(path, "w") as f:
        json.dump(RULES, f)
    node = await env.new_beckon("file-node", ["--rules-file", path])
    token = await env.login("mia", beckon=node)
    auth = {"Authorization": "Bearer " + token}
    deadline = time.monotonic() + 5        # imported as soon as Redis answers, just after start
    while True:
        status, _, data = await http_request(node.port, "GET", "/api/rules/file-pricing", None, auth)
        if status == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert status == 200, data
    entry = parse_json_body(data)
    assert entry["by"] == "rules-file" and entry["rule"]["then"]["invite"]["text"] == "Hej fra filen", entry
    changed = dict(RULES[0], then={"invite": {"text": "Ændret af en marketingperson"}})
    status, _, data = await http_request(node.port, "PUT", "/api/rules/file-pricing", changed, auth)
    assert status == 200, data
    await node.stop()
    await node.start()
    token = await env.login("mia", beckon=node)
    status, _, data = await http_request(node.port, "GET", "/api/rules/file-pricing", None,
                                         {"Authorization": "Bearer " + token})
    assert parse_json_body(data)["rule"]["then"]["invite"]["text"] == "Ændret af en marketingperson", data
    # and the file's rule works: a visitor on /pricing is invited
    v = await env.visitor(beckon=node, page={"url": "https://shop.example/pricing", "title": "P", "referrer": ""})
    inv = await v.recv_until("invite", timeout=5)
    assert inv["rule"] == "file-pricing" and inv["text"] == "Ændret af en marketingperson", inv


if __name__ == "__main__":
    T.run("beacon", setup=setup)
