"""A visitor's mail with attachments (docs/protocol.md, "Files"; "email"): each attachment goes
through the same intake as an upload (server/files/file_intake.h: the type from the content, the
site's rules, images re-encoded, the file store) and becomes a file message of the conversation
the mail threads to, after the mail's text; what is refused is listed, with why, in the text
message's `attachments`. Delivered by LMTP and by `beckon mail receive` handing the mail to the
server over lmtp-socket. The mails are real MIME (base64 parts), made by Python's email package.

The file runs twice, once per file store: BECKON_FILE_STORE=dir (the default) or redis."""

import asyncio
import glob
import os
from email.message import EmailMessage

from harness import Cases, http_request, id_prefix
from test_email_channel import ARGS, LMTP, PIPE_ARGS, chat_with_email, lmtp, reply_address
from test_email_channel import setup as email_setup
from test_files import PDFISH, png

T = Cases()
STORE = os.environ.get("BECKON_FILE_STORE", "dir")
HTML_AS_PNG = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>\n"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00" + \
      b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$" + \
      b"\x00" * 64 + b"PE\x00\x00\x4c\x01\x03\x00" + b"\x00" * 200
COUNT = [0]


def mail(to, text, attachments, sender="ann.visitor@gmail.example"):
    """A mail as a client sends it: multipart/mixed, the text, then each (name, type, bytes) base64."""
    COUNT[0] += 1
    m = EmailMessage()
    m["From"] = f"Ann <{sender}>"
    m["To"] = to
    m["Subject"] = "Re: your question"
    m["Message-ID"] = f"<files-{os.getpid()}-{COUNT[0]}@gmail.example>"
    if text is not None:
        m.set_content(text)
    for name, mime, data in attachments:
        main, sub = mime.split("/")
        if text is None and not m.is_multipart():
            m.make_mixed()
        m.add_attachment(data, maintype=main, subtype=sub, filename=name)
    return m.as_bytes().replace(b"\n", b"\r\n")


async def handoff(env, raw, to, sender="ann.visitor@gmail.example"):
    """Postfix's pipe with lmtp-socket set: the command hands the mail to the server."""
    args = PIPE_ARGS + ["--lmtp-socket", LMTP, "mail", "receive", to, sender]
    r = await asyncio.to_thread(env.beckon.cli, *args, stdin=raw.decode("latin-1"))
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def entries(env, conv):
    out = []
    for entry_id, fields in env.redis.command("XRANGE", f"{id_prefix(conv)}conv:{conv}", "-", "+"):
        m = dict(zip(fields[::2], fields[1::2]))
        m["id"] = entry_id
        out.append(m)
    return out


def stored_files(env):
    """Every file's bytes in the store (ids), and what is left in the uploads folder."""
    if STORE == "dir":
        ids = {os.path.basename(p) for p in glob.glob(os.path.join(env.beckon.data_dir, "files", "*", "*"))
               if not p.endswith(".thumb")}
    else:
        keys = env.redis.command("KEYS", "*:bytes")
        ids = {k.split(":file:")[1].rsplit(":", 1)[0] for k in keys}
    spooled = glob.glob(os.path.join(env.beckon.data_dir, "uploads", "mail-*"))
    return ids, spooled


