"""The marketers' REST routes (docs/protocol.md, "Routes for marketers" and "Dry run"), end to end:
roles and Bearer tokens, saving and validating rules with exact error paths, live effect on open
visitor sockets, versions, revert, delete, the dry run (simulated visit and stored visitor) and
the stats after a scripted accept.
"""

import asyncio
import datetime
import json
import time
import urllib.parse

from harness import Cases, http_request, id_prefix, GLOBAL_PREFIX

T = Cases()

PREFIX = "bk:"
SITE = "https://shop.example"
DANISH = "Hej! Kan jeg hjælpe med priserne?"
QUIET = 1.0

ROLES = {"alice": "agent", "mark": "marketer", "ada": "admin"}
_tokens = {}


# --------------------------------------------------------------------------------------------
# Local helpers
# --------------------------------------------------------------------------------------------


def rule(when, text="An invitation", rid=None, **extra):
    r = {"when": when, "then": {"invite": {"text": text}}}
    if rid is not None:
        r["id"] = rid
    r.update(extra)
    return r


def path_glob(pattern):
    return {"page.path": {"glob": pattern}}


def page(path, title=""):
    return {"url": SITE + path, "title": title, "referrer": ""}


async def api(env, method, path, body=None, who="mark", token=None, headers=None):
    """One REST call. `who` logs in (once per file) as that agent; who=None sends no token.
    Returns (status, parsed JSON or None, raw bytes)."""
    hdrs = dict(headers or {})
    if token is None and who is not None:
        if who not in _tokens:
            _tokens[who] = await env.login(who)
        token = _tokens[who]
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body, ensure_ascii=False).encode()
        hdrs["Content-Type"] = "application/json"
    status, _, data = await http_request(env.beckon.port, method, path, body=body, headers=hdrs)
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = None
    return status, parsed, data


def show(method, path, status, data):
    return f"{method} {path} -> HTTP {status} {data[:400]!r}"


async def call(env, method, path, body=None, want=200, **kw):
    status, parsed, data = await api(env, method, path, body, **kw)
    assert status == want, "expected HTTP %d: %s" % (want, show(method, path, status, data))
    assert isinstance(parsed, dict), "body is not a JSON object: " + show(method, path, status, data)
    return parsed


def check_error(parsed, code=None, what=""):
    err = (parsed or {}).get("error")
    assert isinstance(err, dict) and isinstance(err.get("code"), str) and isinstance(err.get("message"), str), \
        f"{what}: error body is not {{\"error\":{{\"code\",\"message\"}}}}: {parsed}"
    if code is not None:
        assert err["code"] == code, f"{what}: error code {err['code']!r}, want {code!r}: {parsed}"
    return err


async def put_rule(env, rid, body, who="mark"):
    r = await call(env, "PUT", f"/api/rules/{rid}", body, who=who)
    assert r.get("id") == rid, f"PUT {rid}: id {r.get('id')!r}: {r}"
    assert isinstance(r.get("version"), int) and not isinstance(r.get("version"), bool), f"PUT {rid}: version: {r}"
    return r["version"]


async def delete_all_rules(env):
    listing = await call(env, "GET", "/api/rules")
    for entry in listing.get("rules", []):
        await call(env, "DELETE", f"/api/rules/{entry['id']}")


def rules_loaded_count(b):
    try:
        with open(b.log, "rb") as f:
            return f.read().decode("utf-8", "replace").count("rules loaded:")
    except OSError:
        return 0


async def settled(env, before, timeout=5.0):
    """Every node logged another 'rules loaded' since `before` (a count from rules_loaded_count)."""
    deadline = time.monotonic() + timeout
    while rules_loaded_count(env.beckon) <= before:
        if time.monotonic() > deadline:
            raise AssertionError(f"rules not reloaded within {timeout}s after a change")
        await asyncio.sleep(0.01)


def check_invite(m, rule_id, text=None):
    assert m.get("rule") == rule_id, f"invitation of rule {m.get('rule')!r}, expected {rule_id!r}: {m}"
    assert isinstance(m.get("invitation"), str) and m["invitation"].startswith("i_"), f"invite: {m}"
    if text is not None:
        assert m.get("text") == text, f"invitation text {m.get('text')!r} != {text!r}"
    return m


