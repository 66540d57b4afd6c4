#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/. Run it again after changing it; the
files are committed so that run.sh needs nothing but clang.

Seeds are realistic inputs: protocol frames of every request type for both roles (from
docs/protocol.md and server/protocol/proto.c's table), the rules of examples/rules.json one by one and
as a list plus rules for every field and operator of docs/rules.md, visitor tokens signed
with the fuzz target's secret, Redis addresses as docs and beckon.conf write them, glob
pattern/subject pairs, visitor profiles as the scripts return them, addresses, SMTP
replies and texts for the mail pieces, and the Redis replies of every reader, right and odd. `make_seeds.py fuzz_profile` rewrites one target's."""
import base64
import hashlib
import hmac
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))

# Must match fuzz_token.c's `secret`.
SECRET = bytes([0x6b, 0x65, 0x79, 0x2d, 0x66, 0x6f, 0x72, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x00,
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff])


def sign(visitor_id, secret=SECRET):
    mac = hmac.new(secret, ("v1." + visitor_id).encode(), hashlib.sha256).digest()
    return "v1.%s.%s" % (visitor_id, base64.urlsafe_b64encode(mac).decode().rstrip("="))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def proto():
    tok = sign("v_3f2a9c0d1e4b5a6f7c8d9e0f")
    visitor = [
        {"type": "hello", "req": 1, "site": "demo", "token": tok, "lang": "da",
         "page": {"url": "https://shop.dk/pricing", "title": "Priser", "referrer": ""}, "device": "mobile"},
        {"type": "hello", "req": "a-1"},
        {"type": "message", "req": 7, "cmid": "m-42", "text": "Hej! Kan I hjælpe? 😀"},
        {"type": "typing", "on": True},
        {"type": "read", "up_to": "1763846400123-0"},
        {"type": "resume", "conversation": "c_91ab", "since": "1763846400123-0"},
        {"type": "resume", "conversation": "c_91ab"},
        {"type": "close", "req": 3},
        {"type": "rate", "score": 5, "comment": "Tak!", "conversation": "c_91ab"},
        {"type": "page_view", "url": "https://shop.dk/checkout?step=2", "title": "", "referrer": "https://google.com/"},
        {"type": "event", "name": "cart_add", "props": {"value": 2500, "sku": "SKU-1", "gift": False}},
        {"type": "invite_shown", "invitation": "i_5751"},
        {"type": "invite_accepted", "invitation": "i_5751"},
        {"type": "invite_dismissed", "invitation": "i_5751"},
        {"type": "identify", "name": "Mette", "email": "mette@example.dk", "attrs": {"plan": "team", "seats": 25}},
        {"type": "leave_message", "email": "a@b.dk", "text": "Ring mig op", "name": "Ole"},
    ]
    agent = [
        {"type": "hello", "req": 1, "token": "3a0c" * 16},
        {"type": "message", "conversation": "c_91ab", "cmid": "m-1", "text": "Hej"},
        {"type": "typing", "conversation": "c_91ab", "on": False},
        {"type": "read", "conversation": "c_91ab", "up_to": "0"},
        {"type": "close", "conversation": "c_91ab"},
        {"type": "accept", "req": 2, "conversation": "c_91ab"},
        {"type": "note", "conversation": "c_91ab", "cmid": "n-1", "text": "VIP customer"},
        {"type": "transfer", "conversation": "c_91ab", "to": "bob"},
        {"type": "status", "status": "away"},
        {"type": "visitor", "req": 4, "visitor": "v_3f2a"},
        {"type": "visitors"},
        {"type": "invite", "visitor": "v_3f2a", "text": "Kan jeg hjælpe?"},
        {"type": "left_messages"},
    ]
    for i, frame in enumerate(visitor):
        write("fuzz_proto", "visitor-%02d-%s.json" % (i, frame["type"]), json.dumps(frame, ensure_ascii=False))
    for i, frame in enumerate(agent):
        write("fuzz_proto", "agent-%02d-%s.json" % (i, frame["type"]), json.dumps(frame, ensure_ascii=False))
    # Edge cases the parser has explicit code for.
    write("fuzz_proto", "edge-nul.json", '{"type":"message","cmid":"m","text":"a\\u0000b"}')
    write("fuzz_proto", "edge-dup.json", '{"type":"typing","on":true,"on":false}')
    write("fuzz_proto", "edge-deep.json", '{"type":"hello","page":' + "[" * 31 + "]" * 31 + "}")
    write("fuzz_proto", "edge-escapes.json", '{"type":"message","cmid":"m\\"1","text":"\\\\\\"{[\\ud83d\\ude00"}')
    write("fuzz_proto", "edge-bigreq.json", '{"type":"close","req":9223372036854775807}')


