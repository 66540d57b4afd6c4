"""One conversation across chat and email: an agent answers by email from the panel (mailed
through the SMTP sink of test_transcript), the visitor's reply comes back into the same
conversation through `beckon mail receive` (an MTA's pipe) or the LMTP socket, threaded by the
reply address's signed token or by In-Reply-To; and every way inbound mail is refused or dropped.
The mails are written as real clients write them (tests/integration/mail/)."""

import asyncio
import email
import email.policy
import hashlib
import hmac
import os
import re
import socket
import time

from harness import Cases, http_request, id_prefix, parse_json_body, send_message
from test_transcript import Sink

T = Cases()
FROM = "chat@shop.example"
REPLY = "reply@support.example"
SECRET = "5e" * 32
LMTP = f"/tmp/beckon-lmtp-{os.getpid()}.sock"
CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mail")
SINK = Sink()
ARGS = ["--smtp-host", "127.0.0.1", "--smtp-port", str(SINK.port), "--smtp-from", FROM,
        "--smtp-timeout-seconds", "3", "--smtp-helo", "beckon.test", "--secret", SECRET,
        "--mail-reply-address", REPLY, "--lmtp-socket", LMTP, "--mail-per-sender-hour", "6",
        "--mail-max-bytes", "200000"]
# what the pipe command is given too (in production: the same config file as the server)
PIPE_ARGS = ["--secret", SECRET, "--mail-reply-address", REPLY, "--mail-per-sender-hour", "6",
             "--mail-max-bytes", "200000"]
UNIQUE = [0]


def reply_address(conv):
    sig = hmac.new(bytes.fromhex(SECRET), b"mail-reply:" + conv.encode(), hashlib.sha256).hexdigest()[:16]
    return f"reply+{conv}.{sig}@support.example"


def corpus(name, to, in_reply_to="", references=None):
    UNIQUE[0] += 1
    with open(os.path.join(CORPUS, name), "rb") as f:
        raw = f.read()
    for key, value in (("{{TO}}", to), ("{{IN_REPLY_TO}}", in_reply_to),
                       ("{{REFERENCES}}", references if references is not None else in_reply_to),
                       ("{{UNIQUE}}", f"{os.getpid()}x{UNIQUE[0]}x{time.time_ns()}")):
        raw = raw.replace(key.encode(), value.encode())
    return raw