async def expect_invite(client, rule_id, text=None, timeout=3.0):
    return check_invite(await client.recv_until("invite", timeout=timeout), rule_id, text)


def iso_today():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


def stats_for(body, rid):
    """The per-rule entry of GET /api/stats/rules. The doc says "per rule and day ... with totals per
    rule" without fixing the layout; both a map by rule id and a list of {id, ...} are accepted."""
    rules = body.get("rules")
    if isinstance(rules, dict):
        return rules.get(rid)
    if isinstance(rules, list):
        for e in rules:
            if isinstance(e, dict) and (e.get("id") == rid or e.get("rule") == rid):
                return e
    raise AssertionError(f"stats body has no `rules` map or list: {body}")


async def setup(env):
    for name, role in ROLES.items():
        password = f"pw-{name}-secret"
        r = env.beckon.cli("agent", "add", name, role, stdin=password + "\n")
        if r.returncode != 0:
            raise AssertionError(f"`agent add {name} {role}` exited {r.returncode}: "
                                 f"{r.stdout.decode(errors='replace')} {r.stderr.decode(errors='replace')}")
        env.agents[name] = password


# --------------------------------------------------------------------------------------------
# Auth
# --------------------------------------------------------------------------------------------


@T.case("auth: login names the role; no token 401, agent role 403, marketer and admin 200, on every route")
async def t_auth(env):
    for name, role in ROLES.items():
        status, _, data = await http_request(env.beckon.port, "POST", "/api/login",
                                             {"name": name, "password": env.agents[name]})
        body = json.loads(data)
        assert status == 200 and body.get("agent", {}).get("role") == role, \
            f"login {name}: HTTP {status} {body} (want agent.role {role!r})"

    ok_rule = rule(path_glob("/authx*"))
    routes = [("GET", "/api/rules", None), ("GET", "/api/rules/auth-x", None),
              ("PUT", "/api/rules/auth-x", ok_rule), ("DELETE", "/api/rules/auth-x", None),
              ("GET", "/api/rules/auth-x/versions", None), ("POST", "/api/rules/auth-x/revert", {"version": 1}),
              ("POST", "/api/rules/validate", ok_rule),
              ("POST", "/api/rules/test", {"visit": {"pages": [{"url": SITE + "/", "at": 0}], "until": 5}}),
              ("GET", f"/api/stats/rules?from={iso_today()}&to={iso_today()}", None)]
    for method, path, body in routes:
        status, parsed, data = await api(env, method, path, body, who=None)
        assert status == 401, "no token: " + show(method, path, status, data)
        check_error(parsed, "unauthorized", f"{method} {path} without a token")
        for bad in ("not-a-token", "0" * 64):
            status, parsed, data = await api(env, method, path, body, who=None, token=bad)
            assert status == 401, "wrong token: " + show(method, path, status, data)
        status, parsed, data = await api(env, method, path, body, who=None,
                                         headers={"Authorization": "Basic " + "bWFyazpwdw=="})
        assert status == 401, "Basic auth instead of Bearer: " + show(method, path, status, data)
        status, parsed, data = await api(env, method, path, body, who="alice")
        assert status == 403, "agent role: " + show(method, path, status, data)
        check_error(parsed, "forbidden", f"{method} {path} as an agent")
    # Nothing above may have saved anything.
    assert env.redis.command("HEXISTS", GLOBAL_PREFIX + "rules", "auth-x") == 0, "a refused PUT saved the rule"

    for who in ("mark", "ada"):
        body = await call(env, "GET", "/api/rules", who=who)
        assert isinstance(body.get("rules"), list), f"GET /api/rules as {who}: {body}"
    await put_rule(env, "auth-x", ok_rule, who="ada")
    await call(env, "DELETE", "/api/rules/auth-x", who="mark")


# --------------------------------------------------------------------------------------------
# Saving, reading, listing
# --------------------------------------------------------------------------------------------


