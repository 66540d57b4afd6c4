"""Files in chat, over HTTP (docs/protocol.md, "Files"), against a real beckon and Redis: a file
is uploaded as the raw body of POST /api/files, stored once per cmid, becomes a message of its
conversation (pushed, in history and resume, in the export), is served from signed links that
expire, and goes with its conversation (erasure, expiry). What does not fit is refused with a
clear error and leaves nothing behind.

The file runs twice, once per file store: BECKON_FILE_STORE=dir (the default) or redis."""

import asyncio
import hashlib
import hmac
import json
import os
import time
import struct
import urllib.parse
import zlib

import websockets

from harness import Cases, http_request, id_prefix, parse_json_body, send_message

T = Cases()
STORE = os.environ.get("BECKON_FILE_STORE", "dir")


async def setup(env):
    env.add_agent("alice")
    env.add_agent("bob")
    r = env.beckon.cli("agent", "add", "boss", "admin", stdin="boss-password\n")
    assert r.returncode == 0, r
    env.agents["boss"] = "boss-password"


PUBLIC_URL = "https://chat.example.test"


def query(cmid, name, conversation=None):
    q = {"cmid": cmid, "name": name}
    if conversation:
        q["conversation"] = conversation
    return "/api/files?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)


async def upload(env, auth, cmid, name, body, conversation=None, headers=None, beckon=None):
    """POST /api/files with body as the raw bytes; (status, JSON answer)."""
    h = {"Authorization": auth, "Content-Type": "application/octet-stream"}
    h.update(headers or {})
    status, _, data = await http_request((beckon or env.beckon).port, "POST", query(cmid, name, conversation),
                                         body, h, timeout=20)
    return status, parse_json_body(data) if data else None


async def download(env, url, beckon=None):
    status, headers, data = await http_request((beckon or env.beckon).port, "GET", url, None, {})
    return status, {k.lower(): v for k, v in headers.items()}, data