async def pipe(env, raw, recipient=None, sender=None):
    """`beckon mail receive [RECIPIENT [SENDER]]` as Postfix's pipe runs it: (exit code, output)."""
    args = PIPE_ARGS + ["mail", "receive"] + ([recipient] if recipient is not None else []) + ([sender] if sender is not None else [])
    r = await asyncio.to_thread(env.beckon.cli, *args, stdin=raw.decode("latin-1"))
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def _lmtp_sync(raw, recipients, sender):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(15)
    s.connect(LMTP)
    f = s.makefile("rb")

    def line():
        return f.readline().decode().rstrip("\r\n")

    def reply():
        lines = [line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(line())
        return lines[-1]

    assert reply().startswith("220"), "no greeting"
    s.sendall(b"LHLO test.example\r\n")
    assert reply().startswith("250")
    s.sendall(f"MAIL FROM:<{sender}>\r\n".encode())
    assert reply().startswith("250")
    for r in recipients:
        s.sendall(f"RCPT TO:<{r}>\r\n".encode())
        assert reply().startswith("250")
    s.sendall(b"DATA\r\n")
    assert reply().startswith("354")
    body = raw.replace(b"\r\n.", b"\r\n..")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    s.sendall(body + b".\r\n")
    answers = [reply() for _ in recipients]
    s.sendall(b"QUIT\r\n")
    s.close()
    return answers


async def lmtp(raw, recipients, sender="someone@example.com"):
    return await asyncio.to_thread(_lmtp_sync, raw, recipients, sender)


async def setup(env):
    env.add_agent("alice")
    r = env.beckon.cli("agent", "add", "dpo", "admin", stdin="dpo-password\n")
    assert r.returncode == 0, r
    env.agents["dpo"] = "dpo-password"
    r = env.beckon.cli("agent", "add", "mia", "marketer", stdin="mia-password\n")
    assert r.returncode == 0, r
    env.agents["mia"] = "mia-password"
    await SINK.start()


async def chat_with_email(env, alice, lang="en", address="ann.visitor@gmail.example"):
    v = await env.visitor(lang=lang)
    await v.expect_reply({"type": "identify", "name": "Ann", "email": address}, "ok")
    conv = (await send_message(v, "Do you have the sweater in blue?"))["conversation"]
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await send_message(alice, "Let me check.", conversation=conv)
    return v, conv


async def mail_count(n, timeout=5):
    deadline = time.monotonic() + timeout
    while len(SINK.mails) < n:
        assert time.monotonic() < deadline, f"the sink has {len(SINK.mails)} mails, not {n}"
        await asyncio.sleep(0.02)


async def email_reply(agent, conv, text, env, cmid=None):
    return await agent.expect_reply({"type": "email_reply", "conversation": conv, "cmid": cmid or env.uid("e"),
                                     "text": text}, "ack", timeout=10)


def history_of(env, conv):
    return env.redis.command("XRANGE", f"{id_prefix(conv)}conv:{conv}", "-", "+")


def email_entries(env, conv):
    out = []
    for entry in history_of(env, conv):
        fields = entry[1]
        m = dict(zip(fields[::2], fields[1::2]))
        if m.get("channel") == "email":
            out.append(m)
    return out


@T.case("an agent answers by email: stored as the agent's message of channel email (ack, history, the "
        "visitor's socket), mailed in the visitor's language with the history quoted, Reply-To the "
        "conversation's reply address, a Message-ID of ours, no Auto-Submitted")
async def t_outbound(env):
    SINK.reset()
    alice = await env.agent("alice")
    v, conv = await chat_with_email(env, alice, lang="da")
    ack = await email_reply(alice, conv, "Ja, vi har den i blå. Skal jeg sende den?", env)
    assert ack["conversation"] == conv and ack["channel"] == "email" and ack["mail"] == "sent", ack
    pushed = await v.recv_until("message", pred=lambda m: m.get("channel") == "email")
    assert pushed["text"] == "Ja, vi har den i blå. Skal jeg sende den?" and pushed["from"] == "agent", pushed
    await mail_count(1)
    mail = SINK.mails[0]
    assert mail["to"] == ["ann.visitor@gmail.example"], mail["to"]
    m = email.message_from_bytes(mail["data"], policy=email.policy.default)
    assert m["Reply-To"] == reply_address(conv), (m["Reply-To"], reply_address(conv))
    assert m["From"].addresses[0].addr_spec == FROM and m["From"].addresses[0].display_name == "demo", m["From"]
    assert re.fullmatch(r"<bk\." + re.escape(conv) + r"\.[0-9a-f]{24}@shop\.example>", m["Message-ID"]), m["Message-ID"]
    assert m["Auto-Submitted"] is None, "a person's answer is not auto-generated"
    assert m["X-Beckon-Conversation"] == conv
    assert m["Subject"] == "Din samtale med demo", m["Subject"]
    body = m.get_content().replace("\r\n", "\n")
    assert body.startswith("Ja, vi har den i blå. Skal jeg sende den?\n\nalice, demo\n"), body
    assert "Tidligere i samtalen" in body and "> Do you have the sweater in blue?" in body, body
    assert "> Let me check." in body and "Svar på denne e-mail" in body, body
    entries = email_entries(env, conv)
    assert len(entries) == 1 and entries[0]["from"] == "agent" and entries[0]["mail_to"] == "ann.visitor@gmail.example"
    h = await alice.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert h["messages"][-1]["channel"] == "email", h["messages"][-1]
    d = await alice.expect_reply({"type": "visitor", "visitor": v.visitor_id}, "visitor")
    assert [x.get("channel") for x in d["conversations"] if x["id"] == conv] == ["email"], d["conversations"]


@T.case("the same cmid again: duplicate, and no second mail once the first was sent")
async def t_outbound_duplicate(env):
    SINK.reset()
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    first = await email_reply(alice, conv, "Once", env, cmid="same-cmid")
    again = await email_reply(alice, conv, "Once", env, cmid="same-cmid")
    assert again["duplicate"] is True and again["id"] == first["id"] and again["mail"] == "sent", again
    await asyncio.sleep(0.3)
    assert len(SINK.mails) == 1, len(SINK.mails)


@T.case("a relay that refuses: the answer is stored (ack, mail not_sent with its words); the same cmid "
        "once the relay takes mail sends it with the same Message-ID")
async def t_outbound_refused(env):
    SINK.reset(refuse_at="rcpt", reply="550 5.1.1 no such user")
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    ack = await email_reply(alice, conv, "Hello by mail", env, cmid="retry-cmid")
    assert ack["mail"] == "not_sent" and "550 5.1.1" in ack["mail_error"], ack
    SINK.reset()
    ack2 = await email_reply(alice, conv, "Hello by mail", env, cmid="retry-cmid")
    assert ack2["duplicate"] is True and ack2["mail"] == "sent" and ack2["id"] == ack["id"], ack2
    await mail_count(1)
    assert len(email_entries(env, conv)) == 1


@T.case("email_reply refused: a visitor who gave no email (wrong_state), another agent's chat (forbidden), "
        "no such conversation (not_found)")
async def t_outbound_refusals(env):
    alice = await env.agent("alice")
    v = await env.visitor()
    conv = (await send_message(v, "no address given"))["conversation"]
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    e = await alice.expect_error({"type": "email_reply", "conversation": conv, "cmid": "x1", "text": "hi"}, "wrong_state")
    assert "no email address" in e["message"], e
    e = await alice.expect_error({"type": "email_reply", "conversation": "c_e3b0_000000000000000000000000",
                                  "cmid": "x2", "text": "hi"}, "not_found")


@T.case("a left message answered by email becomes a conversation (active with the agent, the left text first), "
        "mailed to the address typed with it; the visitor's reply comes back into it; a second answer goes on in it")
async def t_outbound_left(env):
    SINK.reset()
    alice = await env.agent("alice")
    v = await env.visitor()
    await v.expect_reply({"type": "leave_message", "email": "left@example.net", "name": "Lea",
                          "text": "Please call me about my order 1234"}, "ok")
    lefts = (await alice.expect_reply({"type": "left_messages"}, "left_messages"))["messages"]
    left = next(m for m in lefts if m["visitor"] == v.visitor_id)
    ack = await alice.expect_reply({"type": "email_reply", "left": left["id"], "visitor": v.visitor_id,
                                    "cmid": env.uid("l"), "text": "We will call you at noon."}, "ack", timeout=10)
    conv = ack["conversation"]
    assert ack["mail"] == "sent" and conv.startswith("c_"), ack
    await mail_count(1)
    m = email.message_from_bytes(SINK.mails[0]["data"], policy=email.policy.default)
    assert SINK.mails[0]["to"] == ["left@example.net"] and m["Reply-To"] == reply_address(conv), (SINK.mails[0]["to"], m["Reply-To"])
    assert "> Please call me about my order 1234" in m.get_content(), m.get_content()
    h = await alice.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert [(x["from"], x["text"]) for x in h["messages"]] == [
        ("visitor", "Please call me about my order 1234"), ("agent", "We will call you at noon.")], h["messages"]
    assert h["state"] == "active", h
    rc, out = await pipe(env, corpus("gmail_alternative.eml", reply_address(conv)), reply_address(conv))
    assert rc == 0, (rc, out)
    again = await alice.expect_reply({"type": "email_reply", "left": left["id"], "visitor": v.visitor_id,
                                      "cmid": env.uid("l"), "text": "Called you."}, "ack", timeout=10)
    assert again["conversation"] == conv, again
    e = await alice.expect_error({"type": "email_reply", "left": left["id"], "cmid": "x", "text": "y"}, "bad_request")
    e = await alice.expect_error({"type": "email_reply", "left": "1-0", "visitor": v.visitor_id, "cmid": "x",
                                  "text": "y"}, "not_found")


@T.case("an email reply takes a queued chat whose visitor left: active with the agent, off the queue")
async def t_outbound_queued(env):
    SINK.reset()
    alice = await env.agent("alice")
    v = await env.visitor()
    await v.expect_reply({"type": "identify", "email": "gone@example.com"}, "ok")
    conv = (await send_message(v, "anyone there?"))["conversation"]
    await v.close()
    ack = await email_reply(alice, conv, "Sorry for the wait!", env)
    assert ack["mail"] == "sent", ack
    await alice.recv_until("queue_remove", conversation=conv)
    meta = env.redis.command("HGET", f"{id_prefix(conv)}conv:{conv}:meta", "state")
    assert meta == "active", meta


@T.case("the visitor answers the mail (Gmail, through the pipe to its reply address): a visitor message of "
        "channel email in the same conversation, the quote cut and the original kept, live to the visitor "
        "and the agent; exit 0")
async def t_inbound_token(env):
    SINK.reset()
    alice = await env.agent("alice")
    v, conv = await chat_with_email(env, alice)
    await email_reply(alice, conv, "We have it in blue and green.", env)
    await mail_count(1)
    sent = email.message_from_bytes(SINK.mails[0]["data"], policy=email.policy.default)
    to = sent["Reply-To"]
    raw = corpus("gmail_alternative.eml", to, sent["Message-ID"])
    rc, out = await pipe(env, raw, to)
    assert rc == 0, (rc, out)
    want = "Thanks! The blue one, size M, would be perfect — can you ship it tomorrow?"
    at_agent = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email" and m["from"] == "visitor")
    assert at_agent["conversation"] == conv and at_agent["text"] == want, at_agent
    assert "we have it in blue and green" in at_agent["original"].lower() and at_agent["email_from"] == "ann.visitor@gmail.example"
    at_visitor = await v.recv_until("message", pred=lambda m: m.get("channel") == "email" and m["from"] == "visitor")
    assert at_visitor["text"] == want
    h = await alice.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    last = h["messages"][-1]
    assert last["channel"] == "email" and last["text"] == want and last["subject"] == "Re: Your conversation with demo", last
    # the agent answers again: Re: the visitor's subject, In-Reply-To the visitor's mail
    SINK.reset()
    await email_reply(alice, conv, "Shipped!", env)
    await mail_count(1)
    m2 = email.message_from_bytes(SINK.mails[0]["data"], policy=email.policy.default)
    assert m2["Subject"] == "Re: Your conversation with demo", m2["Subject"]
    assert m2["In-Reply-To"] and "mail.gmail.example" in m2["In-Reply-To"], m2["In-Reply-To"]


@T.case("a reply without its token (to the bare address) is threaded by In-Reply-To our Message-ID, "
        "through LMTP (Apple Mail, Danish in ISO-8859-1): 250; stored once though delivered twice")
async def t_inbound_in_reply_to(env):
    SINK.reset()
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice, lang="da")
    await email_reply(alice, conv, "Hej Åse, det kan vi godt.", env)
    await mail_count(1)
    sent = email.message_from_bytes(SINK.mails[0]["data"], policy=email.policy.default)
    raw = corpus("apple_mail_danish.eml", REPLY, sent["Message-ID"])
    answers = await lmtp(raw, [REPLY], "ase@icloud.example")
    assert answers[0].startswith("250"), answers
    msg = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email" and m["from"] == "visitor")
    assert msg["conversation"] == conv and msg["text"].endswith("Venlig hilsen\nÅse"), msg
    assert "bytte æblerne til pærer" in msg["text"], msg
    answers = await lmtp(raw, [REPLY], "ase@icloud.example")
    assert answers[0].startswith("250"), answers
    rc, out = await pipe(env, raw, REPLY)
    assert rc == 0, (rc, out)
    assert len([e for e in email_entries(env, conv) if e["from"] == "visitor"]) == 1


