"""Help articles end to end (docs/protocol.md, "Help articles"): the marketers' REST with roles,
versions, revert, import and export; bad markup left out and named; a huge article refused with
its limit; visitors' searches of every odd kind, suggestions, articles and "helped" answered from
the node's memory; the index rebuilt on a second node by the bus; what the visitor saw shown to
the agent; the self-service figures (searches, views, helped, no result, chats avoided).
"""

import asyncio
import json
import time

from harness import Cases, http_request, id_prefix, GLOBAL_PREFIX

T = Cases()
ROLES = {"alice": "agent", "mark": "marketer", "ada": "admin"}
_tokens = {}
SITE = "demo"   # the visitors' site (harness: hello with site "demo", no sites configured)


async def api(env, method, path, body=None, who="mark", raw=None, beckon=None):
    hdrs = {}
    if who is not None:
        if who not in _tokens:
            _tokens[who] = await env.login(who)
        hdrs["Authorization"] = "Bearer " + _tokens[who]
    if raw is not None:
        body = raw
        hdrs["Content-Type"] = "application/json"
    elif body is not None:
        body = json.dumps(body, ensure_ascii=False).encode()
        hdrs["Content-Type"] = "application/json"
    status, _, data = await http_request((beckon or env.beckon).port, method, path, body=body, headers=hdrs)
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = None
    return status, parsed, data


async def call(env, method, path, body=None, want=200, **kw):
    status, parsed, data = await api(env, method, path, body, **kw)
    assert status == want, f"{method} {path}: want HTTP {want}, got {status} {data[:400]!r}"
    return parsed


def article(title, body, lang="en", category="General", state="published"):
    return {"title": title, "body": body, "lang": lang, "category": category, "state": state}


async def search(v, query, **extra):
    msg = {"type": "help_search", "query": query}
    msg.update(extra)
    return await v.expect_reply(msg, "help_results")


async def until(fn, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        got = await fn()
        if got:
            return got
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.1)


async def setup(env):
    for name, role in ROLES.items():
        password = f"pw-{name}-secret"
        r = env.beckon.cli("agent", "add", name, role, stdin=password + "\n")
        assert r.returncode == 0, r.stderr
        env.agents[name] = password


@T.case("roles: an agent may not edit articles (403), a marketer and an admin may; no token 401")
async def t_roles(env):
    assert (await api(env, "GET", f"/api/help/{SITE}/articles", who="alice"))[0] == 403
    assert (await api(env, "GET", f"/api/help/{SITE}/articles", who=None))[0] == 401
    for who in ("mark", "ada"):
        body = await call(env, "GET", f"/api/help/{SITE}/articles", who=who)
        assert body["site"] == SITE and isinstance(body["articles"], list), body


@T.case("PUT, GET, list, versions, revert, DELETE: every change a version with who and when")
async def t_versions(env):
    path = f"/api/help/{SITE}/articles/shipping-cost"
    v1 = await call(env, "PUT", path, article("Shipping costs", "Shipping is **free** over 499 kr."))
    assert v1["id"] == "shipping-cost" and v1["version"] >= 1 and v1["removed"] == [], v1
    got = await call(env, "GET", path)
    assert got["title"] == "Shipping costs" and got["by"] == "mark" and got["state"] == "published", got
    assert got["blocks"] == [{"t": "p", "c": ["Shipping is ", {"t": "strong", "c": ["free"]}, " over 499 kr."]}], got
    v2 = await call(env, "PUT", path, dict(article("Shipping costs", "Shipping costs 39 kr."), id="shipping-cost"))
    assert v2["version"] > v1["version"], (v1, v2)
    listed = await call(env, "GET", f"/api/help/{SITE}/articles")
    entry = [a for a in listed["articles"] if a["id"] == "shipping-cost"]
    assert entry and "body" not in entry[0] and entry[0]["version"] == v2["version"], listed
    versions = (await call(env, "GET", path + "/versions"))["versions"]
    assert [v["version"] for v in versions] == [v1["version"], v2["version"]], versions
    back = await call(env, "POST", path + "/revert", {"version": v1["version"]})
    assert back["version"] > v2["version"] and "free" in back["article"]["body"], back
    assert "free" in (await call(env, "GET", path))["body"]
    gone = await call(env, "DELETE", path)
    assert gone["version"] > back["version"], gone
    await call(env, "GET", path, want=404)
    await call(env, "DELETE", path, want=404)
    versions = (await call(env, "GET", path + "/versions"))["versions"]
    assert versions[-1].get("deleted") is True and len(versions) == 4, versions
    # a GET can be PUT back as it is (the answer's own members are taken and ignored)
    await call(env, "PUT", path, article("Shipping costs", "Again."))
    again = await call(env, "GET", path)
    await call(env, "PUT", path, again)