@T.case("PUT a valid rule: 200 {id, version}; GET returns it with by/at; the list contains it")
async def t_put_get_list(env):
    await delete_all_rules(env)
    body = rule({"all": [path_glob("/pricing*"), {"page.seconds": {">=": 30}}]}, DANISH,
                name="Help on pricing", priority=10, cap={"per_visit": 1})
    t0 = int(time.time() * 1000)
    v1 = await put_rule(env, "pricing-help", body)  # no id in the body: allowed
    t1 = int(time.time() * 1000)
    got = await call(env, "GET", "/api/rules/pricing-help")
    assert got.get("id") == "pricing-help" and got.get("version") == v1, f"GET: {got}"
    assert got.get("by") == "mark", f"GET by: {got}"
    assert isinstance(got.get("at"), int) and t0 - 1000 <= got["at"] <= t1 + 1000, f"GET at {got.get('at')} not in [{t0}, {t1}]"
    saved = dict(got.get("rule") or {})
    assert saved.pop("id", "pricing-help") == "pricing-help", f"stored rule id: {got}"
    assert saved == body, f"stored rule differs:\n got  {saved}\n sent {body}"

    # With the id in the body (the same one): a new, higher version.
    v2 = await put_rule(env, "pricing-help", dict(body, id="pricing-help", priority=11))
    assert v2 > v1, f"second PUT version {v2} not above {v1}"
    listing = await call(env, "GET", "/api/rules")
    entries = [e for e in listing.get("rules", []) if e.get("id") == "pricing-help"]
    assert len(entries) == 1, f"list: {listing}"
    e = entries[0]
    assert e.get("version") == v2 and e.get("by") == "mark" and isinstance(e.get("at"), int), f"list entry: {e}"
    assert (e.get("rule") or {}).get("priority") == 11, f"list entry rule: {e}"

    # An id in the body that is not the URL's: refused, nothing saved.
    status, parsed, data = await api(env, "PUT", "/api/rules/pricing-help", dict(body, id="other-id"))
    assert status == 400, "PUT with a different id in the body: " + show("PUT", "/api/rules/pricing-help", status, data)
    check_error(parsed, None, "id mismatch")
    assert (await call(env, "GET", "/api/rules/pricing-help")).get("version") == v2, "id mismatch changed the rule"
    status, _, data = await api(env, "GET", "/api/rules/other-id")
    assert status == 404, "GET other-id: " + show("GET", "/api/rules/other-id", status, data)

    status, parsed, data = await api(env, "GET", "/api/rules/no-such-rule")
    assert status == 404, show("GET", "/api/rules/no-such-rule", status, data)
    check_error(parsed, None, "GET unknown rule")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

INVALID = [
    # (what, rule body, path, message or None)
    ("string threshold", rule({"all": [path_glob("/p*"), {"page.seconds": {">=": "30"}}]}),
     "when.all[1].page.seconds.>=", "expected a number"),
    ("string threshold, shorthand", rule({"all": [path_glob("/p*"), {"page.seconds": "30"}]}),
     "when.all[1].page.seconds", "expected a number"),
    ("unknown field", rule({"all": [path_glob("/p*"), {"page.nope": 1}]}), "when.all[1].page.nope", None),
    ("unknown operator", rule({"any": [{"page.path": {"like": "/p"}}]}), "when.any[0].page.path.like", None),
    ("no then", {"when": path_glob("/p*")}, "then", None),
    ("empty text", rule(path_glob("/p*"), text="  "), "then.invite.text", None),
    ("cap per_visit 0", rule(path_glob("/p*"), cap={"per_visit": 0}), "cap.per_visit", None),
    ("unknown top-level key", dict(rule(path_glob("/p*")), colour="red"), "colour", None),
]


