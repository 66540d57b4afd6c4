"""Redis Cluster: Beckon's slot routing against a real cluster (tests/integration/cluster.py).

Three masters and three replicas of Debian's redis-server on loopback, cluster-node-timeout 1 s.
Our slot of a key (server/store/redis_cluster.c, driven through cluster_tool) must be the
cluster's own CLUSTER KEYSLOT for keys of every kind; the fixture's failover drill must work
(a master killed, its replica serves its slots again) before anything relies on it.
"""

import asyncio
import os
import random
import subprocess

from cluster import RedisCluster, command, pipeline
from harness import Cases, RedisError, diag

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


@T.case("the fixture's drill: a master killed, its replica serves its slots again, the data with them")
async def test_failover_drill(env):
    cluster = env.redis
    key = b"drill:{failover}"
    slot = cluster.keyslot(key)
    master = cluster.master_of_slot(slot)
    master.command("SET", key, "before")
    assert master.command("WAIT", 1, 2000) >= 1, "the write reached no replica"
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


T.run("cluster", redis=RedisCluster, with_beckon=False, deadline=150)
