"""Failures of real processes: beckon SIGKILLed mid-traffic; Redis restarted mid-traffic."""

import asyncio
import json
import time

from harness import Cases, check_ack, full_history, http_request, send_message, sid

T = Cases()


def check_history_has(msgs, acked):
    """Every acked (cmid, id) is in history, in ack order, and no cmid/id appears twice."""
    ids = [m["id"] for m in msgs]
    assert len(ids) == len(set(ids)), f"duplicate ids in history: {ids}"
    for a, b in zip(ids, ids[1:]):
        assert sid(a) < sid(b), f"history out of order: {a} then {b}"
    vis = [m for m in msgs if m.get("from") == "visitor"]
    cmids = [m.get("cmid") for m in vis]
    dup = sorted({c for c in cmids if cmids.count(c) > 1})
    assert not dup, f"cmids stored more than once: {dup}"
    by_cmid = {m.get("cmid"): m["id"] for m in vis}
    missing = [(c, i) for c, i in acked if c not in by_cmid]
    assert not missing, f"acknowledged but not in history: {missing}"
    wrong = [(c, i, by_cmid[c]) for c, i in acked if by_cmid[c] != i]
    assert not wrong, f"history id differs from the acked id (cmid, acked, history): {wrong}"
    order = [m["id"] for m in vis if m.get("cmid") in dict(acked)]
    assert order == [i for _, i in acked], f"acked messages out of order in history: {order}"


@T.case("beckon SIGKILLed while a visitor sends: every acked message survives the restart")
async def t_beckon_sigkill(env):
    v = await env.visitor()
    first = await send_message(v, "before the crash", cmid="k-start")
    conv = first["conversation"]
    acked = [("k-start", first["id"])]
    inflight = []
    killed = asyncio.Event()

    async def sender():
        i = 0
        while True:
            cmid = f"k-{i}"
            inflight.append(cmid)
            try:
                r = await v.request({"type": "message", "cmid": cmid, "text": f"line {i}"}, timeout=5)
            except Exception:
                if killed.is_set():
                    return
                raise
            if r.get("type") == "error" and r.get("code") == "rate_limited":
                await asyncio.sleep(0.2)   # faster than the per-socket request rate: resend the same cmid
                inflight.remove(cmid)
                continue
            if r.get("type") != "ack":
                raise AssertionError(f"before the kill, {cmid} got {r}")
            check_ack(r, {"cmid": cmid})
            acked.append((cmid, r["id"]))
            inflight.remove(cmid)
            i += 1
            if i == 25 and not killed.is_set():
                # kill from the loop while the next request is on its way
                asyncio.get_running_loop().call_later(0.002, kill)

    def kill():
        env.beckon.proc.kill()
        killed.set()

    await asyncio.wait_for(sender(), 30)
    await env.beckon.wait_exit(5)
    assert env.beckon.proc.returncode != 0
    assert len(acked) >= 26, f"only {len(acked)} acks before the kill"

    await env.beckon.start()
    v2 = await env.visitor(token=v.token)
    assert v2.visitor_id == v.visitor_id, f"token not accepted after restart: {v2.welcome}"
    assert (v2.welcome.get("conversation") or {}).get("id") == conv, f"welcome after restart: {v2.welcome}"
    # the message that was in flight: resending is safe and it ends up stored once
    for cmid in inflight:
        a = await send_message(v2, "resent after the crash", cmid=cmid)
        assert a["conversation"] == conv, a
        acked.append((cmid, a["id"]))
    acked_sorted = sorted(acked, key=lambda x: sid(x[1]))
    msgs, _ = await full_history(v2, conv, "0")
    check_history_has(msgs, acked_sorted)
    print(f"# {len(acked)} acked messages checked, in flight at the kill: {inflight}", flush=True)


@T.case("redis restarted mid-traffic: unavailable during the outage, recovers, nothing acked is lost")
async def t_redis_restart(env):
    v = await env.visitor()
    first = await send_message(v, "before the outage", cmid="o-start")
    conv = first["conversation"]
    acked = [("o-start", first["id"])]
    for i in range(5):
        a = await send_message(v, f"pre {i}", cmid=f"o-pre-{i}")
        acked.append((a["cmid"], a["id"]))

    env.redis.stop()  # SIGTERM: AOF is fsynced; wait until the process is gone
    t0 = time.monotonic()
    pending = [f"o-out-{i}" for i in range(3)]
    # during the outage: error unavailable, never an ack
    r = await v.request({"type": "message", "cmid": pending[0], "text": "during 0"}, timeout=5)
    assert r.get("type") == "error" and r.get("code") == "unavailable", f"during the outage: {r}"
    # healthz: 503 with redis down
    status = body = None
    while time.monotonic() - t0 < 5:
        status, _, body = await http_request(env.beckon.port, "GET", "/healthz", timeout=2)
        if status == 503:
            break
        await asyncio.sleep(0.05)
    assert status == 503, f"/healthz during the outage: {status} {body!r}"
    hb = json.loads(body)
    assert hb.get("redis") == "down", f"/healthz body during the outage: {hb}"
    for cmid in pending[1:]:
        t = time.monotonic()
        r = await v.request({"type": "message", "cmid": cmid, "text": f"during {cmid}"}, timeout=5)
        assert r.get("type") == "error" and r.get("code") == "unavailable", f"during the outage: {r}"
        assert time.monotonic() - t < 3.5, f"unavailable took {time.monotonic() - t:.1f}s"
    assert env.beckon.running(), "beckon died when redis went away"
    await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))

    env.redis.start()
    t1 = time.monotonic()
    # resend the refused messages until they are accepted (the server reconnects with backoff)
    for cmid in pending:
        while True:
            r = await v.request({"type": "message", "cmid": cmid, "text": f"during {cmid}"}, timeout=5)
            if r.get("type") == "ack":
                check_ack(r, {"cmid": cmid})
                assert r["conversation"] == conv, f"after the outage the message went to {r['conversation']}"
                acked.append((cmid, r["id"]))
                break
            assert r.get("type") == "error" and r.get("code") == "unavailable", f"after restart: {r}"
            assert time.monotonic() - t1 < 10, f"still unavailable {time.monotonic() - t1:.1f}s after restart"
            await asyncio.sleep(0.1)
    print(f"# sends succeeded again {time.monotonic() - t1:.2f}s after redis restarted", flush=True)
    for i in range(5):
        a = await send_message(v, f"post {i}", cmid=f"o-post-{i}")
        acked.append((a["cmid"], a["id"]))
    status, _, body = await http_request(env.beckon.port, "GET", "/healthz", timeout=2)
    assert status == 200, f"/healthz after recovery: {status} {body!r}"
    assert env.beckon.running(), "beckon died"
    msgs, _ = await full_history(v, conv, "0")
    check_history_has(msgs, acked)


if __name__ == "__main__":
    T.run("crash", setup=None)