@T.case("invalid rules: 400 invalid_rule with the exact path (PUT and validate); nothing saved")
async def t_invalid(env):
    for what, body, path, message in INVALID:
        # PUT may leave the id out (it is in the URL); validate gets a whole rule, id included.
        for method, url, sent in (("PUT", "/api/rules/bad-rule", body),
                                  ("POST", "/api/rules/validate", dict(body, id="bad-rule"))):
            status, parsed, data = await api(env, method, url, sent)
            assert status == 400, f"{what}: " + show(method, url, status, data)
            err = check_error(parsed, "invalid_rule", f"{what} ({method} {url})")
            assert err.get("path") == path, f"{what} ({method}): path {err.get('path')!r}, want {path!r}: {parsed}"
            if message is not None:
                assert err["message"] == message, f"{what}: message {err['message']!r}, want {message!r}"
    status, _, data = await api(env, "GET", "/api/rules/bad-rule")
    assert status == 404, "an invalid PUT saved something: " + show("GET", "/api/rules/bad-rule", status, data)
    status, parsed, data = await api(env, "GET", "/api/rules/bad-rule/versions")
    assert status == 404 or (parsed or {}).get("versions") == [], \
        "an invalid PUT recorded a version: " + show("GET", "/api/rules/bad-rule/versions", status, data)

    # Not JSON at all.
    status, parsed, data = await api(env, "PUT", "/api/rules/bad-rule", b"{not json")
    assert status == 400, "PUT with a non-JSON body: " + show("PUT", "/api/rules/bad-rule", status, data)
    check_error(parsed, None, "non-JSON body")

    # A valid rule validates, and validating does not save it.
    good = rule({"all": [path_glob("/pricing*"), {"page.seconds": {">=": 30}}]}, DANISH, rid="bad-rule")
    body = await call(env, "POST", "/api/rules/validate", good)
    assert body.get("valid") is True, f"validate: {body}"
    status, _, data = await api(env, "GET", "/api/rules/bad-rule")
    assert status == 404, "validate saved the rule: " + show("GET", "/api/rules/bad-rule", status, data)


# --------------------------------------------------------------------------------------------
# Live effect, versions, revert, delete
# --------------------------------------------------------------------------------------------


@T.case("a rule saved over REST takes effect on open visitor sockets of every node without restart")
async def t_live(env):
    await delete_all_rules(env)
    other = await env.new_beckon("node2")  # same Redis: "every node applies it at once"
    v = await env.visitor(page=page("/restlive"))
    w = await env.visitor(page=page("/restlive/x"), beckon=other)
    await v.expect_none("invite", within=0.5)
    await w.expect_none("invite", within=0.01)
    saved = time.monotonic()
    await put_rule(env, "rest-live", rule(path_glob("/restlive*"), DANISH))
    for c in (v, w):
        await expect_invite(c, "rest-live", DANISH, timeout=2)
        took = time.monotonic() - saved
        assert took < 1.0, f"{c.name}: invitation {took:.2f}s after the PUT was sent"
    rc = await other.stop()
    assert rc == 0, f"the second node exited {rc} on SIGTERM"


@T.case("versions oldest first; revert saves an old version as a new one and applies it")
async def t_versions_revert(env):
    await delete_all_rules(env)
    v1 = await put_rule(env, "rev", rule(path_glob("/revert*"), "one"))
    v2 = await put_rule(env, "rev", rule(path_glob("/nowhere*"), "two"), who="ada")
    body = await call(env, "GET", "/api/rules/rev/versions")
    vs = body.get("versions")
    assert isinstance(vs, list) and [x.get("version") for x in vs] == [v1, v2], f"versions: {body}"
    assert [x.get("by") for x in vs] == ["mark", "ada"], f"versions by: {vs}"
    assert all(isinstance(x.get("at"), int) for x in vs) and vs[0]["at"] <= vs[1]["at"], f"versions at: {vs}"
    assert [x.get("rule", {}).get("then", {}).get("invite", {}).get("text") for x in vs] == ["one", "two"], vs

    visitor = await env.visitor(page=page("/revert"))
    await visitor.expect_none("invite", within=0.5)
    r = await call(env, "POST", "/api/rules/rev/revert", {"version": v1})
    v3 = r.get("version")
    assert isinstance(v3, int) and v3 > v2, f"revert reply: {r} (want a new version above {v2})"
    got = await call(env, "GET", "/api/rules/rev")
    assert got.get("version") == v3 and got["rule"]["then"]["invite"]["text"] == "one", f"after revert: {got}"
    await expect_invite(visitor, "rev", "one", timeout=2)
    vs = (await call(env, "GET", "/api/rules/rev/versions")).get("versions")
    assert [x.get("version") for x in vs] == [v1, v2, v3], f"versions after revert: {vs}"

    for bad, want in (({"version": 999999}, 404), ({}, 400), ({"version": "1"}, 400)):
        status, parsed, data = await api(env, "POST", "/api/rules/rev/revert", bad)
        assert status == want, f"revert {bad}: " + show("POST", "/api/rules/rev/revert", status, data)
        check_error(parsed, None, f"revert {bad}")
    status, _, data = await api(env, "POST", "/api/rules/no-such/revert", {"version": v1})
    assert status == 404, "revert of an unknown rule: " + show("POST", "/api/rules/no-such/revert", status, data)


