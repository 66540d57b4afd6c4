"""Proactive invitations end to end: browsing events from a real visitor socket, rules in Redis,
the armed timer, agents' availability, caps, priorities, custom events, accepting an invitation,
chatting visitors, live rule changes, and bad browsing input.

Rules are seeded straight into Redis (`bk:{g}:rules`, then `!rules` on the bus's `bk:{g}:to:nodes`: every node reloads);
docs/protocol.md ("Browsing", "Invitation push") and docs/rules.md are the contract. Every case
replaces the whole rule set first, so no case sees another's rules.
"""

import asyncio
import datetime
import json
import time

from harness import Cases, diag, send_message, id_prefix, site_prefix, GLOBAL_PREFIX

T = Cases()

PREFIX = "bk:"
SITE = "https://shop.example"
DANISH = "Hej! Kan jeg hjælpe med priserne?"
# Waiting for something that must NOT happen. Invitations of rules without time conditions are
# sent within milliseconds of the event (one Redis round trip or two), so a second is ample.
QUIET = 1.0

# Set once any agent socket has said hello in this file: the server's view of "agents available"
# lags by up to one refresh period (2 s) after the last agent leaves.
_agents_used = {"last": None}


# --------------------------------------------------------------------------------------------
# Local helpers
# --------------------------------------------------------------------------------------------


def rule(rid, when, text=None, **extra):
    r = {"id": rid, "when": when, "then": {"invite": {"text": text or f"Invitation of {rid}"}}}
    r.update(extra)
    return r


def path_glob(pattern):
    return {"page.path": {"glob": pattern}}


def page(path, title=""):
    return {"url": SITE + path, "title": title, "referrer": ""}


def rules_loaded_count(b):
    try:
        with open(b.log, "rb") as f:
            return f.read().decode("utf-8", "replace").count("rules loaded:")
    except OSError:
        return 0


def running_beckons(env):
    return [b for b in [env.beckon] + env.extra_beckons if b.running()]


async def wait_reloaded(env, before, timeout=5.0):
    """Wait until every node counted in `before` has logged another 'rules loaded'."""
    deadline = time.monotonic() + timeout
    pending = list(before.items())
    while pending:
        pending = [(b, n) for b, n in pending if rules_loaded_count(b) <= n]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise AssertionError("rules not reloaded within %.1fs by %s" % (timeout, [b.name for b, _ in pending]))
        await asyncio.sleep(0.01)


def publish_rules(env):
    env.redis.command("SPUBLISH", GLOBAL_PREFIX + "to:nodes", "!rules")


async def set_rules(env, rules):
    """Replace every rule in Redis by `rules`, tell the nodes, wait until each has reloaded."""
    before = {b: rules_loaded_count(b) for b in running_beckons(env)}
    env.redis.command("DEL", GLOBAL_PREFIX + "rules")
    for r in rules:
        env.redis.command("HSET", GLOBAL_PREFIX + "rules", r["id"], json.dumps(r, ensure_ascii=False))
    publish_rules(env)
    await wait_reloaded(env, before)


async def start_node(env, name, args):
    """An extra node on the same Redis, with its rules loaded."""
    b = await env.new_beckon(name, extra_args=args)
    deadline = time.monotonic() + 5
    while rules_loaded_count(b) < 1:
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: rules never loaded")
        await asyncio.sleep(0.01)
    return b


def node(env, name):
    for b in env.extra_beckons:
        if b.name == name and b.running():
            return b
    return None


async def visitor_on(env, path, beckon=None, **hello):
    return await env.visitor(beckon=beckon, page=page(path), **hello)


def check_invite(m, rule_id, text=None):
    assert m.get("type") == "invite", m
    assert m.get("rule") == rule_id, f"invitation of rule {m.get('rule')!r}, expected {rule_id!r}: {m}"
    inv = m.get("invitation")
    assert isinstance(inv, str) and inv.startswith("i_"), f"invitation id: {m}"
    if text is not None:
        assert m.get("text") == text, f"invitation text {m.get('text')!r} != {text!r}"
    assert "agent" in m, f"invite without `agent` (null or a name): {m}"
    assert "req" not in m, f"push carries req: {m}"
    return m


async def expect_invite(client, rule_id, text=None, timeout=3.0):
    """The next invitation this socket gets must be of `rule_id`."""
    return check_invite(await client.recv_until("invite", timeout=timeout), rule_id, text)


