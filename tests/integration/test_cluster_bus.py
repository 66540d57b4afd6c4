"""The bus on a Redis Cluster: a bus link per master, each channel on its slot's master.

A cluster routes a shard channel (SSUBSCRIBE, SPUBLISH) by its slot, as a key: a node refuses a
channel of a slot it does not serve (MOVED), a slot that leaves a node takes its subscriptions
along (the node says `sunsubscribe`, or it is dead), and a failover leaves them on a node that is
gone. The store (server/store/store_bus.c) keeps a bus link per master of its slot map and
subscribes each channel on its slot's master's, again wherever the map says after a change.

Three masters and three replicas (tests/integration/cluster.py). First the store alone, through
cluster_tool's `bus` (a bk_store whose bus subscribes the channels given, as a node does for its
sockets): channels on every master, a master killed, a slot migrated, a master stopped. Then
beckon nodes: two with the default prefix, whose own channels live in the global slot (`bk:{g}:`,
heartbeat.lua publishes from there) and come back after a failover; and two with the prefix
`{bk}:`, a hash tag of the operator's own that wins over the layout's (the first `{...}` of a
key is its hash tag) and puts every key and channel in one slot: their visitors are told to
resync after the failover of that slot's master, and a message crosses from one node to the other
again. Chat with the layout's slots, two sites on two masters, is test_cluster_chat.
"""

import asyncio
import collections
import os
import queue
import re
import subprocess
import threading
import time

from cluster import RedisCluster, fields
from harness import Cases, _register, diag, http_request, send_message

T = Cases()
TOOL = os.environ.get("BECKON_CLUSTER_TOOL")
SECRET = "c7" * 32
# {bk}: every key and channel in the slot of "bk" (the operator's hash tag comes first, so the
# layout's own tags do not count: everything runs on one master); one secret
# for both nodes, so that a token of one verifies on the other.
TAGGED_ARGS = ["--prefix", "{bk}:", "--secret", SECRET]


