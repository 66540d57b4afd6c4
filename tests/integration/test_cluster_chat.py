"""Chat on a real Redis Cluster with the key layout: two sites whose slots are on two masters.

Three masters and three replicas (tests/integration/cluster.py), two beckon nodes with the default
prefix `bk:` and one secret. Every key of a site is in its slot (`bk:{TAG}:`, TAG from the site
id), accounts, rules and presence in the global slot (`bk:{g}:`), and every script runs in one
slot, routed by its first argument (docs/architecture.md, "Redis keys"). Two sites are picked
whose slots are on two different masters, neither of them the global slot's. The accounts are
added by `beckon agent add` on the cluster; one site by PUT /api/sites, the other by `beckon site add`.

- visitors of both sites chat with agents on the other node: every message acknowledged,
  delivered on the other node, and in the history;
- a trigger rule in the global slot invites a visitor of a site on a page view;
- the failover drill: the master of one site's slot is killed while both sites' visitors write,
  on a cluster set with `cluster-require-full-coverage no` (else every node refuses every command
  while a slot has no master, and no site carries on).
  The other site's messages are acknowledged throughout; the killed site's get `unavailable` at
  most while its slot moves, then are acknowledged when resent with the same cmid; clients told
  to `resync` resume by themselves; every acknowledged id is in the history afterwards.
"""

import asyncio
import hashlib
import json
import time

import websockets

from cluster import RedisCluster
from harness import VISITOR_PROTO, Cases, Client, diag, http_request, parse_json_body, full_history

T = Cases()


class PartialCluster(RedisCluster):
    """A cluster that serves the slots it has while others have no master: by default
    (cluster-require-full-coverage yes) every node refuses every command from when a master is
    found failed until its replica is promoted, whatever the slot, and no site could carry on
    (docs/deployment.md says to set it so)."""
    node_config = ("--cluster-require-full-coverage", "no")

SECRET = "d4" * 32
NODE_ARGS = ["--secret", SECRET, "--rate-messages-per-second", "1000", "--rate-burst", "1000"]
PASSWORD = "pw-cluster-chat-secret"
GLOBAL = "bk:{g}:"


def site_prefix(site):
    return "bk:{" + hashlib.sha256(site.encode()).hexdigest()[:4] + "}:"


def master_of(cluster, prefix):
    return cluster.master_of_slot(cluster.keyslot(prefix))


def pick_sites(cluster):
    """Two site ids whose slots are on two masters other than the global slot's, or as near as
    three masters allow (the second may share the global slot's)."""
    global_master = master_of(cluster, GLOBAL)
    first = next(f"site{i}" for i in range(1000) if master_of(cluster, site_prefix(f"site{i}")) is not global_master)
    taken = {master_of(cluster, site_prefix(first)), global_master}
    second = next((f"site{i}" for i in range(1000) if master_of(cluster, site_prefix(f"site{i}")) not in taken), None)
    if second is None:
        second = next(f"site{i}" for i in range(1000)
                      if master_of(cluster, site_prefix(f"site{i}")) is not master_of(cluster, site_prefix(first)))
    return first, second


def add_account(env, name, role):
    """`beckon agent add NAME ROLE` on the cluster."""
    r = env.beckon.cli("agent", "add", name, role, stdin=PASSWORD + "\n")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)


async def login(beckon, name):
    status, _, data = await http_request(beckon.port, "POST", "/api/login", {"name": name, "password": PASSWORD})
    assert status == 200, f"login {name}: {status} {data[:200]!r}"
    return parse_json_body(data)["token"]


async def agent(env, beckon, name):
    token = await login(beckon, name)
    c = await env.connect("agent", name=name, beckon=beckon)
    w = await c.expect_reply({"type": "hello", "token": token}, "welcome")
    c.welcome = w
    return c


async def visitor(env, beckon, site, token=None, page=None):
    """A visitor of `site` from its origin."""
    ws = await websockets.connect(f"ws://127.0.0.1:{beckon.port}/ws", subprotocols=[VISITOR_PROTO],
                                  origin=f"https://{site}.example", open_timeout=5, close_timeout=2,
                                  ping_interval=None)
    c = Client(ws, env.uid("v"), "visitor")
    env.clients.append(c)
    hello = {"type": "hello", "site": site, "lang": "en"}
    if page:
        hello["page"] = page
    if token:
        hello["token"] = token
    w = await c.expect_reply(hello, "welcome")
    c.visitor_id, c.token, c.welcome = w["visitor"], w["token"], w
    return c