async def agent_online(env, name):
    a = await env.agent(name)
    _agents_used["last"] = time.monotonic()
    return a


async def no_agents_available(env):
    """No agent present in Redis, and every node has refreshed its availability since."""
    deadline = time.monotonic() + 5
    while env.redis.command("ZCOUNT", GLOBAL_PREFIX + "presence", int(time.time() * 1000), "+inf") != 0:
        if time.monotonic() > deadline:
            raise AssertionError("an agent is still present after 5 s")
        await asyncio.sleep(0.05)
    if _agents_used["last"] is not None:
        # Only when an agent was online earlier in this file (e.g. BECKON_IT_ONLY reordering):
        # every node refreshes its availability every 2 s.
        await asyncio.sleep(2.3)


def hgetall(env, key):
    flat = env.redis.command("HGETALL", key) or []
    return dict(zip(flat[::2], flat[1::2]))


def utc_day():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d")


async def setup(env):
    env.add_agent("alice")


# --------------------------------------------------------------------------------------------
# 1. The time-on-page threshold: one armed timer, not polling
# --------------------------------------------------------------------------------------------


@T.case("time on page: the invitation comes when page.seconds >= 2 is crossed (>= 2.0 s, < 2.1 s)")
async def t_time_on_page(env):
    r = rule("pricing-help", {"all": [path_glob("/pricing*"), {"page.seconds": {">=": 2}}]}, DANISH,
             priority=10)
    await set_rules(env, [r])

    # The hello's page counts as the page view.
    v = await env.connect("visitor")
    sent = time.monotonic()
    w = await v.expect_reply({"type": "hello", "site": "demo", "lang": "da",
                              "page": page("/pricing", "Pricing")}, "welcome")
    inv = await expect_invite(v, "pricing-help", DANISH, timeout=4)
    got, got_wall = time.monotonic(), time.time() * 1000
    vid = w.get("visitor")
    assert isinstance(vid, str) and vid.startswith("v_"), f"welcome: {w}"
    started = int(env.redis.command("HGET", f"{id_prefix(vid)}visitor:{vid}", "page_started"))
    after_view = got_wall - started
    diag(f"time on page: invitation {after_view:.0f} ms after the page view, {got - sent:.3f}s after the hello")
    assert got - sent >= 2.0, f"invitation {got - sent:.3f}s after the hello: before the 2 s threshold"
    assert 2000 <= after_view <= 2100, \
        f"invitation {after_view:.0f} ms after the page view (page_started {started}); want 2000..2100"
    assert inv.get("agent") is None, f"rule has no preferred agent, invite.agent should be null: {inv}"

    # A later page view restarts page.seconds: the timer is re-armed from the new page view.
    v2 = await visitor_on(env, "/")
    await v2.expect_none("invite", within=1.0)
    view = time.monotonic()
    await v2.expect_reply({"type": "page_view", "url": SITE + "/pricing/teams", "title": "Teams"}, "ok")
    await v2.expect_none("invite", within=1.0)
    # timed from the send: the ok comes when the page view's batch is stored, up to some 5 ms
    # later (triggers/track_batch.c), and page.seconds counts from its arrival
    second = time.monotonic()
    await v2.expect_reply({"type": "page_view", "url": SITE + "/pricing/enterprise", "title": ""}, "ok")
    await expect_invite(v2, "pricing-help", DANISH, timeout=4)
    got = time.monotonic()
    assert got - second >= 1.99, f"invitation {got - second:.3f}s after the last page view (< 2 s)"
    assert got - second <= 2.1 + 0.05, \
        f"invitation {got - second:.3f}s after the last page view (want about 2.0 s; first view {got - view:.3f}s ago)"


@T.case("one timer for all visitors: thresholds due in shuffled order each fire on time; "
        "visitors who leave or re-arm do not disturb the others")