@T.case("invalid articles: 400 invalid_article naming the field; a huge body 413 naming the limit")
async def t_invalid(env):
    path = f"/api/help/{SITE}/articles/bad"
    cases = [
        ({"body": "x", "lang": "en"}, 400, "title", "required"),
        (article("", "x"), 400, "title", "must not be empty"),
        (article("t" * 201, "x"), 400, "title", "longer than 200 bytes"),
        (article("T", "x", lang="english"), 400, "lang", "expected a language"),
        (article("T", "x", state="live"), 400, "state", "expected published or draft"),
        (dict(article("T", "x"), colour="red"), 400, "colour", "unknown key"),
        (dict(article("T", "x"), id="other"), 400, "id", "must match"),
        (article("T", 12), 400, "body", "expected a string"),
        (article("T", "b" * 40000), 413, "body", "at most 32768 bytes (32 KiB)"),
    ]
    problems = []
    for body, status, field, words in cases:
        got, parsed, data = await api(env, "PUT", path, body)
        err = (parsed or {}).get("error", {})
        if got != status or err.get("path") != field or words not in err.get("message", ""):
            problems.append(f"{field}: want {status} {words!r}, got {got} {data[:200]!r}")
    # over the 64 KiB any HTTP body may have: refused before it is read
    got, parsed, _ = await api(env, "PUT", path, raw=json.dumps(article("T", "b" * 70000)).encode())
    if got != 413 or parsed["error"]["code"] != "too_large":
        problems.append(f"70 KB: got {got} {parsed}")
    await call(env, "GET", path, want=404)
    assert not problems, "\n".join(problems)


@T.case("bad markup: script, iframe, raw HTML, javascript: links, images from elsewhere are left out and named")
async def t_markup(env):
    body = ("# Returns\n\n<script>alert(1)</script>\n\n<iframe src=\"https://evil.example\"></iframe>\n\n"
            "Click [here](javascript:alert(document.cookie)) or [there](https://shop.example/returns).\n\n"
            "<b onmouseover=alert(1)>bold</b> ![pixel](https://tracker.example/p.gif) ![box](/img/box.png)")
    saved = await call(env, "PUT", f"/api/help/{SITE}/articles/markup", article("Returns and markup", body))
    assert set(saved["removed"]) == {"raw HTML", "a javascript: link", "an image not from the site's own files"}, saved
    v = await env.visitor()
    got = await v.expect_reply({"type": "help_article", "article": "markup"}, "help_article")
    text = json.dumps(got["article"]["blocks"])
    for bad in ("script", "iframe", "javascript", "onmouseover", "tracker.example", "<"):
        assert bad not in text, f"{bad!r} reached the visitor: {text}"
    assert '"href": "https://shop.example/returns"' in text and '"src": "/img/box.png"' in text, text
    preview = await call(env, "POST", f"/api/help/{SITE}/preview", article("Draft", "<script>x</script>\n\nok"))
    assert preview["blocks"] == [{"t": "p", "c": ["ok"]}] and preview["removed"] == ["raw HTML"], preview


@T.case("visitors search as they type: stems, typos, unfinished words, published only, their language")
async def t_search(env):
    arts = {
        "refund-time": article("When do I get my refund", "We refund within 5 working days.", category="Returns"),
        "reset-password": article("Reset your password", "Choose *Forgot password* on the login page.", category="Account"),
        "draft-secret": article("Secret refund plan", "Not yet.", state="draft"),
        "da-refusion": article("Hvornår får jeg mine penge tilbage", "Vi refunderer inden for 5 hverdage.", lang="da", category="Retur"),
    }
    for aid, a in arts.items():
        await call(env, "PUT", f"/api/help/{SITE}/articles/{aid}", a)
    v = await env.visitor()
    found = await until(lambda: search(v, "refunds"), "the articles indexed")
    assert [r["id"] for r in found["results"]][:1] == ["refund-time"], found
    r = found["results"][0]
    assert r["title"] and r["category"] == "Returns" and r["excerpt"].startswith("We refund") and 0 < r["relevance"] <= 1, r
    assert "draft-secret" not in [r["id"] for r in found["results"]], found
    assert (await search(v, "refnd"))["results"][0]["id"] == "refund-time"
    assert (await search(v, "passw", typing=True))["results"][0]["id"] == "reset-password"
    da = await search(v, "penge tilbage", lang="da-DK")
    assert da["lang"] == "da" and da["results"][0]["id"] == "da-refusion", da
    listing = await search(v, "", category="Account")
    assert [r["id"] for r in listing["results"]] == ["reset-password"], listing
    assert {"name": "Returns", "count": 1} in listing["categories"], listing
    await v.expect_error({"type": "help_article", "article": "draft-secret"}, "not_found")