async def until(what, check, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


async def message(client, text, cmid, conversation=None, window=20.0):
    """Send until acknowledged: `unavailable` (the slot moving) resent with the same cmid.
    Returns (ack, how many unavailable, seconds from the first unavailable to the ack)."""
    msg = {"type": "message", "cmid": cmid, "text": text}
    if conversation:
        msg["conversation"] = conversation
    refused, first = 0, None
    deadline = time.monotonic() + window
    while True:
        r = await client.request(msg, timeout=10)
        if r.get("type") == "ack":
            return r, refused, (time.monotonic() - first) if first else 0.0
        assert r.get("type") == "error" and r.get("code") == "unavailable", f"{client.name}: {r}"
        refused += 1
        first = first or time.monotonic()
        assert time.monotonic() < deadline, f"{client.name}: still unavailable after {window}s"
        await asyncio.sleep(0.1)


async def accept(agent_client, conversation):
    await agent_client.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conversation, timeout=10)
    await agent_client.expect_reply({"type": "accept", "conversation": conversation}, "ok")


class World:
    sites = None
    b = None


async def setup(env):
    if World.sites:
        return World
    cluster = env.redis
    World.sites = pick_sites(cluster)
    add_account(env, "admin", "admin")
    add_account(env, "alice", "agent")
    add_account(env, "bob", "agent")
    token = await login(env.beckon, "admin")
    # one site through REST, the other through the shell: both write its slot and the global one
    one, two = World.sites
    status, _, data = await http_request(env.beckon.port, "PUT", f"/api/sites/{one}",
                                         {"origins": [f"https://{one}.example"]},
                                         {"Authorization": "Bearer " + token})
    assert status == 200, f"PUT site {one}: {status} {data[:200]!r}"
    r = env.beckon.cli("site", "add", two, f"https://{two}.example")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    World.b = await env.new_beckon("b", extra_args=NODE_ARGS)
    # both nodes know the sites' slots (their list, read each second): their to:nodes there
    for site in World.sites:
        channel = site_prefix(site) + "to:nodes"
        await until(f"both nodes subscribe {channel}",
                    lambda: int(master_of(cluster, site_prefix(site)).command("PUBSUB", "SHARDNUMSUB", channel)[1]) == 2)
    diag("sites " + ", ".join(f"{s} ({site_prefix(s)} on {master_of(cluster, site_prefix(s))})" for s in World.sites)
         + f"; the global slot on {master_of(cluster, GLOBAL)}")
    return World


async def chats(env, w):
    """Alice on B answers a visitor of the first site on A, bob on A one of the second on B; five
    messages each way in each chat, each delivered on the other node. Returns the clients, the
    conversations and the ids acknowledged in each."""
    a, b = env.beckon, w.b
    one, two = w.sites
    alice = await agent(env, b, "alice")  # on B
    bob = await agent(env, a, "bob")      # on A
    v1 = await visitor(env, a, one)       # site one, on A: alice on B answers
    v2 = await visitor(env, b, two)       # site two, on B: bob on A answers
    assert v1.visitor_id.startswith("v_" + site_prefix(one)[4:8] + "_"), v1.visitor_id
    assert v2.visitor_id.startswith("v_" + site_prefix(two)[4:8] + "_"), v2.visitor_id
    ack1, _, _ = await message(v1, "hello from one", "c1-1")
    ack2, _, _ = await message(v2, "hello from two", "c2-1")
    c1, c2 = ack1["conversation"], ack2["conversation"]
    assert c1.startswith("c_" + site_prefix(one)[4:8] + "_") and c2.startswith("c_" + site_prefix(two)[4:8] + "_")
    await accept(alice, c1)
    await accept(bob, c2)
    await v1.recv_until("conversation", id=c1, state="active")
    await v2.recv_until("conversation", id=c2, state="active")
    acked = {c1: [ack1["id"]], c2: [ack2["id"]]}
    for i in range(5):
        r, _, _ = await message(alice, f"alice {i}", f"ca-{i}", conversation=c1)
        acked[c1].append(r["id"])
        await v1.recv_until("message", id=r["id"])
        r, _, _ = await message(v1, f"v1 {i}", f"c1-x{i}")
        acked[c1].append(r["id"])
        await alice.recv_until("message", id=r["id"])
        r, _, _ = await message(bob, f"bob {i}", f"cb-{i}", conversation=c2)
        acked[c2].append(r["id"])
        await v2.recv_until("message", id=r["id"])
        r, _, _ = await message(v2, f"v2 {i}", f"c2-x{i}")
        acked[c2].append(r["id"])
        await bob.recv_until("message", id=r["id"])
    return v1, v2, alice, bob, c1, c2, acked