async def t_many_timers(env):
    await set_rules(env, [rule(f"wait{n}", {"all": [path_glob(f"/wait{n}*"), {"page.seconds": {">=": n}}]})
                          for n in (1, 2, 3)])
    # Arrival order 3, 1, 2, 1, 3, 2: each joins the node's timer heap somewhere in the middle.
    plan = [3, 1, 2, 1, 3, 2]
    visitors = [(n, await visitor_on(env, f"/wait{n}")) for n in plan]
    # One with the earliest deadline leaves (it is first in the heap), one moves to a later page.
    leaver = await visitor_on(env, "/wait1")
    await leaver.close()
    mover = await visitor_on(env, "/wait1")
    await mover.expect_reply({"type": "page_view", "url": SITE + "/wait3", "title": ""}, "ok")
    visitors.append((3, mover))

    async def fired_after(n, v):
        """ms from the page view to the evaluation that invited, both as beckon recorded them
        (a busy Redis may delay the invite frame itself, not the timer)."""
        inv = await expect_invite(v, f"wait{n}", timeout=n + 3)
        created = int(env.redis.command("HGET", f"{id_prefix(v.visitor_id)}invitation:{inv['invitation']}", "created"))
        started = int(env.redis.command("HGET", f"{id_prefix(v.visitor_id)}visitor:{v.visitor_id}", "page_started"))
        return n, created - started

    for n, ms in await asyncio.gather(*(fired_after(n, v) for n, v in visitors)):
        assert n * 1000 <= ms <= n * 1000 + 250, f"rule wait{n} invited {ms} ms after the page view"
    await mover.expect_none("invite", within=0.3)  # its first page's rule never fired


# --------------------------------------------------------------------------------------------
# 2. only.agents_available
# --------------------------------------------------------------------------------------------


@T.case("agents_available: no invitation without an online agent; one within 2.5 s once one comes online")
async def t_agents_available(env):
    await no_agents_available(env)
    r = rule("needs-agent", {"all": [path_glob("/avail*"), {"page.seconds": {">=": 1}}]},
             only={"agents_available": True})
    await set_rules(env, [r])
    v = await visitor_on(env, "/avail")
    await v.expect_none("invite", within=2.0)  # threshold 1 s + 1 s
    alice = await agent_online(env, "alice")
    online = time.monotonic()
    await expect_invite(v, "needs-agent", timeout=3.5)
    took = time.monotonic() - online
    diag(f"agents_available: invitation {took:.3f}s after the agent's welcome")
    assert took <= 2.5, f"invitation {took:.2f}s after the agent came online (want <= 2.5 s)"
    await alice.close()


# --------------------------------------------------------------------------------------------
# 3. Caps: per_visit, the daily budget, the quiet time after a dismissal
# --------------------------------------------------------------------------------------------


async def quiet_free_node(env):
    return node(env, "nolimits") or await start_node(
        env, "nolimits", ["--invite-daily-budget", "0", "--invite-quiet-minutes", "0"])


@T.case("cap.per_visit: after a dismissal the same rule does not invite again in this visit")
async def t_cap_per_visit(env):
    await set_rules(env, [
        rule("cap-once", path_glob("/capone*"), cap={"per_visit": 1}),
        rule("cap-twice", path_glob("/captwo*"), cap={"per_visit": 2}),
    ])
    q = await quiet_free_node(env)  # no quiet time, no budget: only the rule's cap counts
    v = await visitor_on(env, "/capone", beckon=q)
    inv = await expect_invite(v, "cap-once")
    await v.expect_reply({"type": "invite_shown", "invitation": inv["invitation"]}, "ok")
    await v.expect_reply({"type": "invite_dismissed", "invitation": inv["invitation"]}, "ok")
    await v.expect_reply({"type": "page_view", "url": SITE + "/capone", "title": ""}, "ok")
    await v.expect_none("invite", within=QUIET)

    # The visitor is not blocked as such: per_visit 2 invites twice, then stops.
    for i in range(2):
        await v.expect_reply({"type": "page_view", "url": SITE + "/captwo", "title": ""}, "ok")
        inv = await expect_invite(v, "cap-twice")
        await v.expect_reply({"type": "invite_dismissed", "invitation": inv["invitation"]}, "ok")
    await v.expect_reply({"type": "page_view", "url": SITE + "/captwo", "title": ""}, "ok")
    await v.expect_reply({"type": "page_view", "url": SITE + "/capone", "title": ""}, "ok")
    await v.expect_none("invite", within=QUIET)


