"""Graceful shutdown: SIGTERM closes open sockets with 1001 and exits 0 within 5 s."""

import asyncio
import time

from harness import Cases, send_message

T = Cases()


async def setup(env):
    env.add_agent("alice")


@T.case("SIGTERM with open visitor and agent sockets: close 1001, exit 0 within 5 s")
async def t_sigterm(env):
    alice = await env.agent("alice")
    v = await env.visitor()
    ack = await send_message(v, "are you closing?")
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    idle = await env.visitor()               # a second, idle visitor
    pre = await env.connect("visitor")       # connected, no hello yet

    t0 = time.monotonic()
    env.beckon.proc.terminate()
    codes = await asyncio.gather(*(c.wait_closed(5) for c in (v, alice, idle, pre)), return_exceptions=True)
    codes = [c if isinstance(c, int) or c is None else f"not closed ({c})" for c in codes]
    try:
        rc = await env.beckon.wait_exit(max(0.1, 5 - (time.monotonic() - t0)))
    except AssertionError:
        rc = "still running after 5 s"
    took = time.monotonic() - t0
    assert codes == [1001, 1001, 1001, 1001] and rc == 0 and took <= 5, (
        f"close codes (visitor, agent, idle visitor, pre-hello): {codes}, want 1001 each; "
        f"exit code {rc}, want 0; took {took:.2f}s")
    print(f"# shutdown took {took:.3f}s", flush=True)


if __name__ == "__main__":
    T.run("shutdown", setup=setup)