def rules():
    with open(os.path.join(ROOT, "examples", "rules.json"), encoding="utf-8") as f:
        example = json.load(f)
    for rule in example:
        write("fuzz_rules", "example-%s.json" % rule["id"], json.dumps(rule, ensure_ascii=False))
    write("fuzz_rules", "example-all.json", json.dumps(example, ensure_ascii=False))
    invite = {"invite": {"text": "Hi"}}
    conds = [
        {"page.url": {"regex": "^https://shop\\.dk/(blog|news)/[a-z]+$"}},
        {"page.url": {"contains": "?x="}},
        {"page.path": {"glob": "/p*ing/\\*?"}},
        {"page.path": {"in": ["/", "/pricing", "/pricing/teams"]}},
        {"page.title": {"contains": "hjælp"}},
        {"page.seconds": {">": 10, "<=": 60}},
        {"visit.seconds": {"<": 1e15}},
        {"visit.pages": 4},
        {"visit.referrer": {"exists": False}},
        {"visit.utm.source": {"!=": "newsletter"}},
        {"visit.utm.medium": "email"},
        {"visit.utm.campaign": {"starts_with": "spring"}},
        {"visit.utm.term": {"exists": True}},
        {"visit.utm.content": {"glob": "b*r"}},
        {"visitor.visits": {">=": 2}},
        {"visitor.chats": {"=": 1}},
        {"visitor.days_since_last_chat": {">=": 7}},
        {"visitor.lang": {"starts_with": "da"}},
        {"visitor.device": {"in": ["mobile", "tablet"]}},
        {"visitor.attrs.seats": {">=": 20}},
        {"visitor.attrs.vip": True},
        {"event.name": {"in": ["cart_add", "page_view"]}},
        {"event.props.sku": {"regex": "SKU-[0-9]+"}},
        {"idle.seconds": {">=": 45}},
        {"conversation.open": False},
    ]
    for i, cond in enumerate(conds):
        rule = {"id": "f%02d" % i, "when": cond, "then": invite}
        write("fuzz_rules", "field-%02d.json" % i, json.dumps(rule, ensure_ascii=False))
    clock = {"id": "clock", "priority": 1000000, "enabled": True,
             "when": {"all": [{"time.weekday": {"in": ["sat", "sun"]}}, {"time.hour": {">=": 9, "<": 17}}]},
             "only": {"tz": "America/New_York", "hours": "fri-mon 10:00-18:00; daily 20:00-24:00",
                      "agents_available": False, "site": "demo"},
             "cap": {"per_visit": 1000, "cooldown_days": 3650},
             "then": {"invite": {"text": "Line one\nline two", "delay_seconds": 3600, "agent": "Mette"}}}
    write("fuzz_rules", "clock.json", json.dumps(clock))
    nested = {"id": "nested", "when": {"any": [{"not": {"all": [{"any": [{"page.seconds": {">=": 5}},
              {"not": {"visit.pages": {"<": 2}}}]}]}}, {"all": []}]},
              "unless": {"any": [{"event.name": "order_completed"}, {"visitor.attrs.plan": {"in": ["free", 1, True]}}]},
              "then": invite}
    write("fuzz_rules", "nested.json", json.dumps(nested))
    write("fuzz_rules", "list-dup.json", json.dumps([{"id": "a", "when": {"all": []}, "then": invite},
                                                    {"id": "a", "when": {"all": []}, "then": invite}]))
    write("fuzz_rules", "invalid-op.json", '{"id":"x","when":{"page.url":{"<":3}},"then":{"invite":{"text":"t"}}}')
    write("fuzz_rules", "invalid-regex.json", '{"id":"x","when":{"page.url":{"regex":"(a"}},"then":{"invite":{"text":"t"}}}')
    write("fuzz_rules", "tz-utc.json", '{"id":"u","when":{"time.hour":{"<":12}},"only":{"tz":"UTC"},"then":{"invite":{"text":"t"}}}')


def tokens():
    for vid in ["v_3f2a9c0d1e4b5a6f7c8d9e0f", "a", "A" * 64, "v_-_-", "0123456789"]:
        write("fuzz_token", "signed-%s.txt" % vid[:16], sign(vid))
    write("fuzz_token", "other-secret.txt", sign("v_abc", b"\x00" * 32))
    write("fuzz_token", "too-long-id.txt", "v1." + "B" * 65 + "." + "x" * 43)
    write("fuzz_token", "no-mac.txt", "v1.v_abc.")
    write("fuzz_token", "v2.txt", "v2.v_abc.AAAA")
    write("fuzz_token", "session.txt", "3a0c" * 16)