@T.case("DELETE: 200 {id, version}, then 404; a deletion version; no more invitations, even from armed timers")
async def t_delete(env):
    await delete_all_rules(env)
    v1 = await put_rule(env, "del-me", rule({"all": [path_glob("/delete*"), {"page.seconds": {">=": 2}}]}))
    armed = await env.visitor(page=page("/delete"))  # its timer is armed for 2 s from now
    await asyncio.sleep(0.3)
    before = rules_loaded_count(env.beckon)
    r = await call(env, "DELETE", "/api/rules/del-me")
    assert r.get("id") == "del-me" and isinstance(r.get("version"), int) and r["version"] > v1, f"DELETE: {r}"
    await settled(env, before)
    status, _, data = await api(env, "GET", "/api/rules/del-me")
    assert status == 404, "GET after DELETE: " + show("GET", "/api/rules/del-me", status, data)
    listing = await call(env, "GET", "/api/rules")
    assert all(e.get("id") != "del-me" for e in listing.get("rules", [])), f"list after DELETE: {listing}"
    vs = (await call(env, "GET", "/api/rules/del-me/versions")).get("versions")
    assert isinstance(vs, list) and len(vs) == 2 and vs[-1].get("deleted") is True \
        and vs[-1].get("version") == r["version"], f"versions after DELETE: {vs}"
    assert "rule" not in vs[-1], f"deletion version carries a rule: {vs[-1]}"

    fresh = await env.visitor(page=page("/delete"))
    await armed.expect_none("invite", within=2.5)
    await fresh.expect_none("invite", within=0.01)
    status, parsed, data = await api(env, "DELETE", "/api/rules/del-me")
    assert status == 404, "second DELETE: " + show("DELETE", "/api/rules/del-me", status, data)
    check_error(parsed, None, "second DELETE")


# --------------------------------------------------------------------------------------------
# Dry run
# --------------------------------------------------------------------------------------------

DOC_VISIT = {"pages": [{"url": SITE + "/", "at": 0}, {"url": SITE + "/pricing", "title": "Pricing", "at": 20}],
             "until": 90, "referrer": "https://www.google.com/", "visits": 2, "chats": 0,
             "lang": "da", "device": "desktop", "agents_available": True}


def dry_rules():
    return [
        rule({"all": [path_glob("/pricing*"), {"page.seconds": {">=": 30}}]}, DANISH, rid="pricing-help",
             priority=10),
        rule({"all": [{"event.name": "cart_add"}]}, "Cart?", rid="cart-rescue", priority=20),
        rule({"all": [path_glob("/pricing*"), {"page.seconds": {">=": 30}}]}, "low", rid="pricing-low", priority=1),
        rule({"all": [path_glob("/pricing*"), {"page.seconds": {">=": 100}}]}, "late", rid="pricing-late",
             priority=30),
        rule(path_glob("/pricing*"), "off", rid="switched-off", enabled=False, priority=50),
    ]


def by_id(body):
    rules = body.get("rules")
    assert isinstance(rules, list), f"dry run without a rules list: {body}"
    out = {}
    for e in rules:
        assert e.get("outcome") in ("fires", "outranked", "disabled", "when", "unless", "only", "cap"), e
        out[e.get("id")] = e
    return out


