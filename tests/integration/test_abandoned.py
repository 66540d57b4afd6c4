"""Conversations the visitor abandoned are closed by the server (docs/protocol.md, "Abandoned
chats"): a waiting chat once its visitor has had no socket open for abandoned-queued-minutes, an
active one once its visitor is gone and nothing was written for idle-active-minutes. Such a close
is like any other: closed_by "timeout", a system line, the pushes, the KPI fact row (a missed
chat), the webhook event. A visitor who still has a socket open, on whichever node, keeps the chat.

The limits are fractional minutes so that the cases take seconds: 0.05 min (3 s) waiting, 0.1 min
(6 s) idle. A visitor counts as gone once no node has confirmed a socket of theirs for 12 s (nodes
confirm every 5 s), so a close comes 3 s + (7..12) s after the socket closed.
"""

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import websockets

from harness import VISITOR_PROTO, Cases, Client, diag, http_request, parse_json_body, send_message, id_prefix

T = Cases()
PREFIX = "bk:"
ORIGIN = "https://shop.example"
SECRET = "a7" * 32          # node B verifies node A's visitor tokens
QUEUED_S, IDLE_S = 3.0, 6.0  # --abandoned-queued-minutes 0.05, --idle-active-minutes 0.1
NODE_ARGS = ["--secret", SECRET, "--abandoned-queued-minutes", "0.05", "--idle-active-minutes", "0.1"]
SEEN_TTL_S = 12.0            # chat/sweeps.c VISITOR_SEEN_TTL_MS: gone once no node confirmed this long
SWEEP_S = 1.0                # every node sweeps each second
CLOSED_LINE = "The chat was closed after the visitor left"
LEFT = {}                    # the first case's abandoned chat, for the visitor coming back