@T.case("queries of every odd kind are answered, never an error: regex, format strings, other scripts, 500 bytes")
async def t_odd_queries(env):
    v = await env.visitor()
    for q in ["", "   ", ".*", "(((a+)+)+)$", "[", "%s%n%x", "'; DROP TABLE articles; --", "返品 ポリシー",
              "Привет", "😀😀😀", "\u202eevil", "a" * 500, "refund " * 71]:
        got = await search(v, q[:500], typing=True)
        assert isinstance(got["results"], list), (q, got)
        await asyncio.sleep(0.21)  # within the searches' own rate (5 a second)
    await v.expect_error({"type": "help_search", "query": "a" * 501}, "bad_request")
    await v.expect_error({"type": "help_search", "query": 12}, "bad_request")
    await v.expect_error({"type": "help_search", "query": "x\u0000y"}, "bad_request")
    await v.expect_error({"type": "help_article", "article": "../etc/passwd"}, "bad_request")


@T.case("a rate limit of its own: 10 searches at once, then rate_limited, then 5 a second again")
async def t_rate(env):
    v = await env.visitor()
    replies = [await v.request({"type": "help_search", "query": f"q{i}"}) for i in range(14)]
    kinds = [r["type"] for r in replies]
    assert kinds[:10] == ["help_results"] * 10 and "error" in kinds[10:], kinds
    assert all(r.get("code") == "rate_limited" for r in replies if r["type"] == "error"), replies
    await asyncio.sleep(0.5)
    await search(v, "again")


@T.case("suggestions, an article read and 'helped': the agent sees what the visitor saw")
async def t_seen(env):
    await call(env, "PUT", f"/api/help/{SITE}/articles/track-order",
               article("Track your order", "Open *My orders* and choose **Track** to follow the parcel.", category="Orders"))
    v = await env.visitor()
    s = await until(lambda: search(v, "where is my order parcel track", suggest=True, typing=True), "a suggestion")
    assert s["suggest"] is True and 1 <= len(s["results"]) <= 3 and s["results"][0]["id"] == "track-order", s
    none = await search(v, "weather in paris tomorrow", suggest=True)
    assert none["results"] == [], none
    a = await v.expect_reply({"type": "help_article", "article": "track-order", "suggested": True}, "help_article")
    assert a["article"]["title"] == "Track your order" and a["article"]["lang"] == "en", a
    await v.expect_reply({"type": "help_feedback", "article": "track-order", "helped": True, "suggested": True}, "ok")
    await v.expect_error({"type": "help_feedback", "article": "nope", "helped": True}, "not_found")
    agent = await env.agent("alice")

    async def seen():
        d = await agent.expect_reply({"type": "visitor", "visitor": v.visitor_id}, "visitor")
        hows = [(e["id"], e["how"]) for e in d.get("help_seen", [])]
        return hows if ("track-order", "helped") in hows else None
    hows = await until(seen, "help_seen in the visitor's details")
    assert ("track-order", "suggested") in hows and ("track-order", "viewed") in hows, hows


@T.case("a second node rebuilds its index from the bus: a new article is found there, a deleted one is gone")
async def t_second_node(env):
    other = await env.new_beckon("node2")
    v2 = await env.visitor(beckon=other)
    await call(env, "PUT", f"/api/help/{SITE}/articles/gift-cards",
               article("Gift cards", "Gift cards are valid for three years.", category="Payment"))
    async def found():
        r = await search(v2, "gift card")
        return r if r["results"] and r["results"][0]["id"] == "gift-cards" else None
    started = time.monotonic()
    await until(found, "the article on node2", timeout=3)
    diag_ms = (time.monotonic() - started) * 1000
    await call(env, "DELETE", f"/api/help/{SITE}/articles/gift-cards")
    async def gone():
        r = await search(v2, "gift card")
        return r if "gift-cards" not in [x["id"] for x in r["results"]] else None
    await until(gone, "the article gone from node2", timeout=3)
    print(f"# node2 found the new article {diag_ms:.0f} ms after the PUT's answer")


@T.case("export, then import: every article back with a version each; an import refused names articles[i].field")
async def t_import(env):
    site = "importsite"
    for i in range(3):
        await call(env, "PUT", f"/api/help/{site}/articles/a{i}", article(f"Article {i}", f"Body {i}", lang="da"))
    exported = await call(env, "GET", f"/api/help/{site}/export")
    assert len(exported["articles"]) == 3 and all("body" in a and "version" not in a for a in exported["articles"]), exported
    for a in exported["articles"]:
        a["title"] += " (imported)"
    done = await call(env, "POST", f"/api/help/{site}/import", {"articles": exported["articles"]})
    assert done["imported"] == 3 and all(a["version"] > 0 for a in done["articles"]), done
    assert (await call(env, "GET", f"/api/help/{site}/articles/a1"))["title"] == "Article 1 (imported)"
    bad = exported["articles"][:1] + [{"id": "a9", "body": "x", "lang": "da"}]
    status, parsed, _ = await api(env, "POST", f"/api/help/{site}/import", {"articles": bad})
    assert status == 400 and parsed["error"]["path"] == "articles[1].title", parsed
    await call(env, "GET", f"/api/help/{site}/articles/a9", want=404)