@T.case("dry run, simulated visit: which rule fires at which second; why the others do not")
async def t_dry_run_visit(env):
    body = await call(env, "POST", "/api/rules/test", {"rules": dry_rules(), "visit": DOC_VISIT})
    assert body.get("fires") == {"rule": "pricing-help", "at": 50}, f"fires: {body.get('fires')} ({body})"
    e = by_id(body)
    assert set(e) == {r["id"] for r in dry_rules()}, f"not every rule explained: {list(e)}"
    assert (e["pricing-help"]["outcome"], e["pricing-help"]["path"], e["pricing-help"]["detail"]) == ("fires", "", ""), \
        e["pricing-help"]
    assert e["cart-rescue"]["outcome"] == "when" and e["cart-rescue"]["path"] == "when.all[0]", e["cart-rescue"]
    assert e["cart-rescue"]["detail"] == 'event.name = "cart_add": actual missing', e["cart-rescue"]
    assert e["pricing-low"]["outcome"] == "outranked", e["pricing-low"]
    assert e["switched-off"]["outcome"] == "disabled", e["switched-off"]
    late = e["pricing-late"]
    assert late["outcome"] == "when" and late["path"] == "when.all[1]", late
    assert late["detail"] == "page.seconds >= 100: actual 30", late  # taken at second 50
    assert late.get("could_fire_at") == 120, f"page at 20 + 100 s: could_fire_at should be 120: {late}"

    # Nothing fires before the until: fires is null, explanations are taken at `until`.
    short = dict(DOC_VISIT, until=45)
    body = await call(env, "POST", "/api/rules/test", {"rules": dry_rules(), "visit": short})
    assert "fires" in body and body["fires"] is None, f"fires when nothing fires: {body}"
    e = by_id(body)
    assert e["pricing-help"]["outcome"] == "when" and e["pricing-help"]["path"] == "when.all[1]", e["pricing-help"]
    assert e["pricing-help"]["detail"] == "page.seconds >= 30: actual 25", e["pricing-help"]
    assert e["pricing-help"].get("could_fire_at") == 50, e["pricing-help"]

    # Never on the pricing page: the glob is what fails.
    body = await call(env, "POST", "/api/rules/test", {"rules": dry_rules()[:1],
                                                       "visit": dict(DOC_VISIT, pages=DOC_VISIT["pages"][:1])})
    e = by_id(body)["pricing-help"]
    assert body.get("fires") is None and e["outcome"] == "when" and e["path"] == "when.all[0]", body
    assert e["detail"] == 'page.path glob "/pricing*": actual "/"', e

    # A broken draft is a 400 naming the rule's position.
    bad = dry_rules()[:1] + [rule({"page.seconds": {">=": "x"}}, rid="broken")]
    status, parsed, data = await api(env, "POST", "/api/rules/test", {"rules": bad, "visit": DOC_VISIT})
    assert status == 400, "dry run with an invalid draft: " + show("POST", "/api/rules/test", status, data)
    err = check_error(parsed, "invalid_rule", "invalid draft")
    assert "page.seconds" in str(err.get("path")), f"invalid draft path: {parsed}"

    # Without "rules": the saved rules are tried.
    await delete_all_rules(env)
    await put_rule(env, "saved-one", rule({"all": [path_glob("/saved*"), {"page.seconds": {">=": 5}}]}))
    visit = {"pages": [{"url": SITE + "/", "at": 0}, {"url": SITE + "/saved/x", "at": 7}], "until": 60}
    body = await call(env, "POST", "/api/rules/test", {"visit": visit})
    assert body.get("fires") == {"rule": "saved-one", "at": 12}, f"dry run of saved rules: {body}"
    assert list(by_id(body)) == ["saved-one"], body


@T.case("dry run against a stored visitor: now, with the failing path and when time alone could fix it")
async def t_dry_run_visitor(env):
    v = await env.visitor(page=page("/dryv"))
    await v.expect_reply({"type": "page_view", "url": SITE + "/dryv/plans", "title": ""}, "ok")
    started = int(env.redis.command("HGET", f"{id_prefix(v.visitor_id)}visitor:{v.visitor_id}", "page_started"))
    rules = [rule({"all": [path_glob("/dryv*"), {"page.seconds": {">=": 3600}}]}, rid="dry-wait", priority=9),
             rule({"all": [path_glob("/dryv*"), {"visit.pages": {">=": 2}}]}, rid="dry-now", priority=1),
             rule({"all": [path_glob("/dryv*"), {"visit.pages": {">=": 3}}]}, rid="dry-pages", priority=2)]
    body = await call(env, "POST", "/api/rules/test", {"visitor": v.visitor_id, "rules": rules})
    assert (body.get("fires") or {}).get("rule") == "dry-now", f"stored visitor dry run: {body}"
    e = by_id(body)
    w = e["dry-wait"]
    assert w["outcome"] == "when" and w["path"] == "when.all[1]", w
    assert w["detail"] in ("page.seconds >= 3600: actual 0", "page.seconds >= 3600: actual 1"), w
    assert w.get("could_fire_at_ms") == started + 3600 * 1000, f"could_fire_at_ms, page started {started}: {w}"
    p = e["dry-pages"]
    assert p["outcome"] == "when" and p["path"] == "when.all[1]" and p["detail"] == "visit.pages >= 3: actual 2", p
    assert "could_fire_at_ms" not in p and "could_fire_at" not in p, f"time cannot fix visit.pages: {p}"
    # The dry run invites nobody.
    await v.expect_none("invite", within=0.3)

    status, parsed, data = await api(env, "POST", "/api/rules/test", {"visitor": "v_doesnotexist", "rules": rules})
    assert status == 404, "dry run for an unknown visitor: " + show("POST", "/api/rules/test", status, data)
    check_error(parsed, None, "unknown visitor")


