"""A real Redis Cluster for integration tests, from Debian's redis-server.

Three masters and three replicas on loopback (data and bus ports chosen free), each node in its
own directory with `cluster-enabled yes`, `appendonly yes` and a short `cluster-node-timeout`
(1 000 ms: a failover drill takes a few seconds), joined by
`redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`. Every process is registered
with the harness, which kills it at exit whatever happens.

    cluster = RedisCluster(tmp)
    cluster.start()                      # up, all 16384 slots served, replicas in sync
    node = cluster.master_of_slot(1234)
    seconds, promoted = cluster.fail_master(node)     # SIGKILL; or how="stop" (SIGSTOP)
    cluster.restart(node)                # back, as a replica of whoever took over

It has what harness.Env needs of its Redis (url, start, ensure_up, running, logs), so
`Cases.run(..., redis=RedisCluster)` runs a test file against it.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from harness import RedisError, _register, _resp_read, tail_file

SLOTS = 16384


def _free_port_pair():
    """A free data port and a free bus port (Redis defaults the bus to port + 10000: set explicitly
    instead, so that both are known free)."""
    socks = []
    try:
        for _ in range(2):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return socks[0].getsockname()[1], socks[1].getsockname()[1]
    finally:
        for s in socks:
            s.close()


def command(port, *args, timeout=2.0):
    """One RESP command to 127.0.0.1:port (sync; setup and inspection only). Errors raise RedisError."""
    return pipeline(port, [args], timeout=timeout)[0]


def pipeline(port, commands, timeout=5.0):
    """Several commands on one connection, written at once; their replies in order (an error
    reply is a RedisError instance in the list, not raised)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        out = []
        for args in commands:
            out.append(f"*{len(args)}\r\n".encode())
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        s.sendall(b"".join(out))
        f = s.makefile("rb")
        replies = []
        for _ in commands:
            try:
                replies.append(_resp_read(f))
            except RedisError as e:
                replies.append(e)
        if len(commands) == 1 and isinstance(replies[0], RedisError):
            raise replies[0]
        return replies


def fields(text):
    """INFO and CLUSTER INFO's "name:value" lines as a dict."""
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#"))