@T.case("figures: searches, no result (the most common), views, helped, not helped, suggested, chats avoided; in the service KPIs too")
async def t_figures(env):
    await call(env, "PUT", f"/api/help/{SITE}/articles/returns",
               article("Return policy", "You have 30 days to return items.", category="Returns"))
    v = await env.visitor()
    await until(lambda: search(v, "return policy"), "indexed")
    for q in ["zebra stripes", "Zebra  stripes!", "unicorn"]:
        await search(v, q)
    await v.expect_reply({"type": "help_article", "article": "returns"}, "help_article")
    await v.expect_reply({"type": "help_feedback", "article": "returns", "helped": False}, "ok")
    await v.expect_reply({"type": "help_feedback", "article": "returns", "helped": True, "suggested": True}, "ok")
    # the helped suggestion's 30 minutes, over: no chat followed
    key = id_prefix(v.visitor_id) + "help:avoid"
    await until(lambda: asyncio.sleep(0, env.redis.command("ZSCORE", key, v.visitor_id)), "help:avoid set")
    env.redis.command("ZADD", key, int(time.time() * 1000) - 31 * 60 * 1000, v.visitor_id)

    async def figures():
        body = await call(env, "GET", f"/api/stats/help?site={SITE}", who="alice")
        t = body["totals"]
        return body if t["chats_avoided"] >= 1 and t["not_helped"] >= 1 and t["no_result"] >= 3 else None
    body = await until(figures, "the figures flushed (chats avoided: a sweep every 6 s)", timeout=15)
    t = body["totals"]
    assert t["searches"] >= 4 and t["views"] >= 1 and t["helped"] >= 1, t
    top = body["no_result_queries"][0]
    assert top == {"site": SITE, "lang": "en", "query": "zebra stripes", "count": 2}, body["no_result_queries"]
    status, _, csv = await http_request(env.beckon.port, "GET", f"/api/stats/help.csv?site={SITE}",
                                        headers={"Authorization": "Bearer " + _tokens["alice"]})
    lines = csv.decode().split("\r\n")
    assert status == 200 and lines[0] == "day,searches,no_result,suggested,views,helped,not_helped,chats_avoided", lines
    assert lines[-2].startswith("total,"), lines
    # the same figures in the service KPIs (and their CSV): per site, unknown (null) per agent
    svc = (await call(env, "GET", f"/api/stats/service?site={SITE}", who="alice"))["totals"]
    assert (svc["help_searches"], svc["help_helped"], svc["help_chats_avoided"]) == \
        (t["searches"], t["helped"], t["chats_avoided"]), (svc, t)
    svc = (await call(env, "GET", "/api/stats/service?agent=alice", who="alice"))["totals"]
    assert svc["help_searches"] is None and svc["help_views"] is None, svc
    status, parsed, _ = await api(env, "GET", "/api/stats/help?from=2026-13-01", who="alice")
    assert status == 400 and parsed["error"]["message"].startswith("from:"), parsed


@T.case("erasure: what the visitor saw and a suggestion that helped go with the visitor")
async def t_erasure(env):
    await call(env, "PUT", f"/api/help/{SITE}/articles/gone", article("Erased visitors", "Nothing stays."))
    v = await env.visitor()
    await until(lambda: search(v, "erased visitors"), "indexed")
    await v.expect_reply({"type": "help_feedback", "article": "gone", "helped": True, "suggested": True}, "ok")
    prefix = id_prefix(v.visitor_id)
    await until(lambda: asyncio.sleep(0, env.redis.command("ZSCORE", prefix + "help:avoid", v.visitor_id)), "help:avoid")
    assert env.redis.command("HGET", prefix + "visitor:" + v.visitor_id, "help_seen"), "help_seen kept"
    await call(env, "DELETE", f"/api/visitors/{v.visitor_id}", who="ada")
    assert env.redis.command("ZSCORE", prefix + "help:avoid", v.visitor_id) is None
    assert env.redis.command("EXISTS", prefix + "visitor:" + v.visitor_id) == 0


if __name__ == "__main__":
    T.run("help", setup=setup, beckon_args=["--stats-flush-seconds", "1"])