@T.case("daily budget: --invite-daily-budget 1 stops a second rule the same day")
async def t_daily_budget(env):
    await set_rules(env, [rule("bud-x", path_glob("/budx*")), rule("bud-y", path_glob("/budy*"))])
    b1 = node(env, "budget1") or await start_node(
        env, "budget1", ["--invite-daily-budget", "1", "--invite-quiet-minutes", "0"])
    q = await quiet_free_node(env)

    async def scenario(beckon):
        v = await visitor_on(env, "/budx", beckon=beckon)
        inv = await expect_invite(v, "bud-x")
        await v.expect_reply({"type": "invite_dismissed", "invitation": inv["invitation"]}, "ok")
        await v.expect_reply({"type": "page_view", "url": SITE + "/budy", "title": ""}, "ok")
        return v

    # Control: without a budget the second rule invites.
    v = await scenario(q)
    await expect_invite(v, "bud-y")
    # With a budget of 1 it does not.
    v = await scenario(b1)
    await v.expect_none("invite", within=QUIET)


@T.case("quiet time: after invite_dismissed no invitation comes although another rule matches")
async def t_quiet_time(env):
    await set_rules(env, [rule("quiet-x", path_glob("/quietx*")), rule("quiet-y", path_glob("/quiety*"))])
    v = await visitor_on(env, "/quietx")  # the main node: --invite-quiet-minutes 30 (default)
    inv = await expect_invite(v, "quiet-x")
    await v.expect_reply({"type": "invite_dismissed", "invitation": inv["invitation"]}, "ok")
    await v.expect_reply({"type": "page_view", "url": SITE + "/quiety", "title": ""}, "ok")
    await v.expect_none("invite", within=3.0)
    # Another visitor on the same page is invited: the rule itself is live.
    w = await visitor_on(env, "/quiety")
    await expect_invite(w, "quiet-y")


# --------------------------------------------------------------------------------------------
# 4. Priority
# --------------------------------------------------------------------------------------------


@T.case("priority: of several matching rules the one with the highest priority invites")
async def t_priority(env):
    # Ids and insertion order are chosen so that neither id order nor first/last stored wins.
    await set_rules(env, [
        rule("a-low", path_glob("/prio*"), priority=1),
        rule("z-high", path_glob("/prio*"), priority=10, text="the high one"),
        rule("m-mid", path_glob("/prio*"), priority=5),
        rule("b-neg", path_glob("/prio*"), priority=-3),
    ])
    v = await visitor_on(env, "/prio")
    await expect_invite(v, "z-high", "the high one")
    await v.expect_none("invite", within=0.3)


# --------------------------------------------------------------------------------------------
# 5. Custom events
# --------------------------------------------------------------------------------------------


@T.case("custom event: event.name and event.props rules fire right after the event, not on page views")
async def t_custom_event(env):
    await set_rules(env, [rule("cart-rescue", {"event.name": "cart_add"}, "Need help with your cart?")])
    v = await visitor_on(env, "/shop")
    await v.expect_none("invite", within=0.5)
    await v.expect_reply({"type": "page_view", "url": SITE + "/shop/cart", "title": "Cart"}, "ok")
    await v.expect_reply({"type": "event", "name": "wishlist_add", "props": {"value": 120}}, "ok")
    await v.expect_none("invite", within=0.5)
    sent = time.monotonic()
    await v.expect_reply({"type": "event", "name": "cart_add", "props": {"value": 120}}, "ok")
    await expect_invite(v, "cart-rescue", "Need help with your cart?", timeout=2)
    took = time.monotonic() - sent
    assert took < 0.5, f"event rule fired {took:.3f}s after the event"

    # An event without req gets no reply, and still counts.
    await set_rules(env, [rule("big-cart", {"event.props.value": {">=": 100}}, "Big order? Talk to us")])
    w = await visitor_on(env, "/shop")
    await w.expect_reply({"type": "event", "name": "cart_add", "props": {"value": 50, "sku": "A-1"}}, "ok")
    await w.expect_reply({"type": "event", "name": "cart_add"}, "ok")  # no props at all
    await w.expect_reply({"type": "page_view", "url": SITE + "/shop/cart", "title": ""}, "ok")
    await w.expect_none("invite", within=0.5)
    sent = time.monotonic()
    await w.send({"type": "event", "name": "cart_add", "props": {"value": 120, "sku": "B-2", "gift": False}})
    await expect_invite(w, "big-cart", "Big order? Talk to us", timeout=2)
    took = time.monotonic() - sent
    assert took < 0.5, f"props rule fired {took:.3f}s after the event"
    unexpected = [m for m in w.inbox if m.get("type") in ("ok", "error")]
    assert not unexpected, f"event without req got a reply: {unexpected}"