def config():
    for i, url in enumerate([
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "redis://:s3cret@redis.internal:6380/3",
        "redis://user:p%40ss%3Aword@[::1]:6379/15",
        "redis://[fe80::1%25eth0]/2",
        "unix:///run/redis/redis.sock",
        "unix:///tmp/r.sock?db=7",
        "redis://a@b@host:1/",
        "redis://host:65535/",
        "rediss://host",
    ]):
        write("fuzz_config", "addr-%02d.txt" % i, url)


def glob():
    # First byte: the pattern's length; then the pattern, then the subject.
    for i, (pattern, subject) in enumerate([
        ("/pricing*", "/pricing/teams"),
        ("/p*ing/\\*?", "/pricing/*x"),
        ("*/checkout/*", "/shop/checkout/step-2"),
        ("/blog/????/*", "/blog/2026/hjælp-til-priser"),
        ("*æ?ø*", "blåbærgrød"),
        ("\\\\*\\?", "\\abc?"),
        ("*a*a*a*b", "a" * 40),
        ("/", "/"),
        ("", ""),
        ("?", "😀"),
    ]):
        p, s = pattern.encode(), subject.encode()
        write("fuzz_glob", "glob-%02d.bin" % i, bytes([len(p)]) + p + s)


def profile():
    # What profile(vid) in server/lua/prelude.lua returns: Lua cjson of the visitor hash (every value a
    # string, "/" escaped as "\/") plus "caps", the cap hash ("{}" when empty).
    def cj(obj):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).replace("/", "\\/")
    hello = {"created": "1763846400000", "last_seen": "1763846400000", "site": "demo", "lang": "da",
             "device": "mobile", "caps": {}}
    page = dict(hello, page_url="https://shop.dk/pricing?utm_source=news", page_title="Priser – hjælp 😀",
                page_started="1763846405000", visit_started="1763846400000", visit_pages="3",
                visit_referrer="https://google.com/", utm_source="news", utm_medium="email",
                utm_campaign="spring", utm_term="sko", utm_content="top", visits="4", last_event="1763846405000")
    invited = dict(page, chats="2", last_chat="1763000000000", inv_day="20261122", inv_today="2",
                   last_dismissed="1763846000000", consent="1", name="Mette", email="mette@example.dk",
                   attrs=json.dumps({"plan": "team", "seats": 25}, separators=(",", ":")),
                   caps={"welcome:visit": "4 1", "welcome:last": "1763846300000",
                         "cart-help:last": "1763846350000", "cart-help:visit": "4 2", "old:visit": "1 3"})
    chatting = dict(invited, conv="c_91ab", last_conv="c_91ab")
    for name, obj in [("hello", hello), ("page", page), ("invited", invited), ("chatting", chatting)]:
        write("fuzz_profile", "profile-%s.json" % name, cj(obj))
    # Shapes the scripts never send but JSON allows: the reader must still agree with jansson.
    odd = [
        '{"site":"a","site":"b","caps":{"r:visit":"1 1"},"caps":5}',
        '{"caps":{"r:last":[1],"r:visit":"2 3","r:visit":"x"},"visits":"-12abc"}',
        '{"x":[1,-0.5e+3,true,false,null,{"a":[]}],"page_title":"\\u00e6\\ud83d\\ude00\\n"}',
        '{"n":9223372036854775807,"m":-9223372036854775808,"r":1.5e308,"s":"\\/"}',
        ' \n{ "lang" : "en" ,\t"consent":"1"}\r\n',
    ]
    for i, text in enumerate(odd):
        write("fuzz_profile", "odd-%02d.json" % i, text)


def mail_text():
    # Byte 0 picks the operation (see fuzz_mail_text.c), byte 1 the chunking, the rest is text.
    addresses = ["mette@example.dk", "a@b.co", "first.last+tag@sub.example.com", "x@localhost",
                 "a..b@example.com", "\"q\"@example.com", "a@-x.com", "a@b.c"]
    for i, a in enumerate(addresses):
        write("fuzz_mail_text", "address-%02d.bin" % i, b"\x00\x00" + a.encode())
    replies = [b"220 relay.example ESMTP Postfix\r\n",
               b"250-relay.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n",
               b"354 End data with <CR><LF>.<CR><LF>\r\n250 2.0.0 Ok: queued as 4F2A1\r\n",
               b"550 5.1.1 <x@example.com>: Recipient address rejected\n221 Bye\n",
               b"250-a\r\n251 b\r\n", b"25\r\n", b"250" + b"x" * 1100 + b"\r\n"]
    for i, r in enumerate(replies):
        write("fuzz_mail_text", "reply-%02d.bin" % i, b"\x01\x07" + r)
    texts = ["Your conversation with Demo Shop", "Samtale med Demo Shop – tak for i dag 😀",
             "=?UTF-8?B?not-encoded?=", "line one\r\nline two\n.dot line\rthree  \n\tend\t",
             "æ" * 60, "x" * 200 + " " + "=" * 30]
    for i, t in enumerate(texts):
        write("fuzz_mail_text", "text-%02d.bin" % i, bytes([2 + i % 3, 3]) + t.encode())


