"""Teams' assignment (docs/teams.md): decisions per second and Redis CPU per decision, with
1 000 chats waiting in one offer team of 20 agents.

The scripts are Beckon's own (server/lua/route_sweep.lua, offer_decline.lua, composed with their
pieces by server/lua/embed.py), run against a redis-server of its own (the integration harness's),
with the state they read written directly: a site, its team of 20 members, 1 000 queued chats in
the team's queue, the roster as a node's sweep writes it. Three figures:

- sweep: one route_sweep.lua call offers every waiting chat it can (caps of 50: all 1 000), a
  decision each; the offers are then cleared and the round repeated;
- decline: offer_decline.lua, one call per decision (the offer withdrawn from one agent and made
  to the member with the most room), pipelined 100 deep, 1 000 chats waiting;
- idle sweep: route_sweep.lua when every member is at their cap (what each node pays each second
  per slot while a team's queue waits).

Redis CPU is INFO's used_cpu_user + used_cpu_sys over each run (the client's work excluded).

    /usr/bin/python3 tests/bench/bench_routing.py [--chats 1000] [--agents 20] [--rounds 5]

Hold the exclusive bench lock while it runs (flock /tmp/beckon-bench.lock ...). Prints a table."""

import argparse
import json
import os
import socket
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "server", "lua"))

import embed  # noqa: E402
from harness import Redis, _resp_read, kill_all_children  # noqa: E402

P = "bk:{b0b0}:"
SITE, TEAM = "shop", "Load"


class Link:
    """A pipelining RESP client on the unix socket."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    @staticmethod
    def encode(args):
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a if isinstance(a, bytes) else str(a).encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        return b"".join(out)

    def pipeline(self, commands):
        self.s.sendall(b"".join(self.encode(c) for c in commands))
        return [_resp_read(self.f) for _ in commands]

    def call(self, *args):
        return self.pipeline([args])[0]


def cpu(link):
    info = link.call("INFO", "cpu")
    fields = dict(line.split(":", 1) for line in info.split("\r\n") if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


def script(link, name):
    source, _ = embed.compose(os.path.join(ROOT, "server", "lua", name))
    return link.call("SCRIPT", "LOAD", embed.shebang(os.path.join(ROOT, "server", "lua", name)) + source)


def state(link, chats, agents, cap):
    link.call("FLUSHALL")
    now = int(time.time() * 1000)
    names = [f"agent{i:02d}" for i in range(agents)]
    team = {"mode": "offer", "offer_seconds": 600, "members": [{"agent": n, "skills": [], "languages": []} for n in names]}
    cmds = [("SADD", P + "sites", SITE), ("HSET", P + "site:" + SITE, "origins", "[]"),
            ("HSET", P + "teams:" + SITE, TEAM, json.dumps(team))]
    qkey = f"team:{SITE}:{TEAM}:queue"
    for i in range(chats):
        cid = f"c_b0b0_{i:08d}"
        created = now - chats + i
        cmds.append(("HSET", P + f"conv:{cid}:meta", "state", "queued", "visitor", f"v_b0b0_{i:08d}",
                     "created", created, "preview", "hello", "team", TEAM, "team_site", SITE, "team_queue", qkey))
        cmds.append(("ZADD", P + "queue", created, cid))
        cmds.append(("ZADD", P + qkey, created, cid))
    for i in range(0, len(cmds), 1000):
        link.pipeline(cmds[i:i + 1000])
    return names


def roster_args(names, cap):
    out = []
    for n in names:
        out += [n, str(cap)]
    return out


def clear_offers(link, names, chats):
    cmds = [("DEL", P + "offers:due")] + [("DEL", P + f"agent:{n}:offered") for n in names]
    cmds += [("HDEL", P + f"conv:c_b0b0_{i:08d}:meta", "offer", "offer_deadline", "declined") for i in range(chats)]
    for i in range(0, len(cmds), 1000):
        link.pipeline(cmds[i:i + 1000])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chats", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="beckon-bench-routing-")
    redis = Redis(tmp)
    redis.start()
    try:
        run(Link(redis.sock), args)
    finally:
        kill_all_children()


def run(link, args):
    sweep, decline = script(link, "route_sweep.lua"), script(link, "offer_decline.lua")
    rows = []
    # 1. the sweep offers every waiting chat (caps of chats / agents)
    cap = -(-args.chats // args.agents)
    names = state(link, args.chats, args.agents, cap)
    total_wall = total_cpu = made = 0
    for _ in range(args.rounds):
        now = str(int(time.time() * 1000))
        c0, t0 = cpu(link), time.perf_counter()
        n = link.call("EVALSHA", sweep, 0, P, now, "4", "1", *roster_args(names, cap))
        total_wall += time.perf_counter() - t0
        total_cpu += cpu(link) - c0
        made += n
        clear_offers(link, names, args.chats)
    rows.append(("sweep (one call, every waiting chat offered)", made, total_wall, total_cpu))
    # 2. one decision per call: decline, the chat goes to the member with the most room
    cap = 2
    names = state(link, args.chats, args.agents, cap)
    now = str(int(time.time() * 1000))
    link.call("EVALSHA", sweep, 0, P, now, "4", "1", *roster_args(names, cap))   # 40 offers stand
    decisions, wall, used = 0, 0.0, 0.0
    for _ in range(args.rounds * 10):
        offers = link.call("ZRANGE", P + "offers:due", 0, 99)
        agents = link.pipeline([("HGET", P + f"conv:{cid}:meta", "offer") for cid in offers])
        now = str(int(time.time() * 1000))
        cmds = [("EVALSHA", decline, 0, P, cid, agent, now) for cid, agent in zip(offers, agents)]
        c0, t0 = cpu(link), time.perf_counter()
        replies = link.pipeline(cmds)
        wall += time.perf_counter() - t0
        used += cpu(link) - c0
        decisions += sum(1 for r in replies if r == 1)
    rows.append(("decline (one call a decision, pipelined)", decisions, wall, used))
    # 3. the sweep when nobody has room: what a waiting queue costs each second
    c0, t0 = cpu(link), time.perf_counter()
    calls = 200
    for _ in range(calls):
        link.call("EVALSHA", sweep, 0, P, str(int(time.time() * 1000)), "4", "1", *roster_args(names, cap))
    idle_wall, idle_cpu = time.perf_counter() - t0, cpu(link) - c0
    waiting = link.call("ZCARD", P + f"team:{SITE}:{TEAM}:queue")
    print(f"# teams' assignment: {waiting} chats waiting in one offer team of {args.agents} agents "
          f"({os.cpu_count()} cpus, redis {link.call('INFO', 'server').split('redis_version:')[1].split()[0]})")
    print(f"| {'path':<46} | {'decisions':>9} | {'per second':>10} | {'Redis CPU µs/decision':>21} |")
    print(f"|{'-' * 48}|{'-' * 11}|{'-' * 12}|{'-' * 23}|")
    for name, n, w, c in rows:
        print(f"| {name:<46} | {n:>9} | {n / w:>10.0f} | {c * 1e6 / max(n, 1):>21.1f} |")
    print(f"| {'idle sweep (everyone at their cap), per call':<46} | {calls:>9} | {calls / idle_wall:>10.0f} | "
          f"{idle_cpu * 1e6 / calls:>18.1f} /call |")


if __name__ == "__main__":
    main()