# --------------------------------------------------------------------------------------------
# 6. Accepting an invitation
# --------------------------------------------------------------------------------------------


@T.case("invite_accepted: ok with conversation; queued; agent's first message; queue_add names the rule; stats")
async def t_accept(env):
    rid = "accept-help"
    await set_rules(env, [rule(rid, path_glob("/accept*"), DANISH)])
    alice = await agent_online(env, "alice")
    day = utc_day()
    v = await visitor_on(env, "/accept")
    inv = await expect_invite(v, rid, DANISH)
    iid = inv["invitation"]
    await v.expect_reply({"type": "invite_shown", "invitation": iid}, "ok")
    ok = await v.expect_reply({"type": "invite_accepted", "invitation": iid}, "ok")
    conv = ok.get("conversation")
    assert isinstance(conv, str) and conv.startswith("c_"), f"ok without conversation: {ok}"

    cp = await v.recv_until("conversation", id=conv)
    assert cp.get("state") == "queued", f"conversation push: {cp}"
    msg = await v.recv_until("message", conversation=conv)
    assert msg.get("from") == "agent" and msg.get("text") == DANISH, f"first message: {msg}"
    qa = await alice.recv_until("queue_add", pred=lambda m: isinstance(m.get("conversation"), dict)
                                and m["conversation"].get("id") == conv)
    named = qa["conversation"].get("rule", qa.get("rule"))
    assert named == rid, f"queue_add does not name the rule {rid!r}: {qa}"
    assert qa["conversation"].get("visitor") == v.visitor_id, f"queue_add visitor: {qa}"

    # The conversation is the visitor's: history starts with the invitation text from "agent".
    h = await v.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert h.get("state") == "queued", f"history state: {h}"
    firsts = [m for m in h.get("messages", []) if m.get("from") != "system"]
    assert firsts and firsts[0].get("from") == "agent" and firsts[0].get("text") == DANISH, f"history: {h}"

    # The visitor's next message lands in the same conversation.
    ack = await send_message(v, "Ja tak")
    assert ack["conversation"] == conv, f"message after accepting went to {ack['conversation']}, not {conv}"

    stats = hgetall(env, f"{site_prefix('')}stats:rules:{day}")
    mine = {k: v for k, v in stats.items() if k.startswith(rid + ":")}
    for counter in ("fired", "shown", "accepted", "chats"):
        assert mine.get(f"{rid}:{counter}") == "1", \
            f"stats {site_prefix('')}stats:rules:{day} {rid}:{counter} = {mine.get(f'{rid}:{counter}')!r}, want 1 ({mine})"
    assert f"{rid}:dismissed" not in mine, f"dismissed counted: {mine}"


# --------------------------------------------------------------------------------------------
# 7. A chatting visitor is never invited
# --------------------------------------------------------------------------------------------


@T.case("no invitation while the visitor has an open conversation, with or without unless conversation.open")
async def t_chatting(env):
    when = {"all": [path_glob("/chatting*"), {"page.seconds": {">=": 1}}]}
    variants = [rule("chat-plain", when),
                rule("chat-unless", when, unless={"conversation.open": True})]
    for r in variants:
        await set_rules(env, [r])
        v = await visitor_on(env, "/home")
        await send_message(v, "I have a question first")
        await v.expect_reply({"type": "page_view", "url": SITE + "/chatting", "title": ""}, "ok")
        control = await visitor_on(env, "/chatting")  # same page, not chatting: invited after 1 s
        await v.expect_none("invite", within=2.0)
        await expect_invite(control, r["id"], timeout=1.0)
        # Coming back with the token (the conversation is still open) on the same page.
        v2 = await env.visitor(token=v.token, page=page("/chatting/again"))
        assert (v2.welcome.get("conversation") or {}).get("id"), f"welcome has no conversation: {v2.welcome}"
        await v2.expect_none("invite", within=1.5)
        await v.expect_none("invite", within=0.01)


# --------------------------------------------------------------------------------------------
# 8. Live rule changes
# --------------------------------------------------------------------------------------------