async def raw(env, head, body=b"", read=True, timeout=10):
    """Writes head and body on a fresh connection; the status and the answer's body (or None)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", env.beckon.port)
    try:
        writer.write(head.encode() + body)
        await writer.drain()
        if not read:
            return reader, writer
        answer = await asyncio.wait_for(reader.read(65536), timeout)
        text = answer.decode("latin-1")
        status = int(text.split(" ", 2)[1]) if text.startswith("HTTP/") else None
        return status, text
    finally:
        if read:
            writer.close()


def head(env, path, auth, extra=""):
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{env.beckon.port}\r\nAuthorization: {auth}\r\n"
            + extra + "\r\n")


async def visitor_with_conversation(env, alice=None):
    v = await env.visitor()
    ack = await send_message(v, "Here is my receipt")
    if alice:
        await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == ack["conversation"])
        await alice.expect_reply({"type": "accept", "conversation": ack["conversation"]}, "ok")
    return v, ack["conversation"]


PDFISH = b"%PDF-1.4\n" + bytes(range(256)) * 40


def png(width, height):
    """A real PNG of width x height (RGB, a gradient), made here."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
    rows = b"".join(b"\0" + b"".join(bytes((x % 256, y % 256, 128)) for x in range(width)) for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@T.case("a visitor's file: 201 with the file and signed links, pushed to the agent, downloaded as sent")
async def t_visitor_upload(env):
    alice = await env.agent("alice")
    v, conv = await visitor_with_conversation(env, alice)
    status, body = await upload(env, "Visitor " + v.token, "f-1", "kvittering.pdf", PDFISH)
    assert status == 201, body
    assert body["conversation"] == conv and body["cmid"] == "f-1" and body["duplicate"] is False, body
    f = body["file"]
    assert f["id"].startswith("f_") and f["name"] == "kvittering.pdf" and f["size"] == len(PDFISH), f
    assert f["url"].startswith(f"/files/{f['id']}?exp=") and "&sig=" in f["url"], f
    pushed = await alice.recv_until("message", id=body["id"])
    assert pushed["from"] == "visitor" and pushed["text"] == "kvittering.pdf", pushed
    assert pushed["file"]["id"] == f["id"] and pushed["file"]["size"] == len(PDFISH), pushed
    status, headers, data = await download(env, pushed["file"]["url"])
    assert status == 200 and data == PDFISH, (status, len(data))
    assert headers["x-content-type-options"] == "nosniff", headers
    assert "sandbox" in headers["content-security-policy"] and "default-src 'none'" in headers["content-security-policy"], headers
    assert headers["content-disposition"].startswith("attachment; filename=\"kvittering.pdf\""), headers
    assert headers["cache-control"].startswith("private, max-age="), headers


@T.case("an agent's file goes into the conversation they accepted; the visitor gets it pushed")
async def t_agent_upload(env):
    alice = await env.agent("alice")
    v, conv = await visitor_with_conversation(env, alice)
    token = await env.login("alice")
    status, body = await upload(env, "Bearer " + token, "a-1", "price list.txt", b"coffee 30 kr\n", conversation=conv)
    assert status == 201 and body["conversation"] == conv, body
    pushed = await v.recv_until("message", id=body["id"])
    assert pushed["from"] == "agent" and pushed["author"] == "alice" and pushed["file"]["name"] == "price list.txt", pushed
    status, _, data = await download(env, pushed["file"]["url"])
    assert status == 200 and data == b"coffee 30 kr\n"


@T.case("the same cmid again is stored once: 200, duplicate, the same message and file")
async def t_retry(env):
    v, conv = await visitor_with_conversation(env)
    s1, first = await upload(env, "Visitor " + v.token, "same", "a.txt", b"one")
    s2, again = await upload(env, "Visitor " + v.token, "same", "a.txt", b"one")
    assert s1 == 201 and s2 == 200 and again["duplicate"] is True, (first, again)
    assert again["id"] == first["id"] and again["file"]["id"] == first["file"]["id"], (first, again)
    h = await v.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert [m["text"] for m in h["messages"] if "file" in m] == ["a.txt"], h["messages"]
    assert env.redis.command("SCARD", id_prefix(conv) + f"conv:{conv}:files") == 1
    fid = first["file"]["id"]
    assert env.redis.command("HGET", id_prefix(fid) + f"file:{fid}", "sha256") == hashlib.sha256(b"one").hexdigest()


@T.case("an image is re-encoded, sized, thumbnailed: shown inline, its thumbnail too")
async def t_image(env):
    v, conv = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "img-1", "screenshot.png", png(640, 480))
    assert status == 201, body
    f = body["file"]
    assert f["type"] == "image/png" and f["width"] == 640 and f["height"] == 480, f
    assert f["thumb_url"].startswith(f"/files/{f['id']}/thumb?exp="), f
    status, headers, data = await download(env, f["url"])
    assert status == 200 and data.startswith(b"\x89PNG") and headers["content-type"] == "image/png", headers
    assert headers["content-disposition"].startswith("inline; filename=\"screenshot.png\""), headers
    status, headers, data = await download(env, f["thumb_url"])
    assert status == 200 and data.startswith(b"\xff\xd8") and headers["content-type"] == "image/jpeg", headers
    assert headers["content-disposition"].startswith("inline"), headers


@T.case("the type comes from the content: HTML saved as .png is refused, naming both (415)")
async def t_wrong_type(env):
    v, conv = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "t-1", "cat.png",
                                b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n")
    assert status == 415 and body["error"]["code"] == "unsupported_type", body
    assert "HTML" in body["error"]["message"] or "html" in body["error"]["message"], body
    h = await v.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert not any("file" in m for m in h["messages"]), h


@T.case("history and resume carry the file with links signed anew")
async def t_history(env):
    v, conv = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "h-1", "note.txt", b"hello")
    assert status == 201, body
    h = await v.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    m = [m for m in h["messages"] if m["id"] == body["id"]][0]
    assert m["text"] == "note.txt" and m["file"]["id"] == body["file"]["id"] and "thumb" not in m["file"], m
    status, _, data = await download(env, m["file"]["url"])
    assert status == 200 and data == b"hello"


@T.case("a visitor's first file opens a conversation, like a first message")
async def t_opens(env):
    v = await env.visitor()
    status, body = await upload(env, "Visitor " + v.token, "o-1", "screenshot.png", png(64, 48))
    assert status == 201 and body["conversation"].startswith("c_"), body
    await v.recv_until("conversation", id=body["conversation"], state="queued")


