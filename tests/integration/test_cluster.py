"""Redis Cluster: Beckon's slot routing against a real cluster (tests/integration/cluster.py).

Three masters and three replicas of Debian's redis-server on loopback, cluster-node-timeout 1 s.
Our slot of a key (server/store/redis_cluster.c, driven through cluster_tool) must be the
cluster's own CLUSTER KEYSLOT for keys of every kind; the fixture's failover drill must work
(a master killed, its replica serves its slots again) before anything relies on it. Then the
store (server/store/store_cluster.c): beckon given the cluster's URL is healthy, and a bk_store
(cluster_tool run) sends each command straight to its slot's master, follows a slot that moves,
and serves a slot again once a replica has taken over from its dead master.

Beckon's scripts declare no key: each takes the prefix of the one slot it touches as its first
argument ("bk:{TAG}:", server/base/keys.h) and is routed by it. Here beckon shows that it starts,
says it is healthy and stops cleanly on a cluster; chat on a cluster is test_cluster_chat.
"""

import asyncio
import collections
import os
import random
import subprocess
import time

from cluster import RedisCluster, command, fields, pipeline
from harness import GLOBAL_PREFIX, Cases, RedisError, diag, http_request, parse_json_body, site_prefix

T = Cases()
TOOL = os.environ.get("BECKON_CLUSTER_TOOL")


def our_slots(keys):
    """bk_cluster_key_slot of each key (bytes), through cluster_tool."""
    assert TOOL and os.access(TOOL, os.X_OK), f"BECKON_CLUSTER_TOOL={TOOL!r} is not an executable"
    out = subprocess.run([TOOL, "slots"], input=b"".join(k.hex().encode() + b"\n" for k in keys),
                         capture_output=True, timeout=30, check=True)
    return [int(x) for x in out.stdout.split()]