@T.case("a rule changed or added in Redis takes effect on open visitor connections without restart")
async def t_live_change(env):
    await set_rules(env, [rule("live", path_glob("/nowhere*"), "changed text")])
    v = await visitor_on(env, "/pricing")
    w = await visitor_on(env, "/plans")
    await v.expect_none("invite", within=0.5)

    before = {b: rules_loaded_count(b) for b in running_beckons(env)}
    env.redis.command("HSET", GLOBAL_PREFIX + "rules", "live",
                      json.dumps(rule("live", path_glob("/pricing*"), "changed text"), ensure_ascii=False))
    published = time.monotonic()
    publish_rules(env)
    await expect_invite(v, "live", "changed text", timeout=2)
    assert time.monotonic() - published < 1.0, "invitation more than 1 s after the change was published"
    await wait_reloaded(env, before)
    await w.expect_none("invite", within=0.3)

    env.redis.command("HSET", GLOBAL_PREFIX + "rules", "late",
                      json.dumps(rule("late", path_glob("/plans*"), "added later"), ensure_ascii=False))
    publish_rules(env)
    await expect_invite(w, "late", "added later", timeout=2)
    await v.expect_none("invite", within=0.3)


# --------------------------------------------------------------------------------------------
# 9. Bad browsing input
# --------------------------------------------------------------------------------------------


@T.case("bad input: page_view/event/props validation, foreign and answered invitations; socket stays up")
async def t_bad_input(env):
    await set_rules(env, [rule("bad-input", path_glob("/badin*"))])
    v = await visitor_on(env, "/home")

    e = await v.expect_error({"type": "page_view", "title": "no url"}, "bad_request")
    assert "url" in e.get("message", ""), f"bad_request does not name url: {e}"
    e = await v.expect_error({"type": "event", "name": "cart add"}, "bad_request")
    assert "name" in e.get("message", ""), f"bad_request does not name name: {e}"
    props = {f"p{i}": i for i in range(33)}
    e = await v.expect_error({"type": "event", "name": "cart_add", "props": props}, "bad_request")
    assert "props" in e.get("message", ""), f"bad_request does not name props: {e}"
    await v.expect_reply({"type": "event", "name": "cart_add", "props": dict(list(props.items())[:32])}, "ok")
    e = await v.expect_error({"type": "event", "name": "cart_add", "props": {"item": {"sku": "A"}}}, "bad_request")
    assert "props" in e.get("message", ""), f"bad_request does not name props: {e}"

    # Someone else's invitation: not_found. An unknown one too.
    other = await visitor_on(env, "/badin")
    inv = await expect_invite(other, "bad-input")
    await v.expect_error({"type": "invite_accepted", "invitation": inv["invitation"]}, "not_found")
    await v.expect_error({"type": "invite_accepted", "invitation": "i_doesnotexist"}, "not_found")
    await v.expect_error({"type": "invite_dismissed", "invitation": inv["invitation"]}, "not_found")

    # The owner accepts once; the second accept is wrong_state.
    ok = await other.expect_reply({"type": "invite_accepted", "invitation": inv["invitation"]}, "ok")
    assert str(ok.get("conversation", "")).startswith("c_"), f"accept: {ok}"
    await other.expect_error({"type": "invite_accepted", "invitation": inv["invitation"]}, "wrong_state")
    await other.expect_error({"type": "invite_dismissed", "invitation": inv["invitation"]}, "wrong_state")

    # Both connections are still usable.
    for c in (v, other):
        await c.expect_reply({"type": "page_view", "url": SITE + "/still-here", "title": ""}, "ok")
        assert not c.closed, f"{c.name} was closed"



# --------------------------------------------------------------------------------------------
# 10. What a page view stores
# --------------------------------------------------------------------------------------------


def rewind_visit(env, vid, ms=2 * 3600 * 1000):
    """Moves the visitor's last event back, so that its next one starts a visit."""
    last = int(env.redis.command("HGET", f"{id_prefix(vid)}visitor:{vid}", "last_event"))
    env.redis.command("HSET", f"{id_prefix(vid)}visitor:{vid}", "last_event", last - ms)


@T.case("the event stream always expires: set when it is made, renewed when a visit starts, "
        "not on every page view; made again after consent was withdrawn, it expires again")