class Err(str):
    """An error reply's text."""


NULL = object()  # a NULL element (hiredis never makes one; the reader must not follow it)


def reply(v):
    """fuzz_replies.c's prefix form of a reply tree."""
    if v is NULL:
        return b"0"
    if v is None:
        return b"n"
    if isinstance(v, int):
        return b"i" + (v & (2 ** 64 - 1)).to_bytes(8, "little")
    if isinstance(v, Err):
        t = v.encode()
        return b"e" + bytes([len(t)]) + t
    if isinstance(v, (str, bytes)):
        t = v.encode() if isinstance(v, str) else v
        return (b"s" + bytes([len(t)]) if len(t) < 256 else b"S" + len(t).to_bytes(2, "little")) + t
    return b"*" + bytes([len(v)]) + b"".join(reply(e) for e in v)


def replies():
    # What each script and command answers (server/store/redis_shapes.h), then shapes they never answer.
    profile_json = '{"created":"1763846400000","site":"demo","caps":{}}'
    good = {
        "integer": 1, "string": "1763846400123-0", "text": profile_json,
        "authorize": ["alice", "admin"],
        "login-begin-unknown": [None, None, 0], "login-begin": ["$y$j9T$abc$def", "marketer", 1],
        "visitor-hello-new": ["", "", "", "", 2, profile_json, "{}"],
        "visitor-hello": ["c_91ab", "active", "alice", "1763846400123-0", 1, profile_json,
                          '{"identity_secret":"","enforce_identity":false,"id":"demo"}'],
        "agent-hello": ["alice", '{"status":"online","queue":[],"conversations":[]}'],
        "visitor-message": ["c_91ab", "1763846400123-0", 0, 1], "agent-message": ["c_91ab", "1763846400123-1", 1],
        "history": ["active", 0, 1, '[{"id":"1-0","text":"Hej\u0000"}]', "1-0", "1-0", "", 1],
        "sites-hours": ["demo", "mon-fri 09:00-17:00", "Europe/Oslo", "shop", "", ""],
        "invite-reply": ["", profile_json], "transcript": ["c_91ab", "demo", "da", "[]", 1],
        "hash": ["welcome", '{"shortcut":"hi","text":"Hej!"}', "r1", "{}"], "list": ['{"version":1}', '{"version":2}'],
        "rules": ["r1", '{"when":{}}', '{"version":3}', "r2", "{}", "{}"], "rule-revert": [4, '{"when":{}}'],
        "stats": ["20261122", '{"r1:shown":2}', "20261123", "{}"],
        "service-stats": [["20261122", 3, 2, 1, "c_1 demo alice 1 2 3", "c_2"], ["20261123", 0, 0, 0]],
        "hook-rows": ["demo", "1763846400123-0", "message", '{"id":"1"}', "https://hooks.example/x", "s3cret"],
        "bus-subscribe": ["ssubscribe", "bk:to:v:v_1", 1], "bus-message": ["smessage", "bk:to:v:v_1", "- {}"],
        "bus-pong": ["pong", ""], "session-agent": "alice",
        "empty-array": [], "refusal": Err("unauthorized unknown or expired session token"),
        "busy": Err("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."),
        "nil": None, "no-reply": NULL,
    }
    odd = {
        "authorize-nil-integer": [None, 7], "authorize-integer-string": [7, "admin"], "authorize-short": ["alice"],
        "authorize-nested": ["alice", ["admin"]], "authorize-null-element": ["alice", NULL],
        "hash-odd-count": ["a", "{}", "b"], "hash-nil-value": ["a", None],
        "service-stats-short-day": [["20261122", 3, 2]], "service-stats-flat": ["20261122", 3, 2, 1],
        "string-with-nuls": "a\x00b\x00", "long-string": "x" * 300,
        "hook-rows-nil": ["demo", "1-0", "message", None, "https://x", ""],
        "deep": [[[[[[[[["x"]]]]]]]]],
    }
    for name, v in list(good.items()) + list(odd.items()):
        write("fuzz_replies", name + ".bin", reply(v))
    write("fuzz_replies", "shape-groups.bin", b"~[s{s%n}]~" + reply(["x", "a", None, "b", "c"]))
    write("fuzz_replies", "shape-nested.bin", b"~[{[i{s}]}]~" + reply([[1, "a"], [2]]))