async def history_has(client, conv, acked):
    msgs, _ = await full_history(client, conv)
    ids = {m["id"] for m in msgs}
    missing = [i for i in acked if i not in ids]
    assert not missing, f"{client.name}: {len(missing)} acked ids not in {conv}'s history: {missing[:5]}"


@T.case("two sites on two masters: visitors chat with agents on the other node (acked, delivered, history)")
async def t_chat(env):
    w = await setup(env)
    v1, v2, alice, bob, c1, c2, acked = await chats(env, w)
    for client, conv in ((v1, c1), (v2, c2), (alice, c1), (bob, c2)):
        await history_has(client, conv, acked[conv])


@T.case("a trigger rule of the global slot invites a visitor of a site on a page view")
async def t_invite(env):
    w = await setup(env)
    cluster = env.redis
    rule = {"id": "pricing", "when": {"page.path": {"glob": "/pricing*"}},
            "then": {"invite": {"text": "Questions about the prices?"}}}
    master = master_of(cluster, GLOBAL)
    master.command("HSET", GLOBAL + "rules", rule["id"], json.dumps(rule))
    master.command("SPUBLISH", GLOBAL + "to:nodes", "!rules")
    await asyncio.sleep(0.5)
    two = w.sites[1]
    v = await visitor(env, w.b, two, page={"url": f"https://{two}.example/pricing", "title": "Pricing",
                                           "referrer": ""})
    m = await v.recv_until("invite", timeout=5)
    assert m.get("rule") == "pricing" and m.get("invitation", "").startswith("i_"), m
    slot = site_prefix(two)
    assert master_of(cluster, slot).command("EXISTS", slot + "invitation:" + m["invitation"]) == 1, \
        "the invitation is in the visitor's site's slot"
    await v.expect_reply({"type": "invite_dismissed", "invitation": m["invitation"]}, "ok")
    master.command("HDEL", GLOBAL + "rules", rule["id"])
    master.command("SPUBLISH", GLOBAL + "to:nodes", "!rules")


@T.case("failover: the master of one site's slot killed mid-traffic; the other site carries on, the killed one's clients recover, no acked message lost", timeout=120)
async def t_failover(env):
    w = await setup(env)
    cluster = env.redis
    v1, v2, alice, bob, c1, c2, acked = await chats(env, w)
    one, two = w.sites
    victim = master_of(cluster, site_prefix(one))
    assert victim is not master_of(cluster, site_prefix(two)) and victim is not master_of(cluster, GLOBAL)
    stop = asyncio.Event()
    stats = {"one": [0, 0.0], "two": [0, 0.0]}  # unavailable answers, longest outage seen

    async def writer(client, conv, key, tag, agent=False):
        i = 0
        while not stop.is_set():
            r, refused, outage = await message(client, f"{tag} {i}", f"{tag}-{i}", conversation=conv if agent else None,
                                               window=30)
            acked[conv].append(r["id"])
            stats[key][0] += refused
            stats[key][1] = max(stats[key][1], outage)
            i += 1
            await asyncio.sleep(0.05)

    tasks = [asyncio.create_task(writer(v1, c1, "one", "f1")), asyncio.create_task(writer(v2, c2, "two", "f2")),
             asyncio.create_task(writer(bob, c2, "two", "fb", agent=True))]
    await asyncio.sleep(1.0)
    seconds, promoted = await asyncio.to_thread(cluster.fail_master, victim)
    await asyncio.sleep(3.0)  # traffic after the promotion too
    stop.set()
    await asyncio.gather(*tasks)
    diag(f"{victim} ({site_prefix(one)}) killed, {promoted} promoted in {seconds:.2f} s; "
         f"site {one}: {stats['one'][0]} unavailable, longest {stats['one'][1]:.2f} s until acked; "
         f"site {two}: {stats['two'][0]} unavailable")
    assert stats["two"][0] == 0, f"the other site's messages were refused {stats['two'][0]} times"
    # the clients whose channels were on the killed master were told to resync; they resume
    for client in (v1, alice):
        await client.recv_until("resync", timeout=15)
    for client, conv in ((v1, c1), (alice, c1), (v2, c2), (bob, c2)):
        await history_has(client, conv, acked[conv])
    # and the bus carries the killed site's messages again
    r, refused, _ = await message(alice, "after the failover", "ca-after", conversation=c1)
    await v1.recv_until("message", id=r["id"], timeout=10)
    await asyncio.to_thread(cluster.restart, victim)


T.run("cluster_chat", redis=PartialCluster, beckon_args=NODE_ARGS, deadline=170)