async def settled(env, want_ids, timeout=5):
    """The store holds exactly want_ids, and no spooled mail file is left (removals are async)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        ids, spooled = stored_files(env)
        if ids == set(want_ids) and not spooled:
            return
        assert asyncio.get_running_loop().time() < deadline, (ids, set(want_ids), spooled)
        await asyncio.sleep(0.05)


def file_ids(env):
    return {m["file"].split('"id":"')[1].split('"')[0] for conv in CONVERSATIONS for m in entries(env, conv) if "file" in m}


CONVERSATIONS = []


async def conversation(env, alice):
    v, conv = await chat_with_email(env, alice)
    CONVERSATIONS.append(conv)
    return v, conv


async def setup(env):
    await email_setup(env)


@T.case("a PNG and a PDF by LMTP: two file messages after the text, pushed, the image re-encoded with a thumbnail")
async def t_png_and_pdf(env):
    alice = await env.agent("alice")
    _, conv = await conversation(env, alice)
    to = reply_address(conv)
    picture = png(64, 48)
    raw = mail(to, "Here is the broken part and the receipt.", [("part.png", "image/png", picture),
                                                              ("receipt.pdf", "application/pdf", PDFISH)])
    answers = await lmtp(raw, [to], "ann.visitor@gmail.example")
    assert answers[0].startswith("250"), answers
    text = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email")
    assert text["text"] == "Here is the broken part and the receipt." and not text.get("attachments"), text
    image = await alice.recv_until("message", pred=lambda m: m.get("file") and m["file"]["name"] == "part.png")
    pdf = await alice.recv_until("message", pred=lambda m: m.get("file") and m["file"]["name"] == "receipt.pdf")
    assert image["conversation"] == conv and image["from"] == "visitor", image
    assert image["file"]["type"] == "image/png" and image["file"]["width"] == 64, image
    assert pdf["file"]["type"] == "application/pdf" and pdf["file"]["size"] == len(PDFISH), pdf
    status, _, data = await http_request(env.beckon.port, "GET", image["file"]["url"], None, {})
    assert status == 200 and data.startswith(b"\x89PNG") and data != picture, (status, data[:16])
    status, _, data = await http_request(env.beckon.port, "GET", image["file"]["thumb_url"], None, {})
    assert status == 200 and data.startswith(b"\xff\xd8"), (status, data[:16])
    status, _, data = await http_request(env.beckon.port, "GET", pdf["file"]["url"], None, {})
    assert status == 200 and data == PDFISH, status
    kinds = [("file" in e, e.get("channel")) for e in entries(env, conv) if e["from"] == "visitor"]
    assert kinds[-3:] == [(False, "email"), (True, None), (True, None)], kinds
    await settled(env, file_ids(env))


@T.case("an .exe and HTML saved as .png: listed refused with why, no file message, nothing left")
async def t_refused(env):
    alice = await env.agent("alice")
    _, conv = await conversation(env, alice)
    to = reply_address(conv)
    raw = mail(to, "See attached.", [("invoice.exe", "application/octet-stream", EXE),
                                     ("photo.png", "image/png", HTML_AS_PNG)])
    answers = await lmtp(raw, [to], "ann.visitor@gmail.example")
    assert answers[0].startswith("250"), answers
    text = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email")
    listed = {a["name"]: a["refused"] for a in text["attachments"]}
    assert set(listed) == {"invoice.exe", "photo.png"}, text["attachments"]
    assert listed["invoice.exe"] and ("HTML" in listed["photo.png"] or "html" in listed["photo.png"]), listed
    assert not [e for e in entries(env, conv) if "file" in e]
    await settled(env, file_ids(env))


@T.case("the site's files_per_conversation: the files past it are listed refused, their bytes not kept")
async def t_per_conversation(env):
    alice = await env.agent("alice")
    _, conv = await conversation(env, alice)
    to = reply_address(conv)
    visitor = env.redis.command("HGET", f"{id_prefix(conv)}conv:{conv}:meta", "visitor")
    site = f"{id_prefix(conv)}site:" + (env.redis.command("HGET", f"{id_prefix(conv)}visitor:{visitor}", "site") or "")
    env.redis.command("HSET", site, "files_per_conversation", "2")
    try:
        raw = mail(to, "Three pictures.", [(f"p{i}.png", "image/png", png(8 + i, 8)) for i in range(3)])
        answers = await lmtp(raw, [to], "ann.visitor@gmail.example")
        assert answers[0].startswith("250"), answers
        text = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email")
        assert [(a["name"], a["refused"]) for a in text["attachments"]] == [
            ("p2.png", "this conversation has 2 files already, the most it takes")], text["attachments"]
        assert sorted(e["text"] for e in entries(env, conv) if "file" in e) == ["p0.png", "p1.png"]
    finally:
        env.redis.command("HDEL", site, "files_per_conversation")
    await settled(env, file_ids(env))


@T.case("the same mail twice (one Message-ID): stored once, the second delivery's bytes removed")
async def t_duplicate(env):
    alice = await env.agent("alice")
    _, conv = await conversation(env, alice)
    to = reply_address(conv)
    raw = mail(to, "Once only.", [("once.pdf", "application/pdf", PDFISH)])
    for _ in range(2):
        answers = await lmtp(raw, [to], "ann.visitor@gmail.example")
        assert answers[0].startswith("250"), answers
    visitor = [e for e in entries(env, conv) if e["from"] == "visitor"]
    assert [e.get("text") for e in visitor if e.get("channel") == "email" or "file" in e] == ["Once only.", "once.pdf"]
    await settled(env, file_ids(env))


@T.case("through the pipe with lmtp-socket (the hand-off): a mail of files alone is its file messages")
async def t_handoff(env):
    alice = await env.agent("alice")
    _, conv = await conversation(env, alice)
    to = reply_address(conv)
    raw = mail(to, None, [("scan.pdf", "application/pdf", PDFISH)])
    rc, out = await handoff(env, raw, to)
    assert rc == 0, (rc, out)
    pushed = await alice.recv_until("message", pred=lambda m: m.get("file") and m["file"]["name"] == "scan.pdf")
    assert pushed["conversation"] == conv, pushed
    visitor = [e for e in entries(env, conv) if e["from"] == "visitor"]
    assert visitor[-1]["text"] == "scan.pdf" and "file" in visitor[-1], visitor[-1]
    assert not [e for e in visitor if e.get("channel") == "email"], visitor
    rc, out = await handoff(env, raw, to)   # handed over again: the same message
    assert rc == 0, (rc, out)
    assert len([e for e in entries(env, conv) if "file" in e]) == 1
    await settled(env, file_ids(env))


if __name__ == "__main__":
    T.run("email_files-" + STORE, setup=setup,
          beckon_args=tuple(ARGS) + ("--file-store", STORE, "--public-url", "https://chat.example.test/"))