@T.case("bad input: no cmid, no usable name, zero bytes (400); no or a forged token (401)")
async def t_bad_input(env):
    v, _ = await visitor_with_conversation(env)
    status, _, data = await http_request(env.beckon.port, "POST", "/api/files?name=a.txt", b"x",
                                         {"Authorization": "Visitor " + v.token})
    assert status == 400 and parse_json_body(data)["error"]["message"].startswith("cmid:"), data
    status, body = await upload(env, "Visitor " + v.token, "b-1", "../..", b"plain text\n")
    assert status == 400 and body["error"]["message"].startswith("name:"), body
    status, body = await upload(env, "Visitor " + v.token, "b-2", "empty.txt", b"")
    assert status == 400 and body["error"]["message"] == "the file is empty", body
    status, body = await upload(env, "Visitor v1.v_e3b0_000000000000000000000000.forged", "b-3", "a.txt", b"plain text\n")
    assert status == 401 and body["error"]["code"] == "invalid_token", body
    status, body = await upload(env, "", "b-4", "a.txt", b"plain text\n")
    assert status == 401, body


@T.case("names: paths, '..', quotes and invisible characters are gone from what is kept and from the headers")
async def t_names(env):
    v, _ = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "n-1", "../../etc/passwd", b"plain text\n")
    assert status == 201 and body["file"]["name"] == "passwd", body
    status, body = await upload(env, "Visitor " + v.token, "n-3", "..\u202eevil.txt\u0085", b"plain text\n")
    assert status == 201 and body["file"]["name"] == "evil.txt", body
    # control characters never reach the route: the net refuses them in any query (400)
    status, body = await upload(env, "Visitor " + v.token, "n-4", "a\r\nX-Evil: 1.txt", b"plain text\n")
    assert status == 400, body
    status, body = await upload(env, "Visitor " + v.token, "n-2", 'C:\\Users\\me\\"quoted" ø.txt', b"plain text\n")
    assert status == 201 and body["file"]["name"] == "'quoted' ø.txt", body
    status, headers, _ = await download(env, body["file"]["url"])
    assert status == 200, status
    assert headers["content-disposition"] == "attachment; filename=\"'quoted' _.txt\"; filename*=UTF-8''%27quoted%27%20%C3%B8.txt", headers


@T.case("someone else's conversation: another agent's is forbidden, an admin may, a visitor's file stays theirs")
async def t_someone_else(env):
    alice = await env.agent("alice")
    v, conv = await visitor_with_conversation(env, alice)
    status, body = await upload(env, "Bearer " + await env.login("bob"), "x-1", "a.txt", b"plain text\n", conversation=conv)
    assert status == 403 and body["error"]["code"] == "forbidden", body
    status, body = await upload(env, "Bearer " + await env.login("boss"), "x-2", "a.txt", b"plain text\n", conversation=conv)
    assert status == 201, body
    status, body = await upload(env, "Bearer " + await env.login("bob"), "x-3", "a.txt", b"x",
                                conversation="c_e3b0_000000000000000000000000")
    assert status == 404, body


@T.case("links: a forged or expired signature is 403; a right one works until it expires")
async def t_links(env):
    v, _ = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "l-1", "a.txt", b"secret")
    assert status == 201, body
    url = body["file"]["url"]
    forged = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    status, _, data = await download(env, forged)
    assert status == 403 and parse_json_body(data)["error"]["message"] == "this link is not valid", data
    fid = body["file"]["id"]
    status, _, data = await download(env, f"/files/{fid}?exp={int(time.time()) + 3600}&sig=" + "0" * 64)
    assert status == 403, data
    status, _, data = await download(env, f"/files/{fid}")
    assert status == 403, data
    # a link whose exp was moved is forged
    status, _, _ = await download(env, url.replace("exp=", "exp=1"))
    assert status == 403
    # a link signed right (with the server's secret, read from its data dir) that expired
    with open(os.path.join(env.beckon.data_dir, "secret")) as f:
        secret = bytes.fromhex(f.read().strip())
    past = int(time.time()) - 60
    sig = hmac.new(secret, f"{fid}|file|{past}".encode(), hashlib.sha256).hexdigest()
    status, _, data = await download(env, f"/files/{fid}?exp={past}&sig={sig}")
    assert status == 403 and parse_json_body(data)["error"]["message"].startswith("this link has expired"), data
    sig = hmac.new(secret, f"{fid}|file|{past + 3600}".encode(), hashlib.sha256).hexdigest()
    status, _, data = await download(env, f"/files/{fid}?exp={past + 3600}&sig={sig}")
    assert status == 200 and data == b"secret", (status, data)
    status, _, data = await download(env, f"/files/{fid}/thumb?exp={past + 3600}&sig={sig}")
    assert status == 403, data  # a file's signature is not its thumbnail's