# --------------------------------------------------------------------------------------------
# Stats
# --------------------------------------------------------------------------------------------


@T.case("stats: fired, shown, accepted, chats after a scripted accept; dismissed on another; range limits")
async def t_stats(env):
    await delete_all_rules(env)
    rid = "stats-rule"
    await put_rule(env, rid, rule(path_glob("/stats*"), DANISH))
    today = iso_today()
    v = await env.visitor(page=page("/stats"))
    inv = await expect_invite(v, rid, DANISH)
    await v.expect_reply({"type": "invite_shown", "invitation": inv["invitation"]}, "ok")
    ok = await v.expect_reply({"type": "invite_accepted", "invitation": inv["invitation"]}, "ok")
    assert str(ok.get("conversation", "")).startswith("c_"), ok
    w = await env.visitor(page=page("/stats/other"))
    inv2 = await expect_invite(w, rid)
    await w.expect_reply({"type": "invite_dismissed", "invitation": inv2["invitation"]}, "ok")

    q = urllib.parse.urlencode({"from": today, "to": today})
    body = await call(env, "GET", f"/api/stats/rules?{q}")
    entry = stats_for(body, rid)
    assert isinstance(entry, dict), f"no stats for {rid}: {body}"
    totals = entry.get("totals")
    want = {"fired": 2, "shown": 1, "accepted": 1, "dismissed": 1, "chats": 1}
    assert isinstance(totals, dict) and {k: totals.get(k) for k in want} == want, f"totals: {totals} want {want}"
    days = entry.get("days")
    day = days.get(today) if isinstance(days, dict) else None
    assert isinstance(day, dict) and {k: day.get(k) for k in want} == want, f"per day {today}: {days}"

    # evaluated and matched are counted in the node's memory and flushed every
    # --stats-flush-seconds (1 here): both visitors were judged, and matched, at least once.
    deadline = time.monotonic() + 5
    while True:
        totals = stats_for(await call(env, "GET", f"/api/stats/rules?{q}"), rid)["totals"]
        if totals.get("evaluated", 0) >= 2 and totals.get("matched", 0) >= 2:
            break
        assert time.monotonic() < deadline, f"evaluated/matched not flushed within 5 s: {totals}"
        await asyncio.sleep(0.2)
    assert totals["evaluated"] >= totals["matched"] >= totals["fired"], totals

    # A range of 92 days is fine; 93 is not; from after to is not.
    # Every range check runs; the failures are reported together.
    d = datetime.date.fromisoformat(today)
    problems = []
    ranges = [(d - datetime.timedelta(days=n - 1), d, 200) for n in (7, 28, 29, 31, 92)]
    ranges += [(d - datetime.timedelta(days=92), d, 400), (d, d - datetime.timedelta(days=1), 400)]
    for frm, to, want_status in ranges:
        path = "/api/stats/rules?" + urllib.parse.urlencode({"from": frm.isoformat(), "to": to.isoformat()})
        status, parsed, data = await api(env, "GET", path)
        days = (to - frm).days + 1
        if status != want_status:
            problems.append(f"{days} days: want {want_status}: " + show("GET", path, status, data))
        elif want_status == 200 and (stats_for(parsed, rid) or {}).get("totals", {}).get("fired") != 2:
            problems.append(f"{days} days: totals.fired of {rid} is not 2: {parsed}")
    status, parsed, data = await api(env, "GET", "/api/stats/rules?from=2026-13-01&to=2026-13-02")
    if status != 400:
        problems.append("impossible date: " + show("GET", "/api/stats/rules?from=2026-13-01", status, data))
    assert not problems, "\n".join(problems)


if __name__ == "__main__":
    T.run("rules_api", setup=setup, beckon_args=["--stats-flush-seconds", "1"])
