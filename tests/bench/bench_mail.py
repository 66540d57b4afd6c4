"""Inbound mail, end to end: the time from handing a visitor's reply to Beckon (the MTA's pipe,
`beckon mail receive`, or the LMTP socket) to the agent's socket receiving it as a message.

Real processes, as in the integration tests (tests/integration/harness.py): a redis-server of
its own, the beckon binary, an agent on a WebSocket who has accepted the conversations. Each mail
is the Gmail reply of the test corpus (multipart/alternative, quoted-printable, a quote to cut),
addressed to a conversation's signed reply address. Mails go one after another (a round trip
each, not a throughput test); the pipe's figure includes starting the beckon process, reading the
secret and connecting to Redis, which is what a pipe transport costs per mail.

    /usr/bin/python3 tests/bench/bench_mail.py [--beckon BUILD/server/beckon] [--mails 200]

Hold the exclusive bench lock while it runs (flock /tmp/beckon-bench.lock ...). Prints a table."""

import argparse
import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--beckon", default=os.path.join(ROOT, "build", "server", "beckon"))
    ap.add_argument("--mails", type=int, default=200, help="mails per path (default 200)")
    args = ap.parse_args()
    os.environ.setdefault("BECKON_BIN", os.path.abspath(args.beckon))
    os.environ.setdefault("BECKON_SOURCE_ROOT", ROOT)
    import harness  # noqa: E402  (needs BECKON_BIN set)
    import test_email_channel as ec  # noqa: E402
    asyncio.run(run(harness, ec, args.mails))


def summary(name, samples):
    s = sorted(samples)
    pick = lambda p: s[min(len(s) - 1, max(0, int(round(p / 100 * len(s))) - 1))]  # noqa: E731
    return (f"| {name} | {len(s)} | {pick(50):.1f} | {pick(90):.1f} | {pick(99):.1f} | {max(s):.1f} | "
            f"{statistics.mean(s):.1f} |")


async def run(harness, ec, mails):
    env = harness.Env("bench-mail", beckon_args=ec.ARGS + ["--log-level", "warn"])
    await env.start()
    try:
        env.add_agent("alice")
        await ec.SINK.start()
        alice = await env.agent("alice")
        results = {}
        for path in ("pipe", "lmtp"):
            samples = []
            for i in range(mails):
                if i % 50 == 0:
                    _, conv = await ec.chat_with_email(env, alice, address=f"bench{i}@example.org")
                    to = ec.reply_address(conv)
                raw = ec.corpus("gmail_alternative.eml", to).replace(b"ann.visitor@gmail.example",
                                                                     f"bench{i}@example.org".encode())
                t0 = time.perf_counter()
                if path == "pipe":
                    task = asyncio.create_task(ec.pipe(env, raw, to))
                else:
                    task = asyncio.create_task(ec.lmtp(raw, [to]))
                await alice.recv_until("message", pred=lambda m: m.get("channel") == "email" and m["from"] == "visitor")
                samples.append((time.perf_counter() - t0) * 1000)
                out = await task
                ok = out[0] == 0 if path == "pipe" else out[0].startswith("250")
                assert ok, out
                alice.inbox.clear()
            results[path] = samples
        print("Inbound mail round trip: handed over -> the agent's socket has the message (ms)\n")
        print("| path | mails | p50 | p90 | p99 | max | mean |")
        print("|---|---|---|---|---|---|---|")
        print(summary("pipe (`beckon mail receive`, a process per mail)", results["pipe"]))
        print(summary("LMTP (unix socket, parsed on the thread pool)", results["lmtp"]))
    finally:
        await env.close_clients()
        for b in env.beckons():
            await b.stop()
        env.redis.stop()


if __name__ == "__main__":
    main()
