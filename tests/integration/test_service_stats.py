"""Service KPIs end to end (docs/protocol.md, "Service KPIs"): real chats over real sockets, with
waits, first responses and handling times the test measures itself, one visitor who leaves before
anyone accepts, one chat opened by accepting a rule's invitation, ratings and a re-rating; then
GET /api/stats/service and its CSV: counts exact, times inside the interval the test measured
around each server-side stamp, the CSV equal to the JSON, access and bad parameters refused.
"""

import asyncio
import csv
import datetime
import io
import json
import time

from harness import Cases, diag, http_request, send_message, id_prefix, site_prefix, GLOBAL_PREFIX

T = Cases()

PREFIX = "bk:"
SITE = "https://shop.example"
SLACK = 0.005  # s: the server rounds to whole ms
_tokens = {}
chats = {}     # what the scenario measured, for the cases after it


def today(fmt="%Y-%m-%d"):
    return datetime.datetime.now(datetime.timezone.utc).strftime(fmt)


def page(path, title=""):
    return {"url": SITE + path, "title": title, "referrer": ""}


def rules_loaded_count(b):
    with open(b.log, "rb") as f:
        return f.read().decode("utf-8", "replace").count("rules loaded:")


async def setup(env):
    env.add_agent("alice")
    env.add_agent("bob")
    for name, role in (("mark", "marketer"), ("ada", "admin")):
        r = env.beckon.cli("agent", "add", name, role, stdin=f"pw-{name}-secret\n")
        assert r.returncode == 0, r.stderr
        env.agents[name] = f"pw-{name}-secret"
    # One rule: any page under /kpi invites at once.
    before = rules_loaded_count(env.beckon)
    env.redis.command("HSET", GLOBAL_PREFIX + "rules", "kpi-help", json.dumps(
        {"id": "kpi-help", "when": {"page.path": {"glob": "/kpi*"}}, "then": {"invite": {"text": "Need a hand?"}}}))
    env.redis.command("SPUBLISH", GLOBAL_PREFIX + "to:nodes", "!rules")
    deadline = time.monotonic() + 5
    while rules_loaded_count(env.beckon) <= before:
        assert time.monotonic() < deadline, "rules not reloaded"
        await asyncio.sleep(0.02)


async def api(env, path, who="alice", token=None, headers=None, method="GET", body=None):
    hdrs = dict(headers or {})
    if token is None and who is not None:
        if who not in _tokens:
            _tokens[who] = await env.login(who)
        token = _tokens[who]
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    return await http_request(env.beckon.port, method, path, body=body, headers=hdrs)


async def stats(env, query="", who="alice"):
    status, headers, data = await api(env, "/api/stats/service" + query, who=who)
    assert status == 200, f"GET /api/stats/service{query}: HTTP {status} {data[:300]!r}"
    return json.loads(data)