class ClusterNode:
    def __init__(self, dir, index, bin, node_timeout_ms, config=()):
        self.index = index
        self.config = list(config)
        self.dir = os.path.join(dir, f"node{index}")
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "redis.log")
        self.bin = bin
        self.node_timeout_ms = node_timeout_ms
        self.port, self.bus_port = _free_port_pair()
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def __repr__(self):
        return f"node{self.index}({self.port})"

    def start(self):
        assert not self.running(), f"{self} already running"
        logf = open(self.log, "ab")
        logf.write(b"----- cluster fixture: starting -----\n")
        logf.flush()
        self.proc = subprocess.Popen(
            [self.bin, "--bind", "127.0.0.1", "--port", str(self.port), "--cluster-enabled", "yes",
             "--cluster-port", str(self.bus_port), "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(self.node_timeout_ms),
             # A replica cut off for a while (a drill) may still be elected: tests want the
             # failover, not Redis's guard against promoting stale data.
             "--cluster-replica-validity-factor", "0",
             # A replica's first sync waits 5 s by default, for more replicas to share it.
             "--repl-diskless-sync-delay", "0",
             "--appendonly", "yes", "--save", "", "--dir", self.dir, "--daemonize", "no", *self.config],
            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT)
        logf.close()
        _register(self.proc)

    def wait_ready(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self} exited with {self.proc.returncode}:\n{tail_file(self.log)}")
            try:
                if command(self.port, "PING", timeout=0.5) == "PONG":
                    return
            except (OSError, RedisError) as e:  # not listening yet, or LOADING
                last = e
            time.sleep(0.02)
        raise RuntimeError(f"{self} not ready after {timeout}s (last: {last!r})")

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stopped(self):
        """SIGSTOPped: running, but not answering."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] == "T"
        except OSError:
            return False

    def kill(self):
        if self.running():
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=5)

    def command(self, *args, timeout=2.0):
        return command(self.port, *args, timeout=timeout)

    def node_id(self):
        return self.command("CLUSTER", "MYID")


class RedisCluster:
    # More redis-server options for every node (a subclass sets them: harness.Env makes its Redis
    # from the class alone).
    node_config = ()

    def __init__(self, dir, masters=3, replicas=1, node_timeout_ms=1000):
        self.dir = os.path.join(dir, "cluster")
        os.makedirs(self.dir, exist_ok=True)
        self.bin = os.environ.get("BECKON_REDIS_SERVER") or shutil.which("redis-server") or "redis-server"
        cli = os.path.join(os.path.dirname(self.bin), "redis-cli")
        self.cli = cli if os.access(cli, os.X_OK) else (shutil.which("redis-cli") or "redis-cli")
        self.masters_wanted = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes = [ClusterNode(self.dir, i, self.bin, node_timeout_ms, self.node_config)
                      for i in range(masters * (1 + replicas))]
        self.created = False

    # --- what harness.Env uses -------------------------------------------------------------

    @property
    def url(self):
        """The seeds beckon is given: the first three nodes (any one would do)."""
        return "redis+cluster://" + ",".join(n.address for n in self.nodes[:3])

    def logs(self):
        return [n.log for n in self.nodes]

    def running(self):
        return all(n.running() and not n.stopped() for n in self.nodes)

    def start(self, timeout=30.0):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            n.wait_ready()
        create = subprocess.run(
            [self.cli, "--cluster", "create", *[n.address for n in self.nodes],
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if create.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create exited {create.returncode}:\n"
                               f"{create.stdout.decode(errors='replace')}{create.stderr.decode(errors='replace')}")
        self.created = True
        self.wait_ok(timeout)

    def ensure_up(self):
        """Between tests: continue stopped nodes, restart dead ones, wait until all is well."""
        for n in self.nodes:
            if n.running():
                os.kill(n.proc.pid, signal.SIGCONT)
            else:
                n.start()
                n.wait_ready()
        self.wait_ok()

    # --- looking --------------------------------------------------------------------------

    def live(self):
        return [n for n in self.nodes if n.running() and not n.stopped()]

    def node_at(self, port):
        return next(n for n in self.nodes if n.port == port)

    def slots(self, via=None):
        """slot ranges as [(first, last, master_port, [replica_ports])] from one node's CLUSTER SLOTS."""
        node = via or self.live()[0]
        out = []
        for r in node.command("CLUSTER", "SLOTS"):
            out.append((int(r[0]), int(r[1]), int(r[2][1]), [int(x[1]) for x in r[3:]]))
        return sorted(out)

    def masters(self, via=None):
        return sorted({self.node_at(port) for _, _, port, _ in self.slots(via)}, key=lambda n: n.index)

    def master_of_slot(self, slot, via=None):
        for first, last, port, _ in self.slots(via):
            if first <= slot <= last:
                return self.node_at(port)
        return None

    def keyslot(self, key):
        return self.live()[0].command("CLUSTER", "KEYSLOT", key)

    def _problem(self, expect_master_count=None):
        """What keeps the cluster from being fully usable now, or None."""
        live = self.live()
        views = {}
        for n in live:
            i = fields(n.command("CLUSTER", "INFO"))
            if i.get("cluster_state") != "ok" or i.get("cluster_slots_ok") != str(SLOTS):
                return f"{n}: cluster_state {i.get('cluster_state')}, slots ok {i.get('cluster_slots_ok')}"
            views[n.port] = tuple((f, l, m) for f, l, m, _ in self.slots(n))
            role = fields(n.command("INFO", "replication"))
            if role.get("role") == "slave" and role.get("master_link_status") != "up":
                return f"{n}: replica whose link to its master is {role.get('master_link_status')}"
        if len(set(views.values())) != 1:
            return f"the nodes do not agree on the slot map yet: {views}"
        view = next(iter(views.values()))
        if sum(last - first + 1 for first, last, _ in view) != SLOTS:
            return "not every slot is served"
        for first, last, port in view:
            if not any(n.port == port for n in live):
                return f"slots {first}-{last} are served by a node that is down ({port})"
        if expect_master_count and len({m for _, _, m in view}) != expect_master_count:
            return f"{len({m for _, _, m in view})} masters, expected {expect_master_count}"
        return None

    def wait_ok(self, timeout=30.0):
        """Until every live node says cluster_state:ok, they agree on who serves each slot, each
        slot's master is live, and every replica's link to its master is up."""
        deadline = time.monotonic() + timeout
        problem = "not looked yet"
        while time.monotonic() < deadline:
            try:
                problem = self._problem(self.masters_wanted)
            except (OSError, RedisError) as e:
                problem = repr(e)
            if problem is None:
                return
            time.sleep(0.05)
        raise RuntimeError(f"cluster not ok after {timeout}s: {problem}")

    # --- drills ---------------------------------------------------------------------------

    def fail_master(self, node, how="kill", timeout=30.0):
        """Take a master away (how: "kill" is SIGKILL, "stop" is SIGSTOP) and wait until one of its
        replicas serves its slots and the cluster is ok again. Returns (seconds, promoted node)."""
        ranges = [(f, l) for f, l, port, _ in self.slots(node) if port == node.port]
        assert ranges, f"{node} serves no slot"
        started = time.monotonic()
        if how == "kill":
            node.proc.kill()
            node.proc.wait(timeout=5)
        elif how == "stop":
            os.kill(node.proc.pid, signal.SIGSTOP)
        else:
            raise ValueError(how)
        deadline = started + timeout
        problem = None
        while time.monotonic() < deadline:
            try:
                master = self.master_of_slot(ranges[0][0])
                if master is not None and master is not node:
                    problem = self._problem(self.masters_wanted)
                    if problem is None:
                        return time.monotonic() - started, master
                else:
                    problem = f"slot {ranges[0][0]} still served by {node}"
            except (OSError, RedisError) as e:
                problem = repr(e)
            time.sleep(0.02)
        raise RuntimeError(f"no replica took over from {node} within {timeout}s: {problem}")

    def restart(self, node, timeout=30.0):
        """Bring a failed node back (continued if stopped, started again on its directory if dead)
        and wait until it has rejoined: as a replica if someone took over meanwhile."""
        if node.running():
            os.kill(node.proc.pid, signal.SIGCONT)
        else:
            node.start()
            node.wait_ready()
        self.wait_ok(timeout)

    def stop(self):
        for n in self.nodes:
            n.kill()