async def t_event_stream_expiry(env):
    await set_rules(env, [])
    v = await visitor_on(env, "/ttl")
    events, retention = f"{id_prefix(v.visitor_id)}events:{v.visitor_id}", 30 * 86400
    # the hello's page view is stored with the socket's next event at the latest (in order)
    await v.expect_reply({"type": "event", "name": "landed"}, "ok")
    assert retention - 60 < env.redis.command("TTL", events) <= retention
    env.redis.command("EXPIRE", events, 100)
    await v.expect_reply({"type": "page_view", "url": SITE + "/ttl/2", "title": ""}, "ok")
    await v.expect_reply({"type": "event", "name": "cart_add"}, "ok")
    assert 0 < env.redis.command("TTL", events) <= 100, "renewed within the visit"
    rewind_visit(env, v.visitor_id)
    await v.expect_reply({"type": "page_view", "url": SITE + "/ttl/3", "title": ""}, "ok")
    assert retention - 60 < env.redis.command("TTL", events) <= retention, "not renewed when the visit started"
    assert hgetall(env, f"{id_prefix(v.visitor_id)}visitor:{v.visitor_id}")["visits"] == "2"
    assert env.redis.command("XLEN", events) == 5
    await v.expect_reply({"type": "consent", "granted": False}, "ok")
    assert env.redis.command("EXISTS", events) == 0
    await v.expect_reply({"type": "event", "name": "after_withdrawal"}, "ok")  # this site asks no consent
    assert env.redis.command("XLEN", events) == 1
    assert retention - 60 < env.redis.command("TTL", events) <= retention, "a stream made mid-visit never expires"



# A node keeps each visitor socket's profile between events: track.lua answers a page view with
# what it changed while that profile is current (profile_rev), else with the whole profile.


@T.case("the rules see what page views change (visit.pages, a visit starting: visitor.visits, "
        "its utm and referrer) in the profile kept on the node")
async def t_profile_kept(env):
    await set_rules(env, [rule("pages-3", {"all": [path_glob("/pages*"), {"visit.pages": {">=": 3}}]}),
                          rule("spring-back", {"all": [path_glob("/landing*"), {"visitor.visits": {">=": 2}},
                                                       {"visit.utm.campaign": "spring"},
                                                       {"visit.referrer": "https://news.example/"}]})])
    v = await visitor_on(env, "/pages/1")
    await v.expect_reply({"type": "page_view", "url": SITE + "/pages/2", "title": ""}, "ok")
    await v.expect_none("invite", within=QUIET)
    await v.expect_reply({"type": "page_view", "url": SITE + "/pages/3", "title": ""}, "ok")
    await expect_invite(v, "pages-3")

    w = await visitor_on(env, "/home")
    await w.expect_reply({"type": "page_view", "url": SITE + "/landing?utm_campaign=spring", "title": "",
                          "referrer": "https://news.example/"}, "ok")
    await w.expect_none("invite", within=QUIET)  # the first visit
    rewind_visit(env, w.visitor_id)
    await w.expect_reply({"type": "page_view", "url": SITE + "/landing?utm_campaign=spring", "title": "",
                          "referrer": "https://news.example/"}, "ok")
    await expect_invite(w, "spring-back")


@T.case("two sockets of one visitor: what one changes (an invitation's cap, identify's attrs) "
        "the other's rules see at its next page view")
async def t_profile_two_sockets(env):
    await set_rules(env, [rule("capped", path_glob("/capped*"), cap={"per_visit": 1}),
                          rule("pro", {"all": [path_glob("/pro*"), {"visitor.attrs.plan": "pro"}]})])
    a = await visitor_on(env, "/home")
    b = await env.visitor(token=a.token, page=page("/home/2"))
    assert b.visitor_id == a.visitor_id
    await a.expect_reply({"type": "page_view", "url": SITE + "/capped", "title": ""}, "ok")
    await expect_invite(a, "capped")
    await b.expect_reply({"type": "page_view", "url": SITE + "/capped/2", "title": ""}, "ok")
    await b.expect_none("invite", within=QUIET)  # the other socket's invitation counts

    c = await env.visitor(token=a.token, page=page("/home/3"))
    await a.expect_reply({"type": "identify", "attrs": {"plan": "pro"}}, "ok")
    await c.expect_reply({"type": "page_view", "url": SITE + "/pro", "title": ""}, "ok")
    await expect_invite(c, "pro")


if __name__ == "__main__":
    T.run("triggers", setup=setup)
