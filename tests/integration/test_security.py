"""Identity: forged visitor tokens, other visitors' conversations, agent auth, the handshake."""

import asyncio
import secrets

from harness import (AGENT_PROTO, VISITOR_PROTO, Cases, http_request, parse_json_body, raw_handshake,
                     send_message)

T = Cases()


async def setup(env):
    env.add_agent("alice")


def alter(s, i):
    """`s` with the character at index i replaced by a different one of the same kind."""
    c = s[i]
    if c.isdigit():
        r = "1" if c != "1" else "2"
    elif c.isalpha():
        r = ("B" if c != "B" else "C") if c.isupper() else ("b" if c != "b" else "c")
    else:
        r = "A"
    return s[:i] + r + s[i + 1:]


async def expect_invalid_token(env, token, what):
    c = await env.connect("visitor")
    e = await c.request({"type": "hello", "req": "h1", "site": "demo", "token": token})
    assert e.get("type") == "error" and e.get("code") == "invalid_token", f"{what}: hello -> {e}"
    # no identity: a request now still needs hello
    e2 = await c.request({"type": "message", "cmid": "x", "text": "who am i"})
    assert e2.get("type") == "error" and e2.get("code") == "hello_required", f"{what}: after invalid_token: {e2}"
    # the socket stays open and a hello without a token starts a new visitor
    w = await c.request({"type": "hello", "site": "demo"})
    assert w.get("type") == "welcome", f"{what}: fresh hello after invalid_token: {w}"
    return w