def random_keys(rng, count):
    """Keys of every kind: plain, tagged ({tag} anywhere, empty, unclosed, nested, several),
    binary (NUL, 0xff, braces among random bytes), empty, long."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789:_-."
    keys = [b"", b"{", b"}", b"{}", b"}{", b"{{}}", b"{}{}", b"\x00", b"\xff" * 3]
    while len(keys) < count:
        kind = rng.randrange(6)
        word = lambda n: bytes(rng.choice(alphabet) for _ in range(n))
        if kind == 0:
            keys.append(word(rng.randrange(1, 40)))
        elif kind == 1:
            keys.append(word(rng.randrange(0, 10)) + b"{" + word(rng.randrange(0, 12)) + b"}" +
                        word(rng.randrange(0, 10)))
        elif kind == 2:
            keys.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))))
        elif kind == 3:  # braces thrown among random bytes, often
            raw = [rng.choice([0x7B, 0x7D, rng.randrange(256)]) for _ in range(rng.randrange(1, 30))]
            keys.append(bytes(raw))
        elif kind == 4:  # the shapes Beckon's keys will have: prefix, tag, rest
            keys.append(b"bk:{" + word(rng.randrange(1, 20)) + b"}:" + word(rng.randrange(0, 20)))
        else:
            keys.append(word(rng.randrange(200, 600)))
    return keys


@T.case("our slot of 4 000 random keys (tags, binary bytes, empty, long) is the cluster's CLUSTER KEYSLOT")
async def test_keyslot_oracle(env):
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    keys = random_keys(rng, 4000)
    ours = await asyncio.to_thread(our_slots, keys)
    node = env.redis.live()[0]
    theirs = await asyncio.to_thread(pipeline, node.port, [("CLUSTER", "KEYSLOT", k) for k in keys], 30)
    assert len(ours) == len(keys) == len(theirs)
    wrong = [(k, o, t) for k, o, t in zip(keys, ours, theirs) if o != t]
    assert not wrong, f"seed {seed}: {len(wrong)} keys differ, e.g. {wrong[:5]}"
    assert len(set(ours)) > 2000, "the keys spread over the slots"


def cli(env, *args, stdin="", prefix=None):
    """`beckon ARGS` on the cluster (the harness's --redis is the cluster's seeds)."""
    extra = ["--prefix", prefix] if prefix else []
    r = subprocess.run(env.beckon.base_args() + extra + list(args), input=stdin.encode(), capture_output=True,
                       timeout=30)
    return r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace")


# Before the drills, as these cases log in through the server: after the SIGSTOP drill the
# server's slot map may still name the frozen master, now a replica, and a script sent there is
# refused as touching a "non local key", which the store does not take for a redirection.
@T.case("the one-shot commands on a cluster: the first admin added by `beckon agent add` logs in; a site "
        "added and set by `beckon site` is written to its slot and the global one, and listed by REST")
async def test_cli(env):
    cluster = env.redis
    rc, out, err = cli(env, "agent", "add", "root", "admin", stdin="root-password-1\n")
    assert rc == 0 and "added admin root" in out, (rc, out, err)
    env.agents["root"] = "root-password-1"
    token = await env.login("root")
    global_master = cluster.master_of_slot(cluster.keyslot(GLOBAL_PREFIX))
    # a site whose slot is on another master than the global slot: its two writes go to two masters
    site = next(f"cli{i}" for i in range(1000)
                if cluster.master_of_slot(cluster.keyslot(site_prefix(f"cli{i}"))) is not global_master)
    site_master = cluster.master_of_slot(cluster.keyslot(site_prefix(site)))
    rc, out, err = cli(env, "site", "add", site, f"https://{site}.example")
    assert rc == 0 and f"saved site {site}" in out, (rc, out, err)
    rc, out, err = cli(env, "site", "set", site, "consent", "required")
    assert rc == 0, (rc, out, err)
    for master, prefix in ((site_master, site_prefix(site)), (global_master, GLOBAL_PREFIX)):
        assert master.command("HGET", prefix + "site:" + site, "consent_required") == "1", (master, prefix)
        assert site in master.command("SMEMBERS", prefix + "sites"), (master, prefix)
    status, _, data = await http_request(env.beckon.port, "GET", "/api/sites", None,
                                         {"Authorization": "Bearer " + token})
    sites = {s["id"]: s for s in parse_json_body(data).get("sites", [])}
    assert status == 200 and site in sites, (status, data[:300])
    assert sites[site]["origins"] == [f"https://{site}.example"] and sites[site]["consent_required"] is True, sites[site]
    rc, out, err = cli(env, "site", "list")
    assert rc == 0 and any(line.startswith(site + "\t") and "consent=required" in line for line in out.splitlines()), \
        (rc, out, err)
    # the other verbs: an agent added, its password changed, listed, removed
    rc, out, err = cli(env, "agent", "add", "temp", stdin="temp-password-1\n")
    assert rc == 0, (rc, out, err)
    rc, out, err = cli(env, "agent", "passwd", "temp", stdin="temp-password-2\n")
    assert rc == 0 and "changed the password of temp" in out, (rc, out, err)
    assert await env.login("temp", "temp-password-2")
    rc, out, err = cli(env, "agent", "list")
    assert rc == 0 and set(out.splitlines()) >= {"root\tadmin", "temp\tagent"}, (rc, out, err)
    rc, out, err = cli(env, "agent", "remove", "temp")
    assert rc == 0 and global_master.command("EXISTS", GLOBAL_PREFIX + "agent:temp") == 0, (rc, out, err)
    rc, out, err = cli(env, "site", "remove", site)
    assert rc == 0 and site_master.command("EXISTS", site_prefix(site) + "site:" + site) == 0, (rc, out, err)
    assert global_master.command("EXISTS", GLOBAL_PREFIX + "site:" + site) == 0
    # the migration of the keys of before runs on one Redis only
    rc, out, err = cli(env, "keys", "migrate")
    assert rc == 2 and "single Redis" in err, (rc, out, err)


@T.case("the one-shot commands follow ASK: a key that a slot in migration has moved is read on the node importing it")
async def test_cli_ask(env):
    cluster = env.redis
    # A prefix with a hash tag of its own puts every key in one slot, which the running beckon
    # (prefix bk:) does not use.
    prefix = "{clitest}:"
    slot = cluster.keyslot(prefix)
    source = cluster.master_of_slot(slot)
    target = next(n for n in cluster.masters() if n is not source)
    key = prefix + "{g}:agent:moved"
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id())
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id())
    try:
        # the account is on the importing node only, as if migrated there already
        replies = pipeline(target.port, [("ASKING",), ("HSET", key, "name", "moved", "role", "agent")])
        assert replies == ["OK", 2], replies
        asks = lambda: int(fields(source.command("INFO", "errorstats")).get("errorstat_ASK", "count=0")
                           .split(",")[0].split("=")[1])
        before = asks()
        rc, out, err = cli(env, "agent", "add", "moved", stdin="moved-password-1\n", prefix=prefix)
        assert rc == 1 and "agent moved exists already" in err, (rc, out, err)
        assert asks() == before + 1, "the source answered ASK once, and the command went on to the target"
    finally:
        pipeline(target.port, [("ASKING",), ("DEL", key)])
        for n in (source, target):
            n.command("CLUSTER", "SETSLOT", slot, "STABLE")


@T.case("the fixture's drill: a master killed, its replica serves its slots again, the data with them")
async def test_failover_drill(env):
    cluster = env.redis
    key = b"drill:{failover}"
    slot = cluster.keyslot(key)
    master = cluster.master_of_slot(slot)
    # WAIT counts the replicas that have this connection's writes: the same connection.
    written, replicas = pipeline(master.port, [("SET", key, "before"), ("WAIT", 1, 2000)])
    assert written == "OK" and replicas >= 1, f"the write reached no replica ({written}, {replicas})"
    seconds, promoted = await asyncio.to_thread(cluster.fail_master, master)
    diag(f"SIGKILL of {master}: {promoted} took over in {seconds:.2f} s "
         f"(cluster-node-timeout {cluster.node_timeout_ms} ms)")
    assert promoted is not master
    assert promoted.command("GET", key) == "before", "the replicated write is on the new master"
    assert promoted.command("SET", key, "after") == "OK", "the slot takes writes again"
    try:
        command(cluster.live()[0].port if cluster.live()[0] is not promoted else cluster.live()[1].port,
                "SET", key, "x")
        raise AssertionError("another master took a write for a slot it does not serve")
    except RedisError as e:
        assert str(e).startswith(f"MOVED {slot} 127.0.0.1:{promoted.port}"), str(e)
    await asyncio.to_thread(cluster.restart, master)
    role = master.command("ROLE")
    assert role[0] == "slave" and int(role[2]) == promoted.port, f"the old master came back as {role}"


@T.case("the fixture's drill with SIGSTOP: a frozen master is replaced, and comes back a replica")
async def test_stopped_master(env):
    cluster = env.redis
    master = cluster.masters()[0]
    seconds, promoted = await asyncio.to_thread(cluster.fail_master, master, "stop")
    diag(f"SIGSTOP of {master}: {promoted} took over in {seconds:.2f} s")
    await asyncio.to_thread(cluster.restart, master)
    role = master.command("ROLE")
    assert role[0] == "slave", f"the frozen master, continued, is {role}"


# --- the store -----------------------------------------------------------------------------


def tool_run(cluster, keys, *options, timeout=60):
    """cluster_tool run: {round: {key: answer}} and the lines it printed that were not answers."""
    assert TOOL and os.access(TOOL, os.X_OK), f"BECKON_CLUSTER_TOOL={TOOL!r} is not an executable"
    out = subprocess.run([TOOL, "run", cluster.url, *options, *[k.decode() for k in keys]],
                         capture_output=True, timeout=timeout)
    rounds, other = collections.defaultdict(dict), []
    for line in out.stdout.decode(errors="replace").splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0].isdigit():
            rounds[int(parts[0])][bytes.fromhex(parts[1])] = parts[2]
        else:
            other.append(line)
    assert out.returncode == 0, f"cluster_tool exited {out.returncode}: {out.stderr.decode(errors='replace')[-2000:]}"
    return rounds, other + out.stderr.decode(errors="replace").splitlines()


def redirections(cluster):
    """MOVED and ASK replies the live nodes gave since their stats were reset."""
    total = collections.Counter()
    for n in cluster.live():
        for name, value in fields(n.command("INFO", "errorstats")).items():
            if name in ("errorstat_MOVED", "errorstat_ASK"):
                total[name[10:]] += int(value.split("=")[1].split(",")[0])
    return total


def reset_stats(cluster):
    for n in cluster.live():
        n.command("CONFIG", "RESETSTAT")


def spread_keys(count, rng):
    """Keys over every master: plain, tagged, binary-free (they go through argv)."""
    return [f"probe:{i}:{rng.randrange(1 << 30)}".encode() if i % 3 else f"bk:{{site{i}}}:x".encode()
            for i in range(count)]


@T.case("beckon given redis+cluster:// is healthy: /healthz says redis up")
async def test_beckon_healthy(env):
    # The drills before leave beckon's link to the node that was stopped reconnecting (backoff up
    # to 2 s) when the cluster is whole again.
    await env.beckon.wait_healthy(5)
    status, _, data = await http_request(env.beckon.port, "GET", "/healthz")
    body = parse_json_body(data)
    assert status == 200 and body.get("redis") == "up", f"/healthz {status} {body}"
    with open(env.beckon.log, errors="replace") as f:
        log = f.read()
    assert "redis cluster: slot map from" in log and "3 masters" in log, "beckon learnt the slot map"


@T.case("a script declaring its key runs on the master of the key's slot, with no redirection")
async def test_script_routed(env):
    cluster = env.redis
    keys = spread_keys(300, random.Random(7))
    reset_stats(cluster)
    rounds, _ = await asyncio.to_thread(tool_run, cluster, keys)
    answers = rounds[0]
    assert len(answers) == len(keys), f"{len(answers)} answers for {len(keys)} keys"
    ranges = cluster.slots()
    owner = lambda slot: next(port for first, last, port, _ in ranges if first <= slot <= last)
    slots = dict(zip(keys, await asyncio.to_thread(our_slots, keys)))
    wrong = [(k, a, owner(slots[k])) for k, a in answers.items() if a != str(owner(slots[k]))]
    assert not wrong, f"{len(wrong)} keys ran elsewhere (key, answer, owner): {wrong[:5]}"
    assert len(set(answers.values())) == 3, "the keys spread over the 3 masters"
    assert sum(redirections(cluster).values()) == 0, f"redirections: {redirections(cluster)}"
    # and the commands (bk_store_command: the key is argv[1])
    rounds, _ = await asyncio.to_thread(tool_run, cluster, keys[:60], "--command")
    assert set(rounds[0].values()) == {"OK"}, f"SET answers: {collections.Counter(rounds[0].values())}"
    for k in keys[:60]:
        assert command(owner(slots[k]), "GET", k) == "0", f"{k!r} is on its slot's master"
    assert sum(redirections(cluster).values()) == 0, f"redirections: {redirections(cluster)}"


@T.case("a script declaring no key runs on the master of its first argument's slot (a slot's prefix), with no redirection")
async def test_prefix_routed(env):
    cluster = env.redis
    prefixes = [f"bk:{{{i:04x}}}:".encode() for i in range(0, 65536, 331)]
    reset_stats(cluster)
    rounds, _ = await asyncio.to_thread(tool_run, cluster, prefixes, "--prefix")
    answers = rounds[0]
    assert len(answers) == len(prefixes), f"{len(answers)} answers for {len(prefixes)} prefixes"
    ranges = cluster.slots()
    owner = lambda slot: next(port for first, last, port, _ in ranges if first <= slot <= last)
    wrong = [(p, a) for p, a in answers.items() if a != str(owner(cluster.keyslot(p)))]
    assert not wrong, f"{len(wrong)} scripts ran elsewhere (prefix, answer): {wrong[:5]}"
    assert len(set(answers.values())) == 3, "the prefixes spread over the 3 masters"
    assert sum(redirections(cluster).values()) == 0, f"redirections: {redirections(cluster)}"


@T.case("a slot moved while the store runs: ASK during the migration, then MOVED, followed; never unavailable")
async def test_slot_moves(env):
    cluster = env.redis
    key = b"moving:{m}"
    slot = cluster.keyslot(key)
    source = cluster.master_of_slot(slot)
    target = next(n for n in cluster.masters() if n is not source)
    new_key = b"moving:{m}:new"  # same slot; removed from the source once the migration starts
    reset_stats(cluster)
    task = asyncio.create_task(asyncio.to_thread(tool_run, cluster, [key, new_key], "--for", "2500"))
    await asyncio.sleep(0.6)
    source_id, target_id = source.node_id(), target.node_id()
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    # A key the migrating source lacks is the importing target's to create: ASK.
    source.command("DEL", new_key)
    await asyncio.sleep(0.5)
    for k in source.command("CLUSTER", "GETKEYSINSLOT", slot, 100):
        source.command("MIGRATE", "127.0.0.1", target.port, k, 0, 5000)
    for n in cluster.masters() + [target]:
        n.command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
    rounds, _ = await task
    seen = collections.Counter(a for r in rounds.values() for a in r.values())
    assert set(seen) <= {str(source.port), str(target.port)}, f"answers {seen}"
    last = rounds[max(rounds)]
    assert last == {key: str(target.port), new_key: str(target.port)}, f"the last round: {last}"
    counts = redirections(cluster)
    assert counts["MOVED"] >= 1 and counts["ASK"] >= 1, f"a MOVED and an ASK were met and followed: {counts}"
    diag(f"answers {dict(seen)}; redirections {dict(counts)}")


@T.case("TRYAGAIN (two keys, one missing, in a slot in migration) is sent again, a few times, then answered")
async def test_tryagain(env):
    cluster = env.redis
    key = b"pair:{tryagain}"
    slot = cluster.keyslot(key)
    source = cluster.master_of_slot(slot)
    target = next(n for n in cluster.masters() if n is not source)
    source.command("SET", key, "there")  # key:pair is not: one of the two keys is missing
    source.command("DEL", key + b":pair")
    reset_stats(cluster)
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id())
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id())
    try:
        started = time.monotonic()
        rounds, _ = await asyncio.to_thread(tool_run, cluster, [key], "--pair")
        took = time.monotonic() - started
    finally:
        for n in (source, target):
            n.command("CLUSTER", "SETSLOT", slot, "STABLE")
    answer = rounds[0][key]
    assert answer.startswith("error: TRYAGAIN"), f"answered {answer!r}"
    tries = fields(source.command("INFO", "errorstats")).get("errorstat_TRYAGAIN", "count=0")
    assert tries.split(",")[0] == "count=5", f"sent once and again 4 times: {tries}"
    diag(f"TRYAGAIN answered after 4 more tries; the tool ran {took:.2f} s")
    rounds, _ = await asyncio.to_thread(tool_run, cluster, [key], "--pair")
    assert rounds[0][key] == str(source.port), f"the slot stable again: {rounds[0]}"


@T.case("a master killed under traffic: its slots unavailable until the replica takes over, then served there")
async def test_store_failover(env):
    cluster = env.redis
    keys = spread_keys(30, random.Random(11))
    slots = dict(zip(keys, await asyncio.to_thread(our_slots, keys)))
    victim = cluster.master_of_slot(slots[keys[1]])
    task = asyncio.create_task(asyncio.to_thread(tool_run, cluster, keys, "--for", "7000"))
    await asyncio.sleep(1.0)
    health = []

    async def watch_health():
        while not task.done():
            try:
                status, _, _ = await http_request(env.beckon.port, "GET", "/healthz", timeout=1)
            except Exception:
                status = None
            health.append((time.monotonic(), status))
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch_health())
    killed_at = time.monotonic()
    seconds, promoted = await asyncio.to_thread(cluster.fail_master, victim)
    rounds, lines = await task
    await watcher
    victim_keys = [k for k in keys if cluster.master_of_slot(slots[k]) is promoted]
    assert victim_keys, "some keys were the killed master's"
    last = rounds[max(rounds)]
    assert all(last[k] == str(promoted.port) for k in victim_keys), f"the last round: {last}"
    assert all(a.isdigit() for a in last.values()), f"the last round all served: {last}"
    outages = collections.Counter()
    for r in rounds.values():
        for k, a in r.items():
            if not a.isdigit():
                kind = " ".join(a.split(" ")[:2]) if a.startswith("error") else a
                outages[kind + (" (its slot)" if k in victim_keys else " (other slots)")] += 1
    down = [t for t, status in health if status != 200]
    up_again = next((t for t, status in health if t > (down[-1] if down else 0) and status == 200), None)
    diag(f"{victim} killed: cluster failover {seconds:.2f} s; answers not served, by kind: {dict(outages)}; "
         f"beckon /healthz not 200 for {(down[-1] - down[0]) if down else 0:.2f} s, "
         f"200 again {(up_again - killed_at) if up_again else -1:.2f} s after the kill")
    assert up_again is not None, "beckon's /healthz came back to 200"
    await asyncio.to_thread(cluster.restart, victim)


T.run("cluster", redis=RedisCluster, deadline=170)