# --------------------------------------------------------------------------------------------
# A webhook receiver (test_webhooks.py tests delivery itself; here only what arrives matters)
# --------------------------------------------------------------------------------------------


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.events.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    async def event(self, event, conversation, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for e in self.events:
                    if e["event"] == event and e["data"].get("conversation") == conversation:
                        return e
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {event} for {conversation} within {timeout}s")


RECEIVER = Receiver()


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


async def setup(env):
    r = env.beckon.cli("agent", "add", "ada", "admin", stdin="pw-ada-secret\n")
    assert r.returncode == 0, r
    env.agents["ada"] = "pw-ada-secret"
    env.add_agent("alice")
    status, body = await sites_api(env, "PUT", "/api/sites/shop", {"origins": [ORIGIN], "webhook_url": RECEIVER.url,
                                                                   "webhook_events": ["conversation.closed"]})
    assert status == 200, (status, body)


async def sites_api(env, method, path, body=None):
    token = await env.login("ada")
    status, _, data = await http_request(env.beckon.port, method, path, body, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def visitor(env, site="shop", node=None, token=None):
    ws = await websockets.connect((node or env.beckon).ws_url, subprotocols=[VISITOR_PROTO], origin=ORIGIN,
                                  open_timeout=5, close_timeout=2, ping_interval=None)
    c = Client(ws, env.uid("v"), "visitor")
    env.clients.append(c)
    hello = {"type": "hello", "site": site, "lang": "en"}
    if token:
        hello["token"] = token
    c.welcome = await c.expect_reply(hello, "welcome")
    c.visitor_id, c.token, c.hello_at = c.welcome["visitor"], c.welcome["token"], time.time()
    return c


def meta(env, conv):
    flat = env.redis.command("HGETALL", f"{id_prefix(conv)}conv:{conv}:meta")
    return dict(zip(flat[::2], flat[1::2]))


def last_entry(env, conv):
    entry = env.redis.command("XREVRANGE", f"{id_prefix(conv)}conv:{conv}", "+", "-", "COUNT", "1")[0]
    return dict(zip(entry[1][::2], entry[1][1::2]), ts=int(entry[0].split("-")[0]) / 1000)


async def closed(env, conv, timeout):
    """Waits for the conversation to close; returns its meta."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = meta(env, conv)
        if m.get("state") == "closed":
            return m
        await asyncio.sleep(0.1)
    raise AssertionError(f"{conv} still {meta(env, conv).get('state')} after {timeout}s")


async def until(moment):
    await asyncio.sleep(max(0.0, moment - time.time()))


def check_timeout_close(env, conv, m, quiet_since, limit_s):
    """closed_by timeout, the closing line last, and no earlier than the limit after the visitor
    left (or the last message), no later than the documented bound."""
    assert m["state"] == "closed" and m["closed_by"] == "timeout", m
    last = last_entry(env, conv)
    assert (last["from"], last["text"]) == ("system", CLOSED_LINE), last
    after = int(m["closed"]) / 1000 - quiet_since
    assert limit_s <= after <= limit_s + SEEN_TTL_S + SWEEP_S + 3, \
        f"closed {after:.2f}s after the visitor left / the last message; limit {limit_s}s"
    return after


async def stats(env):
    status, _, data = await http_request(env.beckon.port, "GET", "/api/stats/service",
                                         headers={"Authorization": "Bearer " + await env.login("alice")})
    assert status == 200, (status, data[:300])
    return parse_json_body(data)["totals"]


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------


@T.case("a waiting chat whose visitor left is closed by 'timeout' after abandoned-queued-minutes and "
        "counted as missed; the agents see it leave the queue; a visitor still connected keeps theirs")
async def t_queued(env):
    before = await stats(env)
    alice = await env.agent("alice")
    gone, there = await visitor(env), await visitor(env)
    gone_conv = (await send_message(gone, "Is anyone there?"))["conversation"]
    there_conv = (await send_message(there, "Hello?"))["conversation"]
    await gone.close()
    left = time.time()

    LEFT.update(conversation=gone_conv, token=gone.token, visitor=gone.visitor_id)
    removed = await alice.recv_until("queue_remove", conversation=gone_conv, timeout=QUEUED_S + SEEN_TTL_S + 5)
    assert removed["reason"] == "closed", removed
    after = check_timeout_close(env, gone_conv, meta(env, gone_conv), left, QUEUED_S)
    diag(f"closed {after:.1f}s after the visitor's socket closed (limit {QUEUED_S}s)")

    # Without the heartbeats' confirmations this one would be closed by now (hello + TTL + limit).
    await until(there.hello_at + SEEN_TTL_S + QUEUED_S + 2 * SWEEP_S + 1)
    assert meta(env, there_conv)["state"] == "queued", meta(env, there_conv)
    await there.expect_none("conversation", state="closed", within=0.1)

    totals = await stats(env)
    assert (totals["chats"] - before["chats"], totals["missed"] - before["missed"]) == (1, 1), (before, totals)


@T.case("the visitor who comes back finds the chat closed (with the closing line) and can start a new one")
async def t_comes_back(env):
    assert LEFT, "needs the first case's abandoned chat"
    conv = LEFT["conversation"]
    back = await visitor(env, token=LEFT["token"])
    assert back.visitor_id == LEFT["visitor"] and back.welcome["conversation"] is None, back.welcome
    history = await back.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert history["state"] == "closed", history
    assert [(m["from"], m["text"]) for m in history["messages"]] == [
        ("visitor", "Is anyone there?"), ("system", CLOSED_LINE)], history["messages"]
    again = await send_message(back, "Me again")
    assert again["conversation"] != conv, again
    pushed = await back.recv_until("conversation", id=again["conversation"])
    assert pushed["state"] == "queued", pushed


@T.case("an active chat is closed after idle-active-minutes with nothing written and its visitor gone, "
        "counted from the agent's last message; the agent is told and the webhook gets conversation.closed")
async def t_idle_active(env):
    alice = await env.agent("alice")
    v = await visitor(env)
    conv = (await send_message(v, "Do you ship to Norway?"))["conversation"]
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await alice.expect_reply({"type": "message", "conversation": conv, "cmid": "a1", "text": "Yes, we do."}, "ack")
    v.abort()  # the tab is gone without a goodbye
    left = time.time()
    await asyncio.sleep(8)  # the visitor is gone; the agent writes once more
    late = await alice.expect_reply({"type": "message", "conversation": conv, "cmid": "a2",
                                     "text": "Anything else?"}, "ack")

    pushed = await alice.recv_until("conversation", id=conv, state="closed", timeout=IDLE_S + SEEN_TTL_S + 5)
    assert pushed["closed_by"] == "timeout" and pushed["agent"] == "alice", pushed
    await alice.recv_until("message", conversation=conv, **{"from": "system"}, text=CLOSED_LINE)
    m = meta(env, conv)
    quiet = check_timeout_close(env, conv, m, late["ts"] / 1000, IDLE_S)
    assert int(m["closed"]) / 1000 - left >= IDLE_S, m
    diag(f"closed {quiet:.1f}s after the agent's last message (limit {IDLE_S}s)")
    assert conv not in env.redis.command("SMEMBERS", f"{id_prefix(conv)}agent:alice:convs")

    event = await RECEIVER.event("conversation.closed", conv)
    assert event["data"] == {"conversation": conv, "visitor": v.visitor_id, "agent": "alice",
                             "closed_by": "timeout"}, event


@T.case("two nodes: the visitor's socket on node B keeps the chat open while node A sweeps; "
        "once the visitor leaves B, A closes it (B closes nothing itself)")
async def t_two_nodes(env):
    b = await env.new_beckon("b", ["--secret", SECRET, "--abandoned-queued-minutes", "0", "--idle-active-minutes", "0"])
    stays, leaves = await visitor(env, node=b), await visitor(env, node=b)
    stays_conv = (await send_message(stays, "Waiting on B"))["conversation"]
    leaves_conv = (await send_message(leaves, "Leaving B"))["conversation"]
    await leaves.close()
    left = time.time()

    m = await closed(env, leaves_conv, QUEUED_S + SEEN_TTL_S + 5)
    check_timeout_close(env, leaves_conv, m, left, QUEUED_S)
    await until(stays.hello_at + SEEN_TTL_S + QUEUED_S + 2 * SWEEP_S + 1)
    assert meta(env, stays_conv)["state"] == "queued", meta(env, stays_conv)
    await b.stop()


@T.case("a Redis outage longer than the limits closes no chat whose visitor stayed connected")
async def t_redis_outage(env):
    v = await visitor(env)
    conv = (await send_message(v, "Still here"))["conversation"]
    env.redis.pause()  # no heartbeat reaches Redis: the visitor's last confirmation grows old
    try:
        await asyncio.sleep(SEEN_TTL_S + QUEUED_S + 2)
    finally:
        env.redis.resume()
    await env.beckon.wait_healthy(10)
    await asyncio.sleep(3 * SWEEP_S)  # several sweeps on the new link, before the next heartbeat
    assert meta(env, conv)["state"] == "queued", meta(env, conv)


@T.case("per site: abandoned_queued_minutes longer than the server's, or 0, keeps a left chat open; "
        "checked when saved, listed, settable from the shell, null gives the server's back")
async def t_per_site(env):
    for body, field in (({"abandoned_queued_minutes": -1}, "abandoned_queued_minutes"),
                        ({"idle_active_minutes": "soon"}, "abandoned_queued_minutes and idle_active_minutes"),
                        ({"idle_active_minutes": 10081}, "abandoned_queued_minutes and idle_active_minutes")):
        status, reply = await sites_api(env, "PUT", "/api/sites/patient", dict(body, origins=[ORIGIN]))
        assert status == 400 and reply["error"]["message"].startswith(field), (status, reply)
    status, _ = await sites_api(env, "PUT", "/api/sites/patient", {"origins": [ORIGIN], "abandoned_queued_minutes": 10,
                                                                   "idle_active_minutes": 0.5})
    assert status == 200
    status, _ = await sites_api(env, "PUT", "/api/sites/never", {"origins": [ORIGIN]})
    assert status == 200
    r = env.beckon.cli("site", "set", "never", "abandoned-queued-minutes", "0")
    assert r.returncode == 0, r.stderr
    status, listing = await sites_api(env, "GET", "/api/sites")
    got = {s["id"]: (s["abandoned_queued_minutes"], s["idle_active_minutes"]) for s in listing["sites"]}
    assert got == {"shop": (None, None), "patient": (10, 0.5), "never": (0, None)}, got

    patient, never, default = (await visitor(env, "patient"), await visitor(env, "never"), await visitor(env, "shop"))
    convs = [(await send_message(v, "Hi"))["conversation"] for v in (patient, never, default)]
    for v in (patient, never, default):
        await v.close()
    await closed(env, convs[2], QUEUED_S + SEEN_TTL_S + 5)
    await asyncio.sleep(2 * SWEEP_S)
    assert [meta(env, c)["state"] for c in convs[:2]] == ["queued", "queued"], [meta(env, c) for c in convs]

    status, _ = await sites_api(env, "PUT", "/api/sites/never", {"abandoned_queued_minutes": None})
    assert status == 200
    await closed(env, convs[1], 2 * SWEEP_S + 2)  # gone long enough already: the server's limit applies
    assert meta(env, convs[0])["state"] == "queued"


if __name__ == "__main__":
    T.run("abandoned", setup=setup, beckon_args=NODE_ARGS, deadline=170)