class BusTool:
    """cluster_tool bus URL CHANNEL...: its events ("state C B", "subscribed CH", "message CH P")."""

    def __init__(self, cluster, channels):
        assert TOOL and os.access(TOOL, os.X_OK), f"BECKON_CLUSTER_TOOL={TOOL!r} is not an executable"
        self.proc = subprocess.Popen([TOOL, "bus", cluster.url, *channels], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=dict(os.environ, CLUSTER_TOOL_LOG="info"))
        _register(self.proc)
        self.events = []  # (monotonic time, line)
        self.log = []
        self.lock = threading.Lock()
        self.changed = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout, self.events), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.log), daemon=True).start()

    def _read(self, stream, into):
        for raw in stream:
            with self.lock:
                into.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    def lines(self, since=0.0, prefix=""):
        with self.lock:
            return [line for t, line in self.events if t >= since and line.startswith(prefix)]

    async def until(self, what, check, timeout=15.0):
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                with self.lock:
                    tail = "\n".join(line for _, line in self.events[-30:] + self.log[-30:])
                raise AssertionError(f"not within {timeout}s: {what}\n{tail}")
            await asyncio.sleep(0.02)

    def bus_up(self):
        states = self.lines(prefix="state ")
        return bool(states) and states[-1].split()[2] == "1"

    def send(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    async def close(self):
        if self.proc.poll() is None:
            self.send("quit")
            rc = await asyncio.to_thread(self.proc.wait, 10)
            assert rc == 0, f"cluster_tool bus exited {rc}"


def shard_channels(node):
    return set(node.command("PUBSUB", "SHARDCHANNELS"))


def spread_channels(cluster, per_master=3, prefix="bk:to:v:v_"):
    """Channel names with per_master of them on each master's slots."""
    by_master = collections.defaultdict(list)
    i = 0
    masters = cluster.masters()
    while any(len(by_master[m.port]) < per_master for m in masters):
        name = f"{prefix}{i}"
        port = cluster.master_of_slot(cluster.keyslot(name)).port
        if len(by_master[port]) < per_master:
            by_master[port].append(name)
        i += 1
    return by_master


async def subscriptions_placed(cluster, tool, channels):
    """Each channel subscribed on its slot's master and on no other node."""
    def placed():
        held = {n.port: shard_channels(n) for n in cluster.live()}
        return all(ch in held[cluster.master_of_slot(cluster.keyslot(ch)).port] and
                   sum(ch in chans for chans in held.values()) == 1 for ch in channels)
    await tool.until("every channel subscribed on its slot's master only", placed)


async def messages_reach(cluster, tool, channels, text):
    since = time.monotonic()
    for ch in channels:
        owner = cluster.master_of_slot(cluster.keyslot(ch))
        assert owner.command("SPUBLISH", ch, text) == 1, f"{ch}: SPUBLISH on {owner} reached no subscriber"
    await tool.until(f"every '{text}' received",
                     lambda: set(tool.lines(since, "message ")) >= {f"message {ch} {text}" for ch in channels})


# --- the store's bus, alone --------------------------------------------------------------


@T.case("a channel on every master: each subscribed on its slot's master only, its messages received")
async def test_store_spread(env):
    cluster = env.redis
    by_master = spread_channels(cluster)
    channels = [ch for chans in by_master.values() for ch in chans]
    tool = BusTool(cluster, channels)
    try:
        await tool.until("the bus up", tool.bus_up)
        await tool.until("every channel confirmed",
                         lambda: set(tool.lines(prefix="subscribed ")) >= {f"subscribed {c}" for c in channels})
        await subscriptions_placed(cluster, tool, channels)
        await messages_reach(cluster, tool, channels, "hello")
        with tool.lock:
            links = [line for _, line in tool.log if re.search(r"redis bus node \S+ link up", line)]
        assert len(links) == 3, f"a bus link per master: {links}"
    finally:
        await tool.close()


@T.case("a master killed: its channels come back on the replica that took over, the bus down meanwhile")
async def test_store_failover(env):
    cluster = env.redis
    by_master = spread_channels(cluster, per_master=2)
    channels = [ch for chans in by_master.values() for ch in chans]
    tool = BusTool(cluster, channels)
    try:
        await tool.until("the bus up", tool.bus_up)
        await subscriptions_placed(cluster, tool, channels)
        victim = cluster.master_of_slot(cluster.keyslot(channels[0]))
        lost = by_master[victim.port]
        killed = time.monotonic()
        seconds, promoted = await asyncio.to_thread(cluster.fail_master, victim)
        await tool.until("the bus reported down, then up again",
                         lambda: any(s.split()[2] == "0" for s in tool.lines(killed, "state ")) and tool.bus_up())
        up_at = max(t for t, line in tool.events if line.startswith("state ") and line.endswith(" 1"))
        await tool.until(f"the lost channels on {promoted}", lambda: set(lost) <= shard_channels(promoted))
        await subscriptions_placed(cluster, tool, channels)
        await messages_reach(cluster, tool, channels, "after")
        diag(f"{victim} killed: the cluster promoted {promoted} in {seconds:.2f} s; the bus was up again "
             f"{up_at - killed:.2f} s after the kill; {promoted} holds {sorted(shard_channels(promoted))}")
    finally:
        await tool.close()
    await asyncio.to_thread(cluster.restart, victim)


def migrate(cluster, slot, source, target):
    """Moves an empty slot (channels are not keys: nothing to MIGRATE) from source to target."""
    target.command("CLUSTER", "SETSLOT", slot, "IMPORTING", source.node_id())
    source.command("CLUSTER", "SETSLOT", slot, "MIGRATING", target.node_id())
    for n in cluster.masters():
        n.command("CLUSTER", "SETSLOT", slot, "NODE", target.node_id())


@T.case("a slot migrated: its channel, ended by the source, follows to the target; MOVED on a new one is followed")
async def test_store_migration(env):
    cluster = env.redis
    by_master = spread_channels(cluster, per_master=1, prefix="bk:to:a:agent")
    channels = [ch for chans in by_master.values() for ch in chans]
    tool = BusTool(cluster, channels)
    moved = []
    try:
        await tool.until("the bus up", tool.bus_up)
        await subscriptions_placed(cluster, tool, channels)
        # A subscribed channel's slot moves: the source says sunsubscribe, the store follows.
        ch = channels[0]
        slot = cluster.keyslot(ch)
        source = cluster.master_of_slot(slot)
        target = next(n for n in cluster.masters() if n is not source)
        started = time.monotonic()
        migrate(cluster, slot, source, target)
        moved.append((slot, source, target))
        await tool.until(f"{ch} subscribed on {target}", lambda: ch in shard_channels(target))
        await tool.until("the bus down while it moved, then up",
                         lambda: any(s.split()[2] == "0" for s in tool.lines(started, "state ")) and tool.bus_up())
        assert ch not in shard_channels(source)
        await messages_reach(cluster, tool, channels, "moved")
        # A slot moved before anything of it was subscribed: the store's map is stale, the node
        # it asks answers MOVED, and the channel follows.
        fresh = next(f"bk:to:a:fresh{i}" for i in range(1000)
                     if cluster.keyslot(f"bk:to:a:fresh{i}") != slot)
        fresh_slot = cluster.keyslot(fresh)
        old = cluster.master_of_slot(fresh_slot)
        new = next(n for n in cluster.masters() if n is not old)
        migrate(cluster, fresh_slot, old, new)
        moved.append((fresh_slot, old, new))
        before = moved_count(old)
        tool.send("+" + fresh)
        await tool.until(f"{fresh} subscribed on {new}", lambda: fresh in shard_channels(new))
        await tool.until(f"{fresh} confirmed", lambda: f"subscribed {fresh}" in tool.lines(prefix="subscribed "))
        assert moved_count(old) > before, f"{old} answered no MOVED: the store's map was not stale"
        await messages_reach(cluster, tool, [fresh], "followed")
        # And a channel ended: gone from its master.
        tool.send("-" + channels[1])
        await tool.until(f"{channels[1]} unsubscribed",
                         lambda: all(channels[1] not in shard_channels(n) for n in cluster.live()))
    finally:
        await tool.close()
        for slot, source, target in reversed(moved):
            migrate(cluster, slot, target, source)
        await asyncio.to_thread(cluster.wait_ok)


@T.case("a master stopped (SIGSTOP): the bus links' pings notice, and the bus follows its replica")
async def test_store_stopped_master(env):
    cluster = env.redis
    by_master = spread_channels(cluster, per_master=1, prefix="bk:to:v:s")
    channels = [ch for chans in by_master.values() for ch in chans]
    tool = BusTool(cluster, channels)
    victim = cluster.master_of_slot(cluster.keyslot(channels[0]))
    try:
        await tool.until("the bus up", tool.bus_up)
        await subscriptions_placed(cluster, tool, channels)
        stopped = time.monotonic()
        seconds, promoted = await asyncio.to_thread(cluster.fail_master, victim, "stop")
        await tool.until(f"{channels[0]} on {promoted}", lambda: channels[0] in shard_channels(promoted))
        await tool.until("the bus up again", lambda: tool.bus_up() and
                         any(s.split()[2] == "0" for s in tool.lines(stopped, "state ")))
        await messages_reach(cluster, tool, [channels[0]], "awake")
        diag(f"{victim} stopped: promoted {promoted} in {seconds:.2f} s; the bus up again "
             f"{time.monotonic() - stopped:.2f} s after the stop at the latest")
    finally:
        await tool.close()
        await asyncio.to_thread(cluster.restart, victim)


# --- beckon nodes --------------------------------------------------------------------------


async def received(node):
    """The node's beckon_bus_messages_received_total."""
    status, _, data = await http_request(node.port, "GET", "/metrics")
    assert status == 200, f"{node.name}: GET /metrics {status}"
    m = re.search(rb"^beckon_bus_messages_received_total (\d+)$", data, re.M)
    assert m, f"{node.name}: no beckon_bus_messages_received_total in /metrics"
    return int(m.group(1))


async def until(what, check, timeout=15.0):
    """Until check() (a function, or a coroutine function) is true."""
    deadline = time.monotonic() + timeout
    while True:
        done = check()
        if asyncio.iscoroutine(done):
            done = await done
        if done:
            return
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.05)