@T.case("erasure removes the file: its link answers 404 and its bytes are gone from the store")
async def t_erasure(env):
    v, conv = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "e-1", "a.txt", b"to be erased")
    assert status == 201, body
    fid = body["file"]["id"]
    boss = await env.login("boss")
    status, _, data = await http_request(env.beckon.port, "DELETE", f"/api/visitors/{v.visitor_id}", None,
                                         {"Authorization": "Bearer " + boss})
    assert status == 200, data
    status, _, _ = await download(env, body["file"]["url"])
    assert status == 404
    p = id_prefix(fid)
    assert env.redis.command("EXISTS", p + f"file:{fid}", p + f"file:{fid}:bytes") == 0
    if STORE == "dir":
        path = os.path.join(env.beckon.data_dir, "files", fid.split("_")[1], fid)
        for _ in range(150):  # the sweep runs every 10 s
            if not os.path.exists(path):
                break
            await asyncio.sleep(0.1)
        assert not os.path.exists(path), path


@T.case("expiry: a closed conversation's files expire with it, bytes included")
async def t_expiry(env):
    alice = await env.agent("alice")
    v, conv = await visitor_with_conversation(env, alice)
    status, body = await upload(env, "Visitor " + v.token, "x-1", "a.txt", b"expires")
    assert status == 201, body
    fid = body["file"]["id"]
    p = id_prefix(fid)
    await alice.expect_reply({"type": "close", "conversation": conv}, "ok")
    ttl = env.redis.command("TTL", p + f"file:{fid}")
    assert 364 * 86400 < ttl <= 365 * 86400, ttl
    if STORE == "redis":
        assert 364 * 86400 < env.redis.command("TTL", p + f"file:{fid}:bytes") <= 365 * 86400
    assert env.redis.command("ZSCORE", p + "files:expiring", fid) is not None
    # a year later: the keys expire, the sweep removes the bytes
    env.redis.command("DEL", p + f"file:{fid}", p + f"file:{fid}:bytes", p + f"conv:{conv}:files")
    env.redis.command("ZADD", p + "files:expiring", "1", fid)
    status, _, _ = await download(env, body["file"]["url"])
    assert status == 404
    if STORE == "dir":
        path = os.path.join(env.beckon.data_dir, "files", fid.split("_")[1], fid)
        for _ in range(150):
            if not os.path.exists(path):
                break
            await asyncio.sleep(0.1)
        assert not os.path.exists(path), path
    for _ in range(150):
        if env.redis.command("ZSCORE", p + "files:expiring", fid) is None:
            break
        await asyncio.sleep(0.1)
    assert env.redis.command("ZSCORE", p + "files:expiring", fid) is None


@T.case("too large with Content-Length: 413 at once, before a byte of the body is read")
async def t_too_large_declared(env):
    v, _ = await visitor_with_conversation(env)
    t0 = time.monotonic()
    # 12 MB announced, nothing sent: the answer cannot wait for the body
    status, text = await raw(env, head(env, query("big-1", "big.bin"), "Visitor " + v.token,
                                       "Content-Length: 12400000\r\n"))
    assert status == 413 and time.monotonic() - t0 < 2, (status, text)
    assert "the file is 12 MB; this site accepts files up to 10 MB" in text, text
    # over the server's ceiling: refused by the net itself
    status, text = await raw(env, head(env, query("big-2", "big.bin"), "Visitor " + v.token,
                                       "Content-Length: 200000000\r\n"))
    assert status == 413, text


