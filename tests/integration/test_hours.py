"""Business hours per site: the visitor's welcome says whether someone is there and, when not,
when they are back (in the site's time zone, daylight saving included); hours are checked by
the rule engine's parser when saved; auto-acknowledgement and email offer times are per site."""

import asyncio
import datetime as dt
import json
import time
from zoneinfo import ZoneInfo

import websockets

from harness import VISITOR_PROTO, Cases, Client, http_request, parse_json_body, send_message

T = Cases()
ORIGIN = "https://shop.example"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


async def setup(env):
    r = env.beckon.cli("agent", "add", "admin", "admin", stdin="admin-password\n")
    assert r.returncode == 0, r
    env.agents["admin"] = "admin-password"


async def sites_api(env, method, path, body=None):
    token = await env.login("admin")
    status, _, data = await http_request(env.beckon.port, method, path, body, {"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


async def save_site(env, site, **settings):
    body = {"origins": [ORIGIN]}
    body.update(settings)
    status, reply = await sites_api(env, "PUT", "/api/sites/" + site, body)
    assert status == 200, (status, reply)


async def site_visitor(env, site, lang="en", beckon=None):
    node = beckon or env.beckon
    ws = await websockets.connect(f"ws://127.0.0.1:{node.port}/ws", subprotocols=[VISITOR_PROTO],
                                  origin=ORIGIN, open_timeout=5, close_timeout=2, ping_interval=None)
    c = Client(ws, env.uid("v"), "visitor")
    env.clients.append(c)
    c.welcome = await c.expect_reply({"type": "hello", "site": site, "lang": lang}, "welcome")
    c.visitor_id = c.welcome["visitor"]
    return c


def ms(moment):
    return int(moment.timestamp() * 1000)


def hour_window(moment):
    """'tue 14:00-15:00' for the UTC hour that holds `moment`."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    end = "24:00" if start.hour == 23 else f"{start.hour + 1:02d}:00"
    return f"{DAYS[start.weekday()]} {start.hour:02d}:00-{end}", start, start + dt.timedelta(hours=1)


@T.case("closed now: the welcome says so and when the site opens (the next window, to the millisecond)")
async def t_closed(env):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    hours, opens, _ = hour_window(later)
    await save_site(env, "closed-shop", hours=hours, tz="UTC")
    v = await site_visitor(env, "closed-shop")
    now = ms(dt.datetime.now(dt.timezone.utc))
    h = dict(v.welcome["hours"])
    # the time to the change by the server's clock: the widget reconnects then, whatever the visitor's clock says
    assert abs(h.pop("changes_in_ms") - (ms(opens) - now)) < 2000, v.welcome
    assert h == {"open": False, "opens_at": ms(opens), "closes_at": None, "tz": "UTC"}, v.welcome


@T.case("open now: the welcome says open and when it closes")
async def t_open(env):
    now = dt.datetime.now(dt.timezone.utc)
    if now.minute == 59 and now.second > 50:
        await asyncio.sleep(12)   # not across the window's end
        now = dt.datetime.now(dt.timezone.utc)
    hours, _, closes = hour_window(now)
    await save_site(env, "open-shop", hours=hours, tz="UTC")
    v = await site_visitor(env, "open-shop")
    h = dict(v.welcome["hours"])
    assert 0 <= h.pop("changes_in_ms") <= ms(closes) - ms(now) + 2000, v.welcome
    assert h == {"open": True, "opens_at": None, "closes_at": ms(closes), "tz": "UTC"}, v.welcome


@T.case("a site without hours is always open: hours null; hours null in a PUT removes them")
async def t_no_hours(env):
    await save_site(env, "always-shop")
    v = await site_visitor(env, "always-shop")
    assert v.welcome["hours"] is None, v.welcome
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    await save_site(env, "always-shop", hours=hour_window(later)[0], tz="UTC")
    assert (await site_visitor(env, "always-shop")).welcome["hours"]["open"] is False
    await save_site(env, "always-shop", hours=None)
    assert (await site_visitor(env, "always-shop")).welcome["hours"] is None


@T.case("hours are wall-clock times in the site's zone: Copenhagen 09:00-17:00 on every day, DST included")
async def t_zone(env):
    await save_site(env, "cph-shop", hours="mon-sun 09:00-17:00", tz="Europe/Copenhagen")
    v = await site_visitor(env, "cph-shop")
    zone = ZoneInfo("Europe/Copenhagen")
    local = dt.datetime.now(zone)
    today_open = local.replace(hour=9, minute=0, second=0, microsecond=0)
    today_close = local.replace(hour=17, minute=0, second=0, microsecond=0)
    h = v.welcome["hours"]
    if today_open <= local < today_close:
        assert h["open"] is True and h["closes_at"] == ms(today_close), h
    else:
        day = local.date() if local < today_open else local.date() + dt.timedelta(days=1)
        opens = dt.datetime(day.year, day.month, day.day, 9, tzinfo=zone)
        assert h["open"] is False and h["opens_at"] == ms(opens), h
    assert h["tz"] == "Europe/Copenhagen"


@T.case("bad hours or zones are refused with 400 naming the field; the list shows what was saved")
async def t_validation(env):
    for body, word in (({"hours": "mon-fri 9-17", "tz": "UTC"}, "hours"),
                       ({"hours": "mon-fri 09:00-17:00", "tz": "Mars/Olympus_Mons"}, "tz"),
                       ({"hours": "mon-fri 09:00-17:00"}, "tz"),
                       ({"hours": 9, "tz": "UTC"}, "hours"),
                       ({"auto_ack_seconds": 0}, "auto_ack_seconds"),
                       ({"offer_email_seconds": "soon"}, "offer_email_seconds")):
        status, reply = await sites_api(env, "PUT", "/api/sites/bad-shop", dict(body, origins=[ORIGIN]))
        assert status == 400 and reply["error"]["code"] == "bad_request", (body, status, reply)
        assert word in reply["error"]["message"], (body, reply)
    await save_site(env, "listed-shop", hours="mon-fri 09:00-17:00, sat 10:00-14:00", tz="Europe/Oslo",
                    auto_ack_seconds=45, offer_email_seconds=300)
    status, reply = await sites_api(env, "GET", "/api/sites")
    assert status == 200
    listed = {s["id"]: s for s in reply["sites"]}
    assert "bad-shop" not in listed
    s = listed["listed-shop"]
    assert (s["hours"], s["tz"], s["auto_ack_seconds"], s["offer_email_seconds"]) == \
        ("mon-fri 09:00-17:00, sat 10:00-14:00", "Europe/Oslo", 45, 300), s


@T.case("the shell sets and clears hours: beckon site set ID hours TEXT ZONE | hours off")
async def t_cli(env):
    await save_site(env, "cli-shop")
    r = env.beckon.cli("site", "set", "cli-shop", "hours", "mon-fri 08:00-16:00", "Europe/Copenhagen")
    assert r.returncode == 0, r
    r = env.beckon.cli("site", "set", "cli-shop", "hours", "mon-fri 8-16", "UTC")
    assert r.returncode == 2 and b"hours" in r.stderr, r
    status, reply = await sites_api(env, "GET", "/api/sites")
    s = {s["id"]: s for s in reply["sites"]}["cli-shop"]
    assert (s["hours"], s["tz"]) == ("mon-fri 08:00-16:00", "Europe/Copenhagen"), s
    r = env.beckon.cli("site", "set", "cli-shop", "hours", "off")
    assert r.returncode == 0, r
    status, reply = await sites_api(env, "GET", "/api/sites")
    s = {s["id"]: s for s in reply["sites"]}["cli-shop"]
    assert s["hours"] is None and s["tz"] is None, s


@T.case("auto-acknowledgement time per site: 1 s on one site while the server's default is 30 s")
async def t_auto_ack_per_site(env):
    await save_site(env, "quick-shop", auto_ack_seconds=1)
    await save_site(env, "slow-shop")
    quick = await site_visitor(env, "quick-shop", lang="da")
    slow = await site_visitor(env, "slow-shop", lang="da")
    t0 = time.monotonic()
    quick_conv = (await send_message(quick, "Hej?"))["conversation"]
    slow_conv = (await send_message(slow, "Hej?"))["conversation"]
    m = await quick.recv_until("message", conversation=quick_conv, pred=lambda m: m["from"] == "system", timeout=5)
    assert m["text"] == "Vi har set dit spørgsmål og svarer om lidt.", m
    assert time.monotonic() - t0 <= 3.5
    await slow.expect_none("message", conversation=slow_conv, pred=lambda m: m["from"] == "system", within=2.5)


@T.case("after hours the acknowledgement says so, in the visitor's language, and offers the email at once")
async def t_closed_ack(env):
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    await save_site(env, "night-shop", hours=hour_window(later)[0], tz="UTC", auto_ack_seconds=1)
    v = await site_visitor(env, "night-shop", lang="da")
    assert v.welcome["hours"]["open"] is False
    t0 = time.monotonic()
    conv = (await send_message(v, "Er der nogen?"))["conversation"]
    m = await v.recv_until("message", conversation=conv, pred=lambda m: m["from"] == "system", timeout=5)
    assert m["text"] == "Vi har set dit spørgsmål. Vi har lukket lige nu og svarer, når vi er tilbage.", m
    await v.recv_until("offer_email", conversation=conv, timeout=2)
    assert time.monotonic() - t0 <= 3.5


if __name__ == "__main__":
    T.run("hours", setup=setup)