@T.case("forged visitor token: one character altered -> invalid_token")
async def t_altered_token(env):
    v = await env.visitor()
    await send_message(v, "mine")
    tok = v.token
    parts = tok.split(".")
    variants = []
    if len(parts) >= 3:
        sig = parts[-1]
        sig_start = len(tok) - len(sig)
        variants.append(("signature char", alter(tok, sig_start + len(sig) // 2)))
        vid_at = tok.find(v.visitor_id)
        if vid_at >= 0:
            variants.append(("visitor id char", alter(tok, vid_at + len(v.visitor_id) - 2)))
    else:
        variants.append(("middle char", alter(tok, len(tok) // 2)))
    variants.append(("last char", alter(tok, len(tok) - 1)))
    for what, bad in variants:
        assert bad != tok
        w = await expect_invalid_token(env, bad, what)
        assert w["visitor"] != v.visitor_id, f"{what}: the fresh visitor got the victim's id {w}"
    # the real token still works
    v2 = await env.visitor(token=tok)
    assert v2.visitor_id == v.visitor_id


@T.case("forged visitor token: a made-up token for another visitor id -> invalid_token")
async def t_made_up_token(env):
    v = await env.visitor()
    victim = await env.visitor()
    await send_message(victim, "victim's secret")
    tok = v.token
    forged = []
    if v.visitor_id in tok:
        forged.append(("victim id, my signature", tok.replace(v.visitor_id, victim.visitor_id)))
        made_up = "v_" + secrets.token_hex(max(4, (len(v.visitor_id) - 2) // 2))[:len(v.visitor_id) - 2]
        forged.append(("made-up id, my signature", tok.replace(v.visitor_id, made_up)))
    forged.append(("made-up token", f"v1.{victim.visitor_id}.{secrets.token_urlsafe(32)}"))
    forged.append(("not a token", "hello"))
    for what, bad in forged:
        w = await expect_invalid_token(env, bad, what)
        assert w["visitor"] != victim.visitor_id, f"{what}: took over the victim: {w}"
        assert w.get("conversation") is None, f"{what}: fresh visitor sees a conversation: {w}"


@T.case("a visitor cannot resume another visitor's conversation -> not_found")
async def t_other_visitor_conversation(env):
    a = await env.visitor()
    ack = await send_message(a, "private")
    conv = ack["conversation"]
    b = await env.visitor()
    e = await b.expect_error({"type": "resume", "conversation": conv, "since": "0"}, "not_found")
    assert "private" not in str(e), f"error leaks content: {e}"
    e = await b.expect_error({"type": "resume", "conversation": "c_doesnotexist", "since": "0"}, "not_found")
    # b's own message opens b's own conversation
    mine = await send_message(b, "my own")
    assert mine["conversation"] != conv, "visitor b's message landed in visitor a's conversation"
    await a.expect_none("message", pred=lambda m: m.get("id") == mine["id"], within=0.3)


async def unauthorized_close(c, hello, what):
    """Send an agent hello that must fail; return a problem description, or None if it went right."""
    e = await c.request(hello)
    try:
        code = await c.wait_closed(3)
    except AssertionError:
        code = "still open after 3 s"
    if e.get("type") == "error" and e.get("code") == "unauthorized" and code == 4001:
        return None
    return f"{what}: sent {hello}; want error unauthorized + close 4001; got {e}, close {code}"


@T.case("agent hello without a token -> unauthorized, close 4001")
async def t_agent_no_token(env):
    problems = []
    for what, hello in (("no token", {"type": "hello", "req": "a1"}),
                        ("token null", {"type": "hello", "req": "a2", "token": None}),
                        ("token empty", {"type": "hello", "req": "a3", "token": ""})):
        c = await env.connect("agent")
        problems.append(await unauthorized_close(c, hello, what))
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


@T.case("agent hello with a wrong token -> unauthorized, close 4001")
async def t_agent_wrong_token(env):
    real = await env.login("alice")
    problems = []
    for what, bad in (("altered", real[:-1] + ("0" if real[-1] != "0" else "1")),
                      ("made up", secrets.token_hex(16)),
                      ("a visitor token", (await env.visitor()).token)):
        c = await env.connect("agent")
        problems.append(await unauthorized_close(c, {"type": "hello", "req": 7, "token": bad}, what))
    problems = [p for p in problems if p]
    # control: the real token works
    c = await env.connect("agent")
    await c.expect_reply({"type": "hello", "token": real}, "welcome")
    assert not problems, "\n".join(problems)


@T.case("POST /api/login with a wrong password -> 401 unauthorized")
async def t_login_wrong_password(env):
    port = env.beckon.port
    for what, body in (("wrong password", {"name": "alice", "password": "not-the-password"}),
                       ("unknown agent", {"name": "mallory", "password": "whatever"})):
        status, _, data = await http_request(port, "POST", "/api/login", body)
        assert status == 401, f"{what}: HTTP {status} {data[:200]!r}"
        b = parse_json_body(data)
        assert isinstance(b.get("error"), dict) and b["error"].get("code") == "unauthorized", f"{what}: {b}"
        assert isinstance(b["error"].get("message"), str), f"{what}: {b}"
        assert "token" not in b, f"{what}: {b}"
    status, _, data = await http_request(port, "POST", "/api/login",
                                         {"name": "alice", "password": env.agents["alice"]})
    assert status == 200, f"right password: HTTP {status} {data[:200]!r}"
    b = parse_json_body(data)
    assert b.get("token") and b.get("agent", {}).get("name") == "alice" and isinstance(b.get("expires"), int), b


@T.case("handshake without a subprotocol is refused")
async def t_no_subprotocol(env):
    port = env.beckon.port
    status, head = await raw_handshake(port, "/ws", VISITOR_PROTO)
    assert status == 101, f"control (valid handshake) got {status}: {head!r}"
    status, head = await raw_handshake(port, "/ws", None)
    assert status != 101, f"handshake without Sec-WebSocket-Protocol accepted: {head!r}"


@T.case("handshake with an unknown subprotocol is refused")
async def t_unknown_subprotocol(env):
    port = env.beckon.port
    status, head = await raw_handshake(port, "/ws", AGENT_PROTO)
    assert status == 101, f"control (valid handshake) got {status}: {head!r}"
    for proto in ("beckon-admin.v1", "beckon-visitor.v2", "chat"):
        status, head = await raw_handshake(port, "/ws", proto)
        assert status != 101, f"handshake with subprotocol {proto!r} accepted: {head!r}"


@T.case("handshake on a path other than /ws is refused with 403")
async def t_wrong_path(env):
    port = env.beckon.port
    problems = []
    for path in ("/", "/chat", "/ws/x", "/api/login"):
        status, head = await raw_handshake(port, path, VISITOR_PROTO)
        if status != 403:
            problems.append(f"upgrade on {path}: want HTTP 403, got "
                            + (f"{status}: {head[:120]!r}" if status else "no HTTP response (connection closed)"))
    assert not problems, "\n".join(problems)


@T.case("connections that close before sending anything (preconnects, probes) do not hurt the server")
async def t_silent_connections(env):
    port = env.beckon.port
    for partial in (b"", b"GET /heal", b"POST /api/login HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"):
        for _ in range(5):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            if partial:
                writer.write(partial)
                await writer.drain()
            writer.close()
            await writer.wait_closed()
    await asyncio.sleep(0.2)
    status, _, _ = await http_request(port, "GET", "/healthz")
    assert status == 200, f"/healthz after silent connections: {status}"


if __name__ == "__main__":
    T.run("security", setup=setup)