@T.case("too large and chunked: cut off once it passes the limit")
async def t_too_large_chunked(env):
    v, _ = await visitor_with_conversation(env)
    reader, writer = await raw(env, head(env, query("big-3", "big.bin"), "Visitor " + v.token,
                                         "Transfer-Encoding: chunked\r\n"), read=False)
    chunk = b"x" * 65536
    sent = 0
    answer = b""
    try:
        while sent < 30 * 1024 * 1024:
            writer.write(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            await asyncio.wait_for(writer.drain(), 5)
            sent += len(chunk)
            if sent % (1024 * 1024) == 0:
                try:
                    answer += await asyncio.wait_for(reader.read(65536), 0.01)
                except asyncio.TimeoutError:
                    pass
                if answer:
                    break
    except (ConnectionError, asyncio.TimeoutError):
        pass
    try:
        while True:
            more = await asyncio.wait_for(reader.read(65536), 5)
            if not more:
                break
            answer += more
    except (ConnectionError, asyncio.TimeoutError):
        pass
    writer.close()
    text = answer.decode("latin-1")
    # The server stops reading at the limit, answers and closes; a client still writing may see
    # the close as a reset before it reads the answer (TCP drops what it had not read yet).
    assert text == "" or text.startswith("HTTP/1.1 413"), text
    assert text == "" or "the file is over 10 MB; this site accepts files up to 10 MB" in text, text
    assert sent < 14 * 1024 * 1024, sent


@T.case("a chunked upload that is whole is stored like any other")
async def t_chunked(env):
    v, _ = await visitor_with_conversation(env)
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    status, text = await raw(env, head(env, query("c-1", "hi.txt"), "Visitor " + v.token,
                                       "Transfer-Encoding: chunked\r\n"), body)
    assert status == 201, text
    answer = json.loads(text.split("\r\n\r\n", 1)[1])
    status, _, data = await download(env, answer["file"]["url"])
    assert data == b"hello world", data


@T.case("a client that stops mid-upload is dropped at the body deadline and its temp file removed")
async def t_stalled(env):
    v, _ = await visitor_with_conversation(env)
    before = os.listdir(os.path.join(env.beckon.data_dir, "uploads"))
    reader, writer = await raw(env, head(env, query("s-1", "slow.bin"), "Visitor " + v.token,
                                         "Content-Length: 100000\r\n"), b"x" * 1000, read=False)
    await asyncio.sleep(0.5)
    assert len(os.listdir(os.path.join(env.beckon.data_dir, "uploads"))) == len(before) + 1
    answer = await asyncio.wait_for(reader.read(65536), 10)  # body-timeout-seconds is 3 here
    assert answer.startswith(b"HTTP/1.1 408"), answer
    writer.close()
    for _ in range(50):
        if len(os.listdir(os.path.join(env.beckon.data_dir, "uploads"))) == len(before):
            break
        await asyncio.sleep(0.1)
    assert os.listdir(os.path.join(env.beckon.data_dir, "uploads")) == before


@T.case("a client that leaves mid-upload: its temp file is removed at once")
async def t_cancelled(env):
    v, _ = await visitor_with_conversation(env)
    before = os.listdir(os.path.join(env.beckon.data_dir, "uploads"))
    reader, writer = await raw(env, head(env, query("k-1", "k.bin"), "Visitor " + v.token,
                                         "Content-Length: 1000000\r\n"), b"x" * 300000, read=False)
    await asyncio.sleep(0.3)
    writer.close()
    for _ in range(50):
        if os.listdir(os.path.join(env.beckon.data_dir, "uploads")) == before:
            break
        await asyncio.sleep(0.1)
    assert os.listdir(os.path.join(env.beckon.data_dir, "uploads")) == before


@T.case("a flood is rate limited per visitor (10 a minute here)")
async def t_flood(env):
    v, _ = await visitor_with_conversation(env)
    statuses = []
    for i in range(12):
        status, body = await upload(env, "Visitor " + v.token, f"fl-{i}", "a.txt", b"plain text\n")
        statuses.append(status)
    assert statuses[:10] == [201] * 10 and statuses[10:] == [429, 429], statuses
    assert body["error"]["code"] == "rate_limited", body


@T.case("files per conversation: the one over the site's count is refused")
async def t_per_conversation(env):
    v, conv = await visitor_with_conversation(env)
    p = id_prefix(conv)
    for i in range(50):
        env.redis.command("SADD", p + f"conv:{conv}:files", f"f_x_{i}")
    status, body = await upload(env, "Visitor " + v.token, "pc-1", "a.txt", b"plain text\n")
    assert status == 429 and "50 files already" in body["error"]["message"], body


@T.case("the export carries the file's metadata")
async def t_export(env):
    v, conv = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "ex-1", "a.txt", b"plain text\n")
    assert status == 201, body
    boss = await env.login("boss")
    status, _, data = await http_request(env.beckon.port, "GET", f"/api/visitors/{v.visitor_id}/export", None,
                                         {"Authorization": "Bearer " + boss})
    assert status == 200, data
    text = data.decode()
    assert body["file"]["id"] in text and "a.txt" in text, text[:2000]