def moved_count(node):
    """MOVED replies the node gave since its start."""
    return int(fields(node.command("INFO", "errorstats")).get("errorstat_MOVED", "count=0").split(",")[0][6:])


def node_channels(cluster, prefix):
    """Every node's own channel (PREFIX{g}:to:node:ID, the global slot's) that a master holds."""
    found = set()
    for n in cluster.masters():
        found |= {c for c in shard_channels(n) if c.startswith(prefix + "to:node:")}
    return found


async def own_channel(cluster, node, candidates):
    """The channel of candidates that reaches node: published on each, see whose count moves."""
    for ch in sorted(candidates):
        before = await received(node)
        cluster.master_of_slot(cluster.keyslot(ch)).command("SPUBLISH", ch, "!probe")
        await asyncio.sleep(0.2)
        if await received(node) > before:
            return ch
    raise AssertionError(f"no channel of {sorted(candidates)} reaches {node.name}")


@T.case("two beckon nodes: each node's own channel on the global slot's master, reaching that node only, again after a failover")
async def test_beckon_nodes(env):
    cluster = env.redis
    a = env.beckon
    b = await env.new_beckon("b")
    await until("both nodes' channels subscribed", lambda: len(node_channels(cluster, "bk:{g}:")) == 2)
    channels = node_channels(cluster, "bk:{g}:")
    mine = await own_channel(cluster, a, channels)
    theirs = (channels - {mine}).pop()
    for ch in (mine, theirs, "bk:{g}:to:nodes"):
        owner = cluster.master_of_slot(cluster.keyslot(ch))
        assert ch in shard_channels(owner), f"{ch} not on its slot's master {owner}"
    counts = [await received(a), await received(b)]
    cluster.master_of_slot(cluster.keyslot(theirs)).command("SPUBLISH", theirs, "!probe")
    cluster.master_of_slot(cluster.keyslot("bk:{g}:to:nodes")).command("SPUBLISH", "bk:{g}:to:nodes", "!probe")

    async def b_has_both():
        return await received(b) == counts[1] + 2
    await until("B got its own channel's message and the nodes' one", b_has_both)
    await asyncio.sleep(0.2)
    assert await received(a) == counts[0] + 1, "A got the nodes' message, not B's own"
    victim = cluster.master_of_slot(cluster.keyslot(mine))
    log_at = os.path.getsize(a.log)
    seconds, promoted = await asyncio.to_thread(cluster.fail_master, victim)
    await until(f"{mine} on {promoted}", lambda: mine in shard_channels(promoted))
    before = await received(a)
    promoted.command("SPUBLISH", mine, "!probe")

    async def a_hears():
        return await received(a) > before
    await until("A hears its channel again", a_hears)
    with open(a.log, errors="replace") as f:
        f.seek(log_at)
        log = f.read()
    assert "bus is back: asking this node's clients to resume" in log, "A's bus came back (its clients resync)"
    diag(f"A's channel {mine} was on {victim}: killed, {promoted} promoted in {seconds:.2f} s, the channel there")
    await asyncio.to_thread(cluster.restart, victim)
    assert await b.stop() == 0, "node B exits 0"