class Span:
    """An interval [lo, hi] (s) that must hold a duration the server computed from its own stamps."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def holds(self, value):
        return value is not None and self.lo - SLACK <= value <= self.hi + SLACK

    def __repr__(self):
        return f"[{self.lo:.3f}, {self.hi:.3f}]"


async def timed(coro):
    t0 = time.time()
    r = await coro
    return t0, time.time(), r


async def answered_chat(env, agent, wait, answer_after, close_after, opener=None):
    """A visitor asks (or `opener` opens the chat), `agent` accepts after `wait` s, answers after
    `answer_after` s more, closes after `close_after` s more. Returns the measured spans."""
    if opener:
        v, (c0, c1, conv) = await opener()
    else:
        v = await env.visitor(page=page("/help", "Help"))
        c0, c1, ack = await timed(send_message(v, "Hello, a question about delivery"))
        conv = ack["conversation"]
    await agent.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await asyncio.sleep(wait)
    a0, a1, _ = await timed(agent.expect_reply({"type": "accept", "conversation": conv}, "ok"))
    await asyncio.sleep(answer_after)
    r0, r1, _ = await timed(send_message(agent, "Happy to help!", conversation=conv))
    await asyncio.sleep(close_after)
    x0, x1, _ = await timed(agent.expect_reply({"type": "close", "conversation": conv}, "ok"))
    await v.recv_until("conversation", id=conv, state="closed")
    return v, conv, {"waiting": Span(a0 - c1, a1 - c0), "first_response": Span(r0 - c1, r1 - c0),
                     "handling": Span(x0 - a1, x1 - a0)}


@T.case("a scripted day: three answered chats, one missed, one from an invitation; ratings")
async def t_scenario(env):
    chats["first_day"] = today()  # a run across midnight UTC spreads the chats over two days
    alice, bob = await env.agent("alice"), await env.agent("bob")

    # 1. alice: waits 0.6 s, answers 0.3 s later, closes 0.5 s after that; rated 5
    v1, c1, m1 = await answered_chat(env, alice, 0.6, 0.3, 0.5)
    await v1.expect_reply({"type": "rate", "score": 5}, "ok")
    # 2. bob: quicker to accept, slower to close; rated 3
    v2, c2, m2 = await answered_chat(env, bob, 0.2, 0.2, 0.9)
    await v2.expect_reply({"type": "rate", "score": 3, "comment": "ok"}, "ok")

    # 3. a visitor who leaves before anyone accepts: missed, and nobody's
    v3 = await env.visitor(page=page("/help", "Help"))
    ack = await send_message(v3, "Anyone there?")
    await asyncio.sleep(0.3)
    await v3.expect_reply({"type": "close"}, "ok")

    # 4. a rule's invitation, accepted: the chat opens with the invitation's text, which is no answer
    async def invited():
        v = await env.visitor(page=page("/kpi/pricing", "Pricing"))
        inv = await v.recv_until("invite", rule="kpi-help")
        await v.expect_reply({"type": "invite_shown", "invitation": inv["invitation"]}, "ok")
        t0, t1, ok = await timed(v.expect_reply({"type": "invite_accepted", "invitation": inv["invitation"]}, "ok"))
        return v, (t0, t1, ok["conversation"])
    v4, c4, m4 = await answered_chat(env, alice, 1.0, 0.4, 0.2, opener=invited)
    await v4.expect_reply({"type": "rate", "score": 4}, "ok")
    # the re-rating of chat 1 replaces its 5 by a 2
    await v1.expect_reply({"type": "rate", "score": 2, "conversation": c1}, "ok")
    chats.update({"alice": [m1, m4], "bob": [m2], "ids": [c1, c2, ack["conversation"], c4]})

    # The fact rows: one per closed conversation, in the day's hash under a sequence number (only
    # the conversation's meta, svc_row, says which), naming no visitor, no conversation, no text.
    rows = {}
    for day in {chats["first_day"].replace("-", ""), today("%Y%m%d")}:
        flat = env.redis.command("HGETALL", f"{site_prefix()}svc:{day}")
        rows.update({f"{day}:{k}": v for k, v in zip(flat[::2], flat[1::2])})
    where = {cid: env.redis.command("HGET", f"{id_prefix(cid)}conv:{cid}:meta", "svc_row") for cid in chats["ids"]}
    assert sorted(rows) == sorted(where.values()), (rows, where)
    for text in rows.values():
        row = json.loads(text)
        assert set(row) == {"created", "accepted", "first_response", "closed", "agent", "site", "rule", "rating"}, row
        assert "v_" not in text and "c_" not in text and "question" not in text, f"personal data in {text}"
    assert json.loads(rows[where[c1]])["rating"] == 2 and json.loads(rows[where[c4]])["rule"] == "kpi-help", rows
    assert json.loads(rows[where[ack["conversation"]]])["agent"] is None, rows
    ttl = env.redis.command("TTL", f"{site_prefix()}svc:{today('%Y%m%d')}")
    assert 399 * 86400 < ttl <= 400 * 86400, f"svc hash TTL {ttl}"


def check_span(value, span, what):
    assert span.holds(value), f"{what}: {value} s is outside what the test measured, {span}"


@T.case("GET /api/stats/service: counts exact, times within what the test measured")
async def t_figures(env):
    assert chats, "the scenario case must run first"
    body = await stats(env, f"?from={chats['first_day']}&to={today()}")
    assert body["from"] == chats["first_day"] and body["to"] == today(), body
    assert body["agent"] is None and body["site"] is None, body
    t = body["totals"]
    assert (t["chats"], t["missed"], t["answered"]) == (4, 1, 3), t
    # ratings 2 (re-rated from 5), 3, 4: one of three is 4-5
    assert t["ratings"] == 3 and t["csat"] == 0.3333, t
    assert (t["invitations_shown"], t["invitations_accepted"], t["invitation_chats"]) == (1, 1, 1), t
    if len(body["days"]) == 1:
        assert body["days"] == [dict(t, day=today())], body["days"]
    diag("measured (s): " + json.dumps({k: t[k] for k in ("waiting_p50", "waiting_p90", "first_response_p50",
                                                          "first_response_p90", "handling_avg", "handling_p50")}))

    # Three accepted chats: p50 is the middle one (rank 2), p90 the largest (rank 3).
    alice1, alice4 = chats["alice"]
    bob2 = chats["bob"][0]
    for key in ("waiting", "first_response"):
        spans = sorted([alice1[key], alice4[key], bob2[key]], key=lambda s: s.lo)
        check_span(t[key + "_p50"], spans[1], f"totals.{key}_p50")
        check_span(t[key + "_p90"], spans[2], f"totals.{key}_p90")
    handling = sorted([alice1["handling"], alice4["handling"], bob2["handling"]], key=lambda s: s.lo)
    check_span(t["handling_p50"], handling[1], "totals.handling_p50")
    avg = Span(sum(s.lo for s in handling) / 3, sum(s.hi for s in handling) / 3)
    check_span(t["handling_avg"], avg, "totals.handling_avg")

    agents = {a["agent"]: a for a in body["agents"]}
    assert sorted(agents) == ["alice", "bob"], body["agents"]
    assert agents["alice"]["chats"] == 2 and agents["bob"]["chats"] == 1, body["agents"]
    b = agents["bob"]
    for key in ("waiting_p50", "waiting_p90"):
        check_span(b[key], bob2["waiting"], "bob." + key)
    check_span(b["first_response_p50"], bob2["first_response"], "bob.first_response_p50")
    check_span(b["handling_avg"], bob2["handling"], "bob.handling_avg")
    assert b["ratings"] == 1 and b["csat"] == 0.0 and "invitations_shown" not in b, b
    a = agents["alice"]
    # the invitation's opening text is not alice's first response: that came after her accept
    check_span(a["first_response_p90"], max(alice1["first_response"], alice4["first_response"], key=lambda s: s.lo),
               "alice.first_response_p90")
    assert a["ratings"] == 2 and a["csat"] == 0.5, a


@T.case("the range and the filters: default 7 days, agent= and site= narrow the figures")
async def t_filters(env):
    body = await stats(env)
    first = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=6)).strftime("%Y-%m-%d")
    assert body["from"] == first and body["to"] == today(), body
    assert [d["day"] for d in body["days"]][-1] == today() and len(body["days"]) == 7, body["days"]
    assert all(d["chats"] == 0 and d["waiting_p50"] is None and d["csat"] is None for d in body["days"][:-2]), body
    assert body["totals"]["chats"] == 4, body["totals"]

    bob = await stats(env, "?agent=bob")
    assert bob["agent"] == "bob" and bob["totals"]["chats"] == 1 and bob["totals"]["missed"] == 0, bob["totals"]
    assert [a["agent"] for a in bob["agents"]] == ["bob"], bob["agents"]
    # the invitation counters name neither agent nor site
    assert bob["totals"]["invitations_shown"] is None and bob["days"][-1]["invitation_chats"] is None, bob["totals"]
    alice = await stats(env, "?agent=alice")
    # the missed chat nobody accepted is nobody's: not in alice's figures
    assert (alice["totals"]["chats"], alice["totals"]["missed"]) == (2, 0), alice["totals"]
    demo = await stats(env, "?site=demo")
    assert demo["site"] == "demo" and demo["totals"]["chats"] == 4, demo["totals"]
    other = await stats(env, "?site=elsewhere")
    assert other["totals"]["chats"] == 0 and other["agents"] == [], other
    past = await stats(env, "?from=2026-01-01&to=2026-01-03")
    assert [d["day"] for d in past["days"]] == ["2026-01-01", "2026-01-02", "2026-01-03"], past["days"]
    year = await stats(env, "?from=2025-01-01&to=2025-12-31")
    assert len(year["days"]) == 365, len(year["days"])


@T.case("GET /api/stats/service.csv: a download whose rows equal the JSON")
async def t_csv(env):
    status, headers, data = await api(env, f"/api/stats/service.csv?from={today()}&to={today()}", who="mark")
    # (a day-only check: the header, one row per day and the total, equal to the JSON of the same query)
    assert status == 200, (status, data[:300])
    h = {k.lower(): v for k, v in headers.items()}
    assert h["content-type"].startswith("text/csv"), h
    assert h["content-disposition"] == f'attachment; filename="beckon-service-{today()}-{today()}.csv"', h
    rows = list(csv.reader(io.StringIO(data.decode())))
    header = ("day,chats,missed,answered,waiting_p50,waiting_p90,first_response_p50,first_response_p90,"
              "handling_avg,handling_p50,ratings,csat,invitations_shown,invitations_accepted,invitation_chats,"
              "flows_started,flows_completed,flows_handed_off,flows_emails,"
              "answered_by_email,email_first_response_p50,email_first_response_p90")
    assert ",".join(rows[0]) == header, rows[0]
    assert [r[0] for r in rows[1:]] == [today(), "total"], rows
    body = await stats(env, f"?from={today()}&to={today()}")
    for row, figures in ((rows[1], body["days"][0]), (rows[2], body["totals"])):
        for name, cell in zip(rows[0][1:], row[1:]):
            want = figures[name]
            got = None if cell == "" else float(cell)
            assert got == want or (got is not None and want is not None and abs(got - want) < 1e-9), \
                f"CSV {row[0]} {name} = {cell!r}, JSON says {want!r}"


@T.case("access: every role may read; no token or a bad one is 401, a foreign page 403")
async def t_access(env):
    for who in ("alice", "mark", "ada"):
        status, _, data = await api(env, "/api/stats/service", who=who)
        assert status == 200, f"{who}: HTTP {status} {data[:200]!r}"
    status, _, data = await api(env, "/api/stats/service", who=None)
    assert status == 401 and json.loads(data)["error"]["code"] == "unauthorized", (status, data)
    status, _, _ = await api(env, "/api/stats/service.csv", token="0" * 64)
    assert status == 401, status
    status, _, data = await api(env, "/api/stats/service", headers={"Origin": "https://evil.example"})
    assert status == 403, (status, data)
    status, _, _ = await api(env, "/api/stats/service", method="POST", body={})
    assert status == 405, status


@T.case("bad parameters: 400 naming the parameter; at most 366 days")
async def t_bad_parameters(env):
    cases = [("?from=2026-13-01", "from"), ("?from=2026-02-30", "from"), ("?to=yesterday", "to"),
             ("?from=2026-1-05&to=2026-01-06", "from"), ("?from=2026-03-02&to=2026-03-01", "from"),
             ("?from=2025-01-01&to=2026-01-02", "from"), ("?agent=no%20such", "agent"), ("?site=a/b", "site")]
    for query, name in cases:
        status, _, data = await api(env, "/api/stats/service" + query)
        body = json.loads(data)
        assert status == 400 and body["error"]["code"] == "bad_request", f"{query}: HTTP {status} {data!r}"
        assert body["error"]["message"].startswith(name + ":"), f"{query}: message {body['error']['message']!r}"
    # 366 days is the most: 2024 was a leap year
    status, _, data = await api(env, "/api/stats/service?from=2024-01-01&to=2024-12-31")
    assert status == 200 and len(json.loads(data)["days"]) == 366, (status, data[:200])


@T.case("a long range is read a week per call: rows 300, 100, 20 and 1 days back all count, on their days")
async def t_long_range(env):
    now = datetime.datetime.now(datetime.timezone.utc)
    site = "long-range-site"   # its own site, so the scenario's chats stay out of the figures
    placed = {}
    for back, n in ((300, 3), (100, 2), (20, 1), (8, 4), (1, 2)):
        day = now - datetime.timedelta(days=back)
        key = site_prefix() + "svc:" + day.strftime("%Y%m%d")   # no site configured: the slot of site ""
        closed = int(day.timestamp() * 1000)
        for i in range(n):
            row = {"created": closed - 60000, "accepted": closed - 50000, "first_response": closed - 45000,
                   "closed": closed, "agent": "alice", "site": site, "rule": None, "rating": 5}
            env.redis.command("HSET", key, f"lr-{back}-{i}", json.dumps(row))
        placed[day.strftime("%Y-%m-%d")] = n
    frm = (now - datetime.timedelta(days=365)).strftime("%Y-%m-%d")
    r = await stats(env, f"?from={frm}&to={today()}&site={site}")
    assert len(r["days"]) == 366, len(r["days"])
    got = {d["day"]: d["chats"] for d in r["days"] if d["chats"]}
    assert got == placed, (got, placed)
    assert r["totals"]["chats"] == sum(placed.values()) and r["totals"]["waiting_p50"] == 10.0, r["totals"]


if __name__ == "__main__":
    T.run("service_stats", setup=setup)