def upload_meta():
    for name, q in [
        ("plain", "cmid=f-1&name=receipt.pdf"),
        ("agent", "cmid=a-1&name=price list.txt&conversation=c_e3b0_0123456789abcdef01234567"),
        ("paths", "cmid=x&name=../../etc/passwd"),
        ("windows", 'cmid=x&name=C:\\Users\\me\\"quoted".png'),
        ("bidi", "cmid=x&name=..\u202eevil.txt\u0085".encode().decode()),
        ("long", "cmid=x&name=" + "\u00f8" * 150 + ".pdf"),
        ("dots", "cmid=x&name=..."),
        ("no-cmid", "name=a.txt"),
        ("link", "1796777561 b16d9d1dbaf8cfc0d9409451434af9ed1138bbe99dbffa235ba3dc4685aecc00"),
    ]:
        write("fuzz_upload_meta", name + ".txt", q)


def flows():
    """A flow like docs/flows.md's, each kind of step, and a few refused ones (dangling, a loop)."""
    good = {"name": "Shop", "enabled": True, "start": "greeting", "steps": {
        "greeting": {"text": "Hi! What can we help with?", "buttons": [
            {"id": "track", "label": "Track my order", "next": "track"},
            {"id": "returns", "label": "Returns", "next": "returns"},
            {"id": "person", "label": "Talk to a person", "next": "person"}]},
        "track": {"text": "See your order", "link": {"url": "https://shop.example/orders", "label": "My orders"}, "end": True},
        "returns": {"text": "Our policy", "article": "returns-policy", "buttons": [
            {"id": "more", "label": "Still need help", "next": "person"},
            {"id": "menu", "label": "Back", "next": "greeting"}]},
        "person": {"text": "Connecting you…", "handoff": True}},
        "closed": {"text": "We are closed; leave your email", "collect_email": True, "thanks": "Thanks!"}}
    write("fuzz_flow", "good.json", json.dumps(good, ensure_ascii=False))
    write("fuzz_flow", "one-step.json", json.dumps({"start": "a", "steps": {"a": {"text": "x", "end": True}}}))
    dangling = json.loads(json.dumps(good))
    dangling["steps"]["old"] = {"text": "y", "end": True}
    write("fuzz_flow", "dangling.json", json.dumps(dangling, ensure_ascii=False))
    loop = {"start": "a", "steps": {"a": {"text": "x", "buttons": [{"id": "b", "label": "l", "next": "b"}]},
                                     "b": {"text": "y", "buttons": [{"id": "a", "label": "l", "next": "a"}]}}}
    write("fuzz_flow", "loop.json", json.dumps(loop))
    missing = json.loads(json.dumps(good))
    missing["steps"]["returns"]["buttons"][1]["next"] = "refund"
    write("fuzz_flow", "no-step.json", json.dumps(missing, ensure_ascii=False))


def help_articles():
    write("fuzz_help", "article.md", "# Returns\n\nYou have **30 days**. See [terms](https://shop.example/terms).\n\n"
          "- one\n  - two\n\n1. a\n2. b\n\n```\ncode <b>\n```\n\n![box](/img/box.png) ![x](https://shop.example/x.png)\n")
    write("fuzz_help", "hostile.md", "<script>alert(1)</script>\n\n[x](javascript:alert(1)) [y](JAVASCRIPT:1) "
          "<iframe src=//evil></iframe> ![p](//evil/p.gif) ![q](https://shop.example.evil/q.gif) <b onclick=x>b</b>\n")
    write("fuzz_help", "query.txt", "where is my parcel refnd passw .*(a|b)+ %s%n 返品 Привет")
    write("fuzz_help", "nested.md", "".join("  " * i + "- x\n" for i in range(30)) + "*" * 200 + "x" + "*" * 200)


TARGETS = {"fuzz_proto": proto, "fuzz_rules": rules, "fuzz_token": tokens, "fuzz_config": config,
           "fuzz_glob": glob, "fuzz_profile": profile, "fuzz_mail_text": mail_text, "fuzz_replies": replies,
           "fuzz_upload_meta": upload_meta, "fuzz_flow": flows, "fuzz_help": help_articles}


def main():
    # make_seeds.py [TARGET...]: all targets, or only those named
    for name in sys.argv[1:] or TARGETS:
        TARGETS[name]()


if __name__ == "__main__":
    sys.exit(main())