@T.case("beckon nodes whose keys share a slot ({bk}:): a failover of its master has their visitors resync, and the bus carries again")
async def test_beckon_resync(env):
    cluster = env.redis
    c = await env.new_beckon("c", extra_args=TAGGED_ARGS)
    d = await env.new_beckon("d", extra_args=TAGGED_ARGS)
    v = await env.visitor(beckon=c)
    other = await env.visitor(beckon=d)
    tab = await env.visitor(beckon=d, token=v.token)
    assert tab.visitor_id == v.visitor_id
    master = cluster.master_of_slot(cluster.keyslot("{bk}:"))
    # the layout's slot prefix follows the operator's: "{bk}:{TAG}:", still the slot of "bk"
    channel = "{bk}:{" + re.match(r"^v_([0-9a-f]{4})_", v.visitor_id).group(1) + "}:to:v:" + v.visitor_id
    await until("both nodes subscribe to the visitor's channel",
                lambda: int(master.command("PUBSUB", "SHARDNUMSUB", channel)[1]) == 2)
    seconds, promoted = await asyncio.to_thread(cluster.fail_master, master)
    for client in (v, other, tab):
        await client.recv_until("resync", timeout=15)
    assert int(promoted.command("PUBSUB", "SHARDNUMSUB", channel)[1]) == 2, \
        f"the visitor's channel on {promoted}: {promoted.command('PUBSUB', 'SHARDCHANNELS')}"
    sent = await send_message(v, "after the failover", timeout=10)
    await tab.recv_until("message", id=sent["id"], timeout=10)
    diag(f"{master} (the slot of {{bk}}) killed: {promoted} promoted in {seconds:.2f} s; "
         f"three visitors on two nodes told to resync, and a message crossed nodes again")
    await asyncio.to_thread(cluster.restart, master)
    assert await c.stop() == 0 and await d.stop() == 0, "nodes C and D exit 0"


T.run("cluster_bus", redis=RedisCluster, deadline=240)