@T.case("storage unavailable: an upload is 503 unavailable (send it again), a download too; nothing is left behind")
async def t_storage_down(env):
    v, conv = await visitor_with_conversation(env)
    status, body = await upload(env, "Visitor " + v.token, "u-0", "a.txt", b"kept\n")
    assert status == 201, body
    uploads = os.path.join(env.beckon.data_dir, "uploads")
    env.redis.stop()
    try:
        status, answer = await upload(env, "Visitor " + v.token, "u-1", "a.txt", b"plain text\n")
        assert status == 503 and answer["error"]["code"] == "unavailable", answer
        status, _, data = await download(env, body["file"]["url"])
        assert status == 503 and parse_json_body(data)["error"]["code"] == "unavailable", data
    finally:
        env.redis.start()
    for _ in range(50):
        if not os.listdir(uploads):
            break
        await asyncio.sleep(0.1)
    assert os.listdir(uploads) == [], os.listdir(uploads)
    for _ in range(100):  # reconnected: the retry goes through
        status, answer = await upload(env, "Visitor " + v.token, "u-1", "a.txt", b"plain text\n")
        if status != 503:
            break
        await asyncio.sleep(0.1)
    assert status == 201, answer


async def site_visitor(env, origin="https://shop.example"):
    """A visitor of the site "shop", whose page is at origin; its token."""
    ws = await websockets.connect(env.beckon.ws_url, subprotocols=["beckon-visitor.v1"], origin=origin)
    try:
        await ws.send(json.dumps({"type": "hello", "site": "shop"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert welcome["type"] == "welcome", welcome
        return welcome["token"]
    finally:
        await ws.close()


# Last: once a site exists, every visitor must come from a site's origin.
@T.case("a site's rules: types checked when set, a smaller size, visitors not allowed, the Origin like the socket's")
async def t_site_rules(env):
    boss = await env.login("boss")

    async def put(body):
        status, _, data = await http_request(env.beckon.port, "PUT", "/api/sites/shop", body,
                                             {"Authorization": "Bearer " + boss})
        return status, parse_json_body(data)
    status, body = await put({"origins": ["https://shop.example"], "files_types": ["image/png", "text/html"]})
    assert status == 400 and body["error"]["message"].startswith("files_types: "), body
    status, body = await put({"origins": ["https://shop.example"], "files_max_bytes": 1000,
                              "files_types": ["text/plain"], "files_per_conversation": 3,
                              "webhook_url": "http://127.0.0.1:9/hooks"})
    assert status == 200, body
    status, _, data = await http_request(env.beckon.port, "GET", "/api/sites", None, {"Authorization": "Bearer " + boss})
    shop = [s for s in parse_json_body(data)["sites"] if s["id"] == "shop"][0]
    assert shop["files_max_bytes"] == 1000 and shop["files_types"] == ["text/plain"], shop
    assert shop["files_visitors"] is True and shop["files_per_conversation"] == 3, shop
    token = await site_visitor(env)
    origin = {"Origin": "https://shop.example"}
    status, body = await upload(env, "Visitor " + token, "s-1", "a.txt", b"y" * 2000 + b"\n", headers=origin)
    assert status == 413 and body["error"]["message"] == "the file is 2 KB; this site accepts files up to 1 KB", body
    status, body = await upload(env, "Visitor " + token, "s-2", "a.txt", b"fits\n", headers={"Origin": "https://evil.example"})
    assert status == 403, body
    status, body = await upload(env, "Visitor " + token, "s-3", "a.txt", b"fits\n", headers=origin)
    assert status == 201, body
    # the webhook's message event carries the file: metadata and a signed link
    from harness import site_prefix
    events = env.redis.command("XRANGE", site_prefix("shop") + "hooks:shop", "-", "+")
    found = [json.loads(v) for _, fields in events for v in fields if body["file"]["id"] in v]
    assert found, events
    hook_file = found[-1]["message"]["file"] if "message" in found[-1] else found[-1]["data"]["message"]["file"]
    assert hook_file["id"] == body["file"]["id"] and hook_file["name"] == "a.txt", hook_file
    # absolute at --public-url: a webhook's receiver has no page of ours to be relative to
    assert hook_file["url"].startswith(f"{PUBLIC_URL}/files/{body['file']['id']}?exp="), hook_file
    status, body = await put({"files_visitors": False})
    assert status == 200, body
    status, body = await upload(env, "Visitor " + token, "s-4", "a.txt", b"fits\n", headers=origin)
    assert status == 403 and body["error"]["message"] == "visitors may not send files on this site", body
    r = env.beckon.cli("site", "set", "shop", "files-visitors", "on")
    assert r.returncode == 0, r
    status, body = await upload(env, "Visitor " + token, "s-5", "a.txt", b"fits\n", headers=origin)
    assert status == 201, body


# After the site exists: the widget uploads from the site's pages, another origin than Beckon's.
@T.case("from the site's own pages: the preflight allows the upload, and the page may read the answer (CORS)")
async def t_cross_origin(env):
    origin = "https://shop.example"
    status, headers, data = await http_request(env.beckon.port, "OPTIONS", "/api/files?cmid=x&name=a.txt", None, {
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    h = {k.lower(): v for k, v in headers.items()}
    assert status == 204 and h.get("access-control-allow-origin") == origin, (status, h)
    assert h.get("access-control-allow-methods") == "POST", h
    assert "authorization" in h.get("access-control-allow-headers", "").lower(), h
    assert "access-control-allow-credentials" not in h and h.get("vary") == "Origin", h
    token = await site_visitor(env)
    h = {"Authorization": "Visitor " + token, "Content-Type": "text/plain", "Origin": origin}
    status, headers, data = await http_request(env.beckon.port, "POST", query("x-1", "a.txt"), b"from the shop\n", h)
    h = {k.lower(): v for k, v in headers.items()}
    assert status == 201 and h.get("access-control-allow-origin") == origin, (status, h, data)
    # A refusal is readable too, so the widget can show its words; the agents' routes stay our own.
    h = {"Authorization": "Visitor " + token, "Content-Type": "text/plain", "Origin": "https://evil.example"}
    status, headers, data = await http_request(env.beckon.port, "POST", query("x-2", "a.txt"), b"no\n", h)
    assert status == 403 and {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin"), headers
    # An answer given before the body is read (here a retry's duplicate) is readable too.
    h = {"Authorization": "Visitor " + token, "Content-Type": "text/plain", "Origin": origin}
    status, headers, data = await http_request(env.beckon.port, "POST", query("x-1", "a.txt"), b"from the shop\n", h)
    assert status == 200 and {k.lower(): v for k, v in headers.items()}.get("access-control-allow-origin") == origin, \
        (status, headers, data)
    status, headers, _ = await http_request(env.beckon.port, "OPTIONS", "/api/canned", None, {"Origin": origin})
    assert "access-control-allow-origin" not in {k.lower() for k in headers}, headers


if __name__ == "__main__":
    T.run("files-" + STORE, setup=setup,
          beckon_args=("--file-store", STORE, "--public-url", PUBLIC_URL + "/", "--body-timeout-seconds", "3", "--files-per-minute-per-ip", "1000"))