@T.case("HTML only (Outlook, windows-1252) and base64 Norwegian with a signature arrive as text")
async def t_inbound_clients(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    to = reply_address(conv)
    rc, out = await pipe(env, corpus("outlook_html_only.eml", to), to)
    assert rc == 0, out
    m = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email")
    assert m["text"] == "Hej,\n\nPrøv venligst igen på fredag – jeg er hjemme efter kl. 16.\n\nMvh Søren", m["text"]
    rc, out = await pipe(env, corpus("norwegian_base64.eml", to), to)
    assert rc == 0, out
    m = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email" and "faktura" in m["text"])
    assert m["text"] == "Hei!\n\nKan dere sende en ny faktura? Den gamle har feil adresse: Øvre Slottsgate 2, Oslo.", m
    assert m["email_name"] == "Øystein Ås", m


@T.case("through the pipe alone an attachment is listed as refused (only the server takes files), the text stored")
async def t_inbound_attachment(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    to = reply_address(conv)
    rc, out = await pipe(env, corpus("with_attachment.eml", to), to)
    assert rc == 0, out
    m = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email")
    assert m["text"] == "Here is a photo of the broken part.", m
    assert m["attachments"] == [{"name": "broken part.png", "type": "image/png", "size": 70,
                                 "refused": "files by email are taken only when the server reads the mail "
                                            "(lmtp-socket)"}], m["attachments"]
    h = await alice.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert h["messages"][-1]["attachments"] == m["attachments"], h["messages"][-1]


@T.case("a forged or unknown reply token: 67 (EX_NOUSER) / LMTP 550, logged, stored nowhere; a made-up "
        "Message-ID of ours in In-Reply-To is refused too")
async def t_inbound_forged(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    real = reply_address(conv)
    local, domain = real.split("@")
    forged = local[:-1] + ("0" if local[-1] != "0" else "1") + "@" + domain   # one hex digit of the signature
    before = len(history_of(env, conv))
    rc, out = await pipe(env, corpus("gmail_alternative.eml", forged), forged)
    assert rc == 67 and "not one we signed" in out, (rc, out)
    answers = await lmtp(corpus("gmail_alternative.eml", forged), [forged, real])
    assert answers[0].startswith("550 5.1.1") and answers[1].startswith("250"), answers
    other = f"reply+c_e3b0_{'ab' * 12}.{'0' * 16}@support.example"
    rc, _ = await pipe(env, corpus("gmail_alternative.eml", other), other)
    assert rc == 67
    made_up = f"<bk.{conv}.{'0' * 24}@shop.example>"
    rc, out = await pipe(env, corpus("gmail_alternative.eml", REPLY, made_up), REPLY)
    assert rc == 67 and "answers no mail of ours" in out, (rc, out)
    rc, out = await pipe(env, corpus("gmail_alternative.eml", "someone@else.example"))
    assert rc == 67, (rc, out)
    assert len(history_of(env, conv)) == before + 1, "only the one real delivery was stored"
    with open(env.beckon.log, errors="replace") as f:
        assert "not one we signed" in f.read(), "the forged delivery was not logged"


@T.case("auto-replies and bounces (Auto-Submitted, a DSN from the null sender) are accepted and dropped: "
        "exit 0 / 250, never stored, never answered")
async def t_inbound_automatic(env):
    SINK.reset()
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    to = reply_address(conv)
    before = len(history_of(env, conv))
    rc, out = await pipe(env, corpus("auto_reply.eml", to), to, "ann.visitor@gmail.example")
    assert rc == 0 and "dropped" in out and "Auto-Submitted" in out, (rc, out)
    answers = await lmtp(corpus("dsn_bounce.eml", to), [to], sender="")
    assert answers[0].startswith("250") and "dropped" in answers[0], answers
    rc, out = await pipe(env, corpus("gmail_alternative.eml", to), to, "")
    assert rc == 0 and "null sender" in out, (rc, out)
    assert len(history_of(env, conv)) == before
    await alice.expect_none("message", pred=lambda m: m.get("channel") == "email", within=0.3)
    assert SINK.mails == []


@T.case("a mail of ours that comes back (a loop: X-Beckon-Conversation, our Message-ID) is dropped")
async def t_inbound_loop(env):
    SINK.reset()
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    await email_reply(alice, conv, "Ping", env)
    await mail_count(1)
    ours = SINK.mails[0]["data"]
    rc, out = await pipe(env, ours, reply_address(conv))
    assert rc == 0 and "loop" in out, (rc, out)
    assert [e["from"] for e in email_entries(env, conv)] == ["agent"]


@T.case("oversized mail: 65 (EX_DATAERR) / LMTP 552; malformed (no text nor attachment): 65 / 554")
async def t_inbound_size_and_mime(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    to = reply_address(conv)
    big = corpus("gmail_alternative.eml", to).replace(b"Thanks!", b"Thanks!" + b" padding" * 30000)
    rc, out = await pipe(env, big, to)
    assert rc == 65 and "larger than 200000" in out, (rc, out)
    answers = await lmtp(big, [to])
    assert answers[0].startswith("552 5.3.4"), answers
    no_text = (f"From: a@b.example\r\nTo: {to}\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
               "Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz--\r\n").encode()
    rc, out = await pipe(env, no_text, to)
    assert rc == 65 and "no text" in out, (rc, out)
    answers = await lmtp(no_text, [to])
    assert answers[0].startswith("554 5.6.0"), answers
    rc, out = await pipe(env, b"\x00\xff garbage without headers", to)
    assert rc == 65, (rc, out)


@T.case("a flood from one sender: past mail-per-sender-hour (6) 75 (EX_TEMPFAIL) / LMTP 450, the MTA retries later")
async def t_inbound_flood(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice, address="flood@example.org")
    to = reply_address(conv)
    codes = []
    for i in range(8):
        raw = corpus("gmail_alternative.eml", to).replace(b"ann.visitor@gmail.example", b"flood@example.org")
        rc, out = await pipe(env, raw, to)
        codes.append(rc)
    assert codes == [0] * 6 + [75, 75], codes
    answers = await lmtp(corpus("gmail_alternative.eml", to).replace(b"ann.visitor@gmail.example", b"flood@example.org"), [to])
    assert answers[0].startswith("450 4.7.1"), answers


@T.case("a reply to an erased visitor's conversation is refused (67), nothing comes back")
async def t_inbound_erased(env):
    alice = await env.agent("alice")
    v, conv = await chat_with_email(env, alice)
    dpo = await env.login("dpo")
    status, _, _ = await http_request(env.beckon.port, "DELETE", f"/api/visitors/{v.visitor_id}", None,
                                      {"Authorization": "Bearer " + dpo})
    assert status == 200, status
    to = reply_address(conv)
    rc, out = await pipe(env, corpus("gmail_alternative.eml", to), to)
    assert rc == 67, (rc, out)
    assert history_of(env, conv) == []


@T.case("a reply to a closed conversation reopens it into the queue (a new round, the whole history kept); "
        "an agent accepts it")
async def t_inbound_reopens(env):
    alice = await env.agent("alice")
    v, conv = await chat_with_email(env, alice)
    await alice.expect_reply({"type": "close", "conversation": conv}, "ok")
    to = reply_address(conv)
    rc, out = await pipe(env, corpus("gmail_alternative.eml", to), to)
    assert rc == 0 and "reopened" in out, (rc, out)
    added = await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv and
                                   "channel" in m["conversation"])
    assert added["conversation"]["channel"] == "email", added
    meta = env.redis.command("HGETALL", f"{id_prefix(conv)}conv:{conv}:meta")
    meta = dict(zip(meta[::2], meta[1::2]))
    assert meta["state"] == "queued" and "agent" not in meta and "closed" not in meta, meta
    assert env.redis.command("TTL", f"{id_prefix(conv)}conv:{conv}") == -1, "the reopened conversation still expires"
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    h = await alice.expect_reply({"type": "resume", "conversation": conv, "since": "0"}, "history")
    assert h["messages"][0]["text"] == "Do you have the sweater in blue?", h["messages"][0]


@T.case("storage down: the pipe exits 75 (EX_TEMPFAIL) and LMTP answers 451, so the MTA keeps the mail")
async def t_inbound_storage_down(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    to = reply_address(conv)
    raw = corpus("gmail_alternative.eml", to)
    env.redis.stop()
    try:
        rc, out = await pipe(env, raw, to)
        assert rc == 75, (rc, out)
        answers = await lmtp(raw, [to])
        assert answers[0].startswith("451 4.3.0"), answers
    finally:
        env.redis.start()
    await env.beckon.wait_healthy(10)
    rc, out = await pipe(env, raw, to)
    assert rc == 0, (rc, out)


@T.case("KPIs: a first response by email counts as answered and is reported apart (answered_by_email, "
        "email_first_response_p50), not in the chat's first_response")
async def t_kpis(env):
    SINK.reset()
    alice = await env.agent("alice")
    v = await env.visitor()
    await v.expect_reply({"type": "identify", "email": "kpi@example.com"}, "ok")
    conv = (await send_message(v, "a question for later"))["conversation"]
    await v.close()
    await email_reply(alice, conv, "The answer, by mail", env)
    await alice.expect_reply({"type": "close", "conversation": conv}, "ok")
    dpo = await env.login("dpo")
    day = time.strftime("%Y-%m-%d", time.gmtime())
    status, _, data = await http_request(env.beckon.port, "GET", f"/api/stats/service?from={day}&to={day}", None,
                                         {"Authorization": "Bearer " + dpo})
    assert status == 200, status
    totals = parse_json_body(data)["totals"]
    assert totals["answered_by_email"] >= 1 and totals["email_first_response_p50"] is not None, totals
    assert totals["answered"] >= totals["answered_by_email"], totals


@T.case("LMTP speaks the protocol: pipelined commands, RSET, unknown verbs, DATA before RCPT")
async def t_lmtp_protocol(env):
    def talk():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(LMTP)
        f = s.makefile("rb")
        out = [f.readline()]
        s.sendall(b"LHLO x\r\nDATA\r\nFOO\r\nRSET\r\nNOOP\r\nQUIT\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        return out[0], data.decode()
    greeting, text = await asyncio.to_thread(talk)
    assert greeting.startswith(b"220"), greeting
    codes = [line[:3] for line in text.split("\r\n") if line and line[3:4] == " "]
    assert codes == ["250", "503", "500", "250", "250", "221"], text


FLOW = {"name": "Mail help", "start": "greeting",
        "steps": {"greeting": {"text": "Hi! What can we help with?", "buttons": [
                      {"id": "person", "label": "Talk to a person", "next": "person"}]},
                  "person": {"text": "Connecting you…", "handoff": True}}}


def plain_mail(env, to, text="Thanks, that answers it."):
    """A short plain mail from a sender of its own (the per-sender hourly rate is the run's)."""
    sender = env.uid("ann") + "@gmail.example"
    return (f"From: Ann <{sender}>\r\nTo: {to}\r\nSubject: Re: your question\r\n"
            f"Message-ID: <{env.uid('m')}@gmail.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{text}\r\n").encode()


async def in_flow(env, site):
    """A visitor who gave an email and is in a quick-reply flow on site: (visitor, conversation)."""
    token = await env.login("mia")
    status, _, _ = await http_request(env.beckon.port, "PUT", "/api/flows/" + site, FLOW,
                                      {"Authorization": "Bearer " + token})
    assert status == 200, status
    v = await env.visitor(site=site)
    await v.expect_reply({"type": "identify", "name": "Ann", "email": "ann.flow@gmail.example"}, "ok")
    ok = await v.expect_reply({"type": "flow_start"}, "ok")
    conv = ok["conversation"]
    assert env.redis.command("HGET", f"{id_prefix(conv)}conv:{conv}:meta", "state") == "flow"
    return v, conv


@T.case("a conversation in a quick-reply flow: a mail from the visitor hands it off to the queue as typing "
        "does (queue_add to every agent, the flow over); an agent's email reply hands it off and takes it "
        "as accept does")
async def t_flow_state(env):
    alice = await env.agent("alice")
    v, conv = await in_flow(env, "mail-flow-in")
    to = reply_address(conv)
    answers = await lmtp(plain_mail(env, to), [to])
    assert answers[0].startswith("250"), answers
    added = await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    assert "flow" not in added["conversation"], added  # no button was chosen
    meta = id_prefix(conv) + f"conv:{conv}:meta"
    assert env.redis.command("HGET", meta, "state") == "queued"
    vid = env.redis.command("HGET", meta, "visitor")
    assert env.redis.command("HGET", f"{id_prefix(conv)}visitor:{vid}", "flow") is None
    assert email_entries(env, conv)[-1]["from"] == "visitor"

    v2, conv2 = await in_flow(env, "mail-flow-out")
    mails = len(SINK.mails)
    ack = await email_reply(alice, conv2, "We saw your question: here is the answer.", env)
    assert ack["conversation"] == conv2, ack
    meta2 = id_prefix(conv2) + f"conv:{conv2}:meta"
    assert env.redis.command("HMGET", meta2, "state", "agent") == ["active", "alice"]
    assert env.redis.command("ZSCORE", f"{id_prefix(conv2)}queue", conv2) is None
    await mail_count(mails + 1, timeout=10)


@T.case("reading a mail past mail-parse-seconds (a real slow input: 40,000 MIME parts for each of 8 "
        "recipients, on a node with mail-parse-seconds 1): LMTP 451 for every recipient, at the deadline, "
        "and the late result is thrown away (nothing stored)")
async def t_lmtp_parse_deadline(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    socket_path = f"/tmp/beckon-lmtp-slow-{os.getpid()}.sock"
    await env.new_beckon("beckon-slow-parse", ARGS[:ARGS.index("--lmtp-socket")] + [
        "--lmtp-socket", socket_path, "--mail-parse-seconds", "1", "--mail-max-bytes", "4000000"])
    boundary = "b0undary"
    body = "\r\n".join(f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nx" for _ in range(40000))
    to = reply_address(conv)
    raw = (f"From: Ann <ann.visitor@gmail.example>\r\nTo: {to}\r\nSubject: many parts\r\n"
           f"Message-ID: <slow.{env.uid()}@gmail.example>\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n{body}\r\n--{boundary}--\r\n").encode()
    before = len(email_entries(env, conv))
    global LMTP
    saved, LMTP = LMTP, socket_path
    try:
        began = time.monotonic()
        answers = await lmtp(raw, [to] * 8)
        took = time.monotonic() - began
    finally:
        LMTP = saved
    assert all(a.startswith("451") and "took over 1 s" in a for a in answers), answers
    assert took < 6, took
    await asyncio.sleep(6)   # the worker ends meanwhile: what it read is thrown away
    assert len(email_entries(env, conv)) == before


@T.case("the pipe with lmtp-socket set hands the mail to the running server over that socket: stored by the "
        "server, exit 0 with its words; a forged token is the server's 550 (exit 67); a socket nobody "
        "listens on is exit 75 (the MTA keeps the mail and retries)")
async def t_pipe_relays(env):
    alice = await env.agent("alice")
    _, conv = await chat_with_email(env, alice)
    to = reply_address(conv)
    raw = plain_mail(env, to)
    args = PIPE_ARGS + ["--lmtp-socket", LMTP, "mail", "receive", to, "ann.visitor@gmail.example"]
    r = await asyncio.to_thread(env.beckon.cli, *args, stdin=raw.decode("latin-1"))
    assert r.returncode == 0, r
    assert r.stdout == b"delivered\n", r.stdout
    m = await alice.recv_until("message", pred=lambda m: m.get("channel") == "email" and m["conversation"] == conv)
    assert m["from"] == "visitor", m
    forged = to.replace("@", "0@", 1).replace(".", "x", 1)
    args[args.index(to)] = forged
    r = await asyncio.to_thread(env.beckon.cli, *args, stdin=plain_mail(env, forged).decode("latin-1"))
    assert r.returncode == 67, r
    args[args.index(LMTP)] = LMTP + ".nobody"
    r = await asyncio.to_thread(env.beckon.cli, *args, stdin=raw.decode("latin-1"))
    assert r.returncode == 75 and b"try again later" in r.stdout, r


LEFT_OPEN = []


@T.case("an LMTP client that says LHLO and then nothing is left open: the server's shutdown (the last case) "
        "closes it and still exits 0")
async def t_lmtp_left_open(env):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(LMTP)
    assert s.recv(100).startswith(b"220")
    s.sendall(b"LHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<reply@support.example>\r\nDATA\r\nSubject: half")
    await asyncio.sleep(0.2)
    LEFT_OPEN.append(s)   # closed by the server at its shutdown


if __name__ == "__main__":
    T.run("email_channel", setup=setup, beckon_args=ARGS)
