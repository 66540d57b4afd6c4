"""Bad input: every error keeps the connection open (proved by a valid request afterwards),
except invalid UTF-8, which closes with 1007."""

import json

from websockets.frames import OP_TEXT

from harness import Cases, send_message

T = Cases()


async def still_works(c):
    """The connection is open and usable: a valid request gets its reply."""
    await send_message(c, "still here")


async def expect_err(c, raw, code, req=None, names=None, what=""):
    """Send a raw text frame; expect `error code`. When `req` is given the error must echo it;
    when it is not, an echoed req (if any) is not checked. `names`: the field the message names."""
    await c.send_raw(raw)
    if req is not None:
        e = await c.recv_until("error", pred=lambda m: m.get("req") == req and type(m.get("req")) is type(req))
    else:
        e = await c.recv_until("error")
    assert e.get("code") == code, f"{what}: sent {raw[:120]!r}: want {code}, got {e}"
    assert isinstance(e.get("message"), str), f"{what}: error without a message string: {e}"
    if names:
        assert names in e["message"], f"{what}: error message {e['message']!r} does not name {names!r}"
    return e


@T.case("malformed JSON -> bad_json, connection stays open")
async def t_malformed(env):
    c = await env.visitor()
    await expect_err(c, '{"type": "message", "cmid": "a", "text": "x"', "bad_json")
    await expect_err(c, "not json at all", "bad_json")
    await still_works(c)


@T.case("JSON array instead of an object -> bad_json")
async def t_array(env):
    c = await env.visitor()
    await expect_err(c, '[{"type": "message", "cmid": "a", "text": "x"}]', "bad_json")
    await expect_err(c, '"just a string"', "bad_json")
    await still_works(c)


@T.case("100 levels of nesting -> bad_json")
async def t_deep(env):
    c = await env.visitor()
    deep = "[" * 100 + "]" * 100
    await expect_err(c, '{"type": "message", "req": "deep", "cmid": "d", "text": "x", "extra": ' + deep + "}",
                     "bad_json")
    deep_obj = '{"a":' * 100 + "1" + "}" * 100
    await expect_err(c, '{"type": "typing", "on": true, "extra": ' + deep_obj + "}", "bad_json")
    await still_works(c)


@T.case("duplicate keys -> bad_json")
async def t_dup_keys(env):
    c = await env.visitor()
    await expect_err(c, '{"type": "message", "cmid": "k1", "text": "a", "text": "b"}', "bad_json")
    await expect_err(c, '{"type": "message", "type": "message", "cmid": "k2", "text": "a"}', "bad_json")
    await still_works(c)


@T.case("type missing or not a string -> bad_request (req echoed)")
async def t_type(env):
    c = await env.visitor()
    await expect_err(c, json.dumps({"req": "t1", "cmid": "a", "text": "x"}), "bad_request", req="t1", names="type")
    await expect_err(c, json.dumps({"type": 5, "req": "t2"}), "bad_request", req="t2", names="type")
    await expect_err(c, json.dumps({"type": None, "req": 3}), "bad_request", req=3, names="type")
    await still_works(c)


@T.case("unknown type -> unknown_type (req echoed)")
async def t_unknown_type(env):
    c = await env.visitor()
    await expect_err(c, json.dumps({"type": "fly", "req": 42}), "unknown_type", req=42)
    # an agent-only request on a visitor socket is unknown for this role
    await expect_err(c, json.dumps({"type": "accept", "req": "u2", "conversation": "c_x"}), "unknown_type", req="u2")
    await still_works(c)


@T.case("message without text -> bad_request naming text")
async def t_no_text(env):
    c = await env.visitor()
    await expect_err(c, json.dumps({"type": "message", "req": "n1", "cmid": "nt"}), "bad_request",
                     req="n1", names="text")
    await still_works(c)


@T.case("message with a number as text -> bad_request naming text")
async def t_text_number(env):
    c = await env.visitor()
    await expect_err(c, json.dumps({"type": "message", "req": "n2", "cmid": "tn", "text": 12}), "bad_request",
                     req="n2", names="text")
    await still_works(c)


@T.case("message with an empty cmid -> bad_request naming cmid")
async def t_empty_cmid(env):
    c = await env.visitor()
    await expect_err(c, json.dumps({"type": "message", "req": "n3", "cmid": "", "text": "x"}), "bad_request",
                     req="n3", names="cmid")
    await still_works(c)


@T.case("request before hello -> hello_required (req echoed)")
async def t_before_hello(env):
    c = await env.connect("visitor")
    await expect_err(c, json.dumps({"type": "message", "req": "b1", "cmid": "bh", "text": "hi"}),
                     "hello_required", req="b1")
    await expect_err(c, json.dumps({"type": "typing", "req": 9, "on": True}), "hello_required", req=9)
    w = await c.request({"type": "hello", "site": "demo"})
    assert w.get("type") == "welcome", f"hello after hello_required: {w}"
    await still_works(c)


def big_message(size, req="big"):
    head = json.dumps({"type": "message", "req": req, "cmid": "big", "text": ""})[:-2]
    assert head.endswith('"text": "'), head
    return head + "a" * (size - len(head) - 2) + '"}'


@T.case("a 20 KiB message -> too_large")
async def t_too_large(env):
    c = await env.visitor()
    msg = big_message(20 * 1024)
    assert len(msg) == 20 * 1024 and json.loads(msg)["type"] == "message"
    await expect_err(c, msg, "too_large")
    await still_works(c)


@T.case("a 20 KiB message in 5 fragments -> too_large")
async def t_too_large_fragments(env):
    c = await env.visitor()
    msg = big_message(20 * 1024)
    n = len(msg) // 5
    chunks = [msg[i * n:(i + 1) * n] for i in range(4)] + [msg[4 * n:]]
    assert "".join(chunks) == msg and all(len(x) < 16384 for x in chunks)
    await c.send_raw(iter(chunks))
    e = await c.recv_until("error")
    assert e.get("code") == "too_large", f"fragmented 20 KiB: {e}"
    await still_works(c)
    # and a fragmented message under the limit is accepted
    ok = json.dumps({"type": "message", "req": "frag-ok", "cmid": "frag", "text": "b" * 3000})
    await c.send_raw(iter([ok[:1000], ok[1000:2000], ok[2000:]]))
    a = await c.recv_until("ack", req="frag-ok")
    assert a.get("cmid") == "frag", a


@T.case("--max-message-bytes 1024: a 2 KiB message -> too_large, 900 bytes is fine")
async def t_small_limit(env):
    b = await env.new_beckon("beckon-small", ["--max-message-bytes", "1024"])
    c = await env.visitor(beckon=b)
    await expect_err(c, big_message(2048), "too_large")
    small = big_message(900, req="small")
    await c.send_raw(small)
    a = await c.recv_until(req="small")
    assert a.get("type") == "ack", f"900-byte message with a 1024 limit: {a}"
    await b.stop()


@T.case("invalid UTF-8 in a text frame -> close 1007")
async def t_bad_utf8(env):
    c = await env.visitor()
    await c.ws.write_frame(True, OP_TEXT, b'{"type":"typing","on":true,"x":"\xff\xfe"}')
    code = await c.wait_closed(5)
    assert code == 1007, f"close code {code}, want 1007"
    # the server is fine afterwards
    c2 = await env.visitor()
    await still_works(c2)


if __name__ == "__main__":
    T.run("bad_input", setup=None)
