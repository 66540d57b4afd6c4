"""Messages in batches: what reaches a node in one loop iteration is stored by one script call
(server/chat/message_batch.c, server/lua/messages.lua), and every message still gets exactly the
answer it would get alone - its ack with its own id, its duplicate, its refusal - in the order
each socket sent them.

A burst lands in one iteration only if the node does not wake between two of its frames: the
burst case stops the node (SIGSTOP) while the clients write, so that it finds every frame waiting
when it runs again. The other node-level cases check the answers whatever the batches were; the
cases that need two messages in one batch for certain call the script itself, as the node does."""

import asyncio
import json
import os
import re
import signal
import socket
import sys

from harness import Cases, STREAM_ID_RE, assert_ordered_unique, full_history, send_message, sid, id_prefix, site_prefix

SOURCE_ROOT = os.environ.get("BECKON_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "server", "lua"))
import embed  # noqa: E402  (server/lua/embed.py: the script as the node loads it)

T = Cases()


async def setup(env):
    env.add_agent("alice")


def script_calls(env):
    """EVALSHA calls Redis has run so far (INFO commandstats)."""
    stats = env.redis.command("INFO", "commandstats")
    stats = stats.decode() if isinstance(stats, bytes) else stats
    for line in stats.split("\r\n"):
        if line.startswith("cmdstat_evalsha:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


async def burst(client, messages):
    """Sends every message at once, without waiting between them; returns their replies by req."""
    frames = []
    for i, m in enumerate(messages):
        m = dict(m, req=m.get("req", f"{client.name}-{i}"))
        frames.append(m)
    await asyncio.gather(*(client.send(m) for m in frames))
    replies = {}
    for m in frames:
        replies[m["req"]] = await client.recv_until(req=m["req"], timeout=10)
    return frames, replies


class Refusal(Exception):
    """An error element of a reply (the harness's reader raises on the first error instead)."""


def resp_value(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2].decode()
    if kind in (b"+", b":"):
        return int(rest) if kind == b":" else rest
    if kind == b"-":
        return Refusal(rest)
    if kind == b"$":
        return None if int(rest) < 0 else f.read(int(rest) + 2)[:-2].decode()
    assert kind == b"*", line
    return [resp_value(f) for _ in range(int(rest))]


def batch(env, *messages, now="1700000000000"):
    """messages.lua called directly, as the node calls it, with these messages (kind, author,
    conversation, cmid, text): its reply, one element per message, a refusal as a Refusal."""
    source = embed.compose(os.path.join(os.path.dirname(embed.__file__), "messages.lua"))[0]
    # the slot of site "" (no site configured), and no agent online
    args = ["EVAL", source, "0", site_prefix(""), now, "0"]
    for kind, author, conversation, cmid, text in messages:
        args += [kind, author, conversation, cmid, text, str(len(text.encode())), "n_test:1"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(env.redis.sock)
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            out.append(f"${len(b)}\r\n".encode() + b + b"\r\n")
        s.sendall(b"".join(out))
        return resp_value(s.makefile("rb"))


def element_error(element):
    """The text of an error element, or None."""
    return str(element) if isinstance(element, Refusal) else None


async def open_active(env, alice, text="hello"):
    v = await env.visitor()
    ack = await send_message(v, text)
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await v.recv_until("conversation", id=conv, state="active")
    return v, conv


@T.case("a burst from several sockets: each message acked once with its own id, each socket's in the order "
        "sent, in fewer script calls than messages")
async def t_burst(env):
    alice = await env.agent("alice")
    visitors = [await env.visitor(name=f"burst-{i}") for i in range(8)]
    per_socket = 6
    before = script_calls(env)
    os.kill(env.beckon.proc.pid, signal.SIGSTOP)  # every frame waits for the node's next iteration
    try:
        sending = asyncio.gather(*(burst(v, [{"type": "message", "cmid": f"{v.name}-c{i}", "text": f"{v.name} line {i}"}
                                             for i in range(per_socket)]) for v in visitors))
        await asyncio.sleep(0.2)
    finally:
        os.kill(env.beckon.proc.pid, signal.SIGCONT)
    sent = await sending
    calls = script_calls(env) - before
    all_ids = set()
    for v, (frames, replies) in zip(visitors, sent):
        acks = [replies[f["req"]] for f in frames]
        for f, a in zip(frames, acks):
            assert a["type"] == "ack" and a["cmid"] == f["cmid"] and a["duplicate"] is False, (f, a)
            assert STREAM_ID_RE.match(a["id"]), a
        assert len({a["conversation"] for a in acks}) == 1, f"one visitor, one conversation: {acks}"
        ids = [a["id"] for a in acks]
        assert all(sid(x) < sid(y) for x, y in zip(ids, ids[1:])), f"{v.name}: stored out of the order sent: {ids}"
        all_ids.update((a["conversation"], a["id"]) for a in acks)
        history, _ = await full_history(v, acks[0]["conversation"])
        assert [m["text"] for m in history] == [f["text"] for f in frames], history
        assert_ordered_unique(history)
        await v.expect_none("ack", within=0.05)  # acked once: nothing more for this socket
    assert len(all_ids) == len(visitors) * per_socket
    assert calls < len(visitors) * per_socket, f"{calls} script calls for {len(visitors) * per_socket} messages"
    # every new conversation reached the agent's queue, as one message's would
    seen = set()
    while len(seen) < len(visitors):
        qa = await alice.recv_until("queue_add")
        seen.add(qa["conversation"]["visitor"])


@T.case("one socket's burst, resent whole: the second time every message is a duplicate with its first id, "
        "in order; the same cmid twice in one burst is stored once")
async def t_duplicates(env):
    v = await env.visitor()
    messages = [{"type": "message", "cmid": f"d{i}", "text": f"line {i}"} for i in range(10)]
    messages.append({"type": "message", "cmid": "d3", "text": "line 3 again"})
    frames, replies = await burst(v, messages)
    acks = [replies[f["req"]] for f in frames]
    first = {a["cmid"]: a for a in acks[:10]}
    assert all(a["duplicate"] is False for a in acks[:10]), acks
    assert acks[10]["duplicate"] is True and acks[10]["id"] == first["d3"]["id"], acks[10]
    frames2, replies2 = await burst(v, [dict(m, req=f"again-{i}") for i, m in enumerate(messages)])
    for f in frames2:
        a = replies2[f["req"]]
        assert a["type"] == "ack" and a["duplicate"] is True and a["id"] == first[f["cmid"]]["id"], (f, a)
    history, _ = await full_history(v, acks[0]["conversation"])
    assert [m["cmid"] for m in history] == [f"d{i}" for i in range(10)], history


@T.case("in one script call: the same cmid twice is one message and one duplicate with its id; across calls too")
async def t_duplicate_in_one_call(env):
    v = await env.visitor()
    vid = v.visitor_id
    r = batch(env, ("visitor", vid, "c_batchdup00000000001", "same", "first"),
              ("visitor", vid, "c_batchdup00000000002", "same", "second"),
              ("visitor", vid, "c_batchdup00000000003", "other", "third"))
    assert len(r) == 3 and not any(element_error(e) for e in r), r
    (c1, id1, dup1, opened1), (c2, id2, dup2, opened2), (c3, id3, dup3, opened3) = r
    assert (c1, dup1, opened1) == ("c_batchdup00000000001", 0, 1), r[0]
    assert (c2, id2, dup2, opened2) == (c1, id1, 1, 0), f"the second is the first's duplicate: {r}"
    assert (c3, dup3, opened3) == (c1, 0, 0) and sid(id3) > sid(id1), r[2]
    again = batch(env, ("visitor", vid, "c_batchdup00000000004", "same", "first, resent"))
    assert again == [[c1, id1, 1, 0]], again
    history, _ = await full_history(v, c1)
    assert [m["text"] for m in history] == ["first", "third"], history


@T.case("in one script call: a refused message (closed conversation, erased visitor, not the agent's, "
        "no such conversation) is refused alone; the others are stored")
async def t_refusal_alone(env):
    alice = await env.agent("alice")
    v1, conv1 = await open_active(env, alice)
    v2, conv2 = await open_active(env, alice)
    await alice.expect_reply({"type": "close", "conversation": conv2}, "ok")
    erased = await env.visitor()
    await send_message(erased, "soon gone")
    for key in env.redis.command("KEYS", f"*{erased.visitor_id}*"):
        env.redis.command("DEL", key)
    r = batch(env, ("visitor", v1.visitor_id, "c_unused0000000000001", "ok-1", "before"),
              ("agent", "alice", conv2, "closed-1", "to a closed chat"),
              ("visitor", erased.visitor_id, "c_unused0000000000002", "gone-1", "from an erased visitor"),
              ("agent", "bob", conv1, "notmine-1", "not bob's"),
              ("note", "alice", "c_nosuchconversation00", "nowhere-1", "a note nowhere"),
              ("agent", "alice", conv1, "ok-2", "after"))
    assert len(r) == 6, r
    assert element_error(r[1]) == "wrong_state the conversation is closed", r[1]
    assert element_error(r[2]).startswith("invalid_token this visitor was erased"), r[2]
    assert element_error(r[3]) == "forbidden accept the conversation first", r[3]
    assert element_error(r[4]) == "not_found no such conversation", r[4]
    assert r[0][0] == conv1 and r[0][2] == 0 and r[5][0] == conv1 and r[5][2] == 0, r
    assert sid(r[0][1]) < sid(r[5][1]), r
    history, _ = await full_history(v1, conv1)
    assert [m["text"] for m in history][-2:] == ["before", "after"], history
    assert [k for k in env.redis.command("KEYS", "*") if erased.visitor_id in str(k)] == []


@T.case("an agent's burst to an open chat and a closed one: the closed one's messages are refused with "
        "today's words, the others acked in order; the visitor gets each push once")
async def t_agent_burst(env):
    alice = await env.agent("alice")
    v1, conv1 = await open_active(env, alice)
    v2, conv2 = await open_active(env, alice)
    await alice.expect_reply({"type": "close", "conversation": conv2}, "ok")
    messages = []
    for i in range(6):
        messages.append({"type": "message", "conversation": conv1, "cmid": f"open-{i}", "text": f"open {i}"})
        messages.append({"type": "message", "conversation": conv2, "cmid": f"shut-{i}", "text": f"shut {i}"})
    messages.append({"type": "note", "conversation": conv1, "cmid": "note-1", "text": "a note"})
    frames, replies = await burst(alice, messages)
    ids = []
    for f in frames:
        r = replies[f["req"]]
        if f.get("conversation") == conv2:
            assert r["type"] == "error" and r["code"] == "wrong_state", (f, r)
            assert r["message"] == "the conversation is closed", r
        else:
            assert r["type"] == "ack" and r["cmid"] == f["cmid"] and r["conversation"] == conv1, (f, r)
            ids.append(r["id"])
    assert all(sid(x) < sid(y) for x, y in zip(ids, ids[1:])), ids
    for i in range(6):
        push = await v1.recv_until("message", cmid=f"open-{i}")
        assert push["id"] == ids[i] and push["from"] == "agent" and push["author"] == "alice", push
        await v1.expect_none("message", cmid=f"open-{i}", within=0.01)
    await v1.expect_none("message", cmid="note-1", within=0.2)
    await v2.expect_none("message", pred=lambda m: m.get("from") == "agent", within=0.1)


@T.case("a message followed at once by another request on the same socket: the request sees the message "
        "(nothing a socket asks overtakes its messages)")
async def t_order_with_other_requests(env):
    v = await env.visitor()
    first = await send_message(v, "opening")
    conv = first["conversation"]
    await v.send({"type": "message", "req": "m", "cmid": "last", "text": "the last word"})
    await v.send({"type": "resume", "req": "h", "conversation": conv, "since": first["id"]})
    ack = await v.recv_until(req="m")
    history = await v.recv_until(req="h")
    assert ack["type"] == "ack", ack
    assert [m["id"] for m in history["messages"]] == [ack["id"]], history
    await v.send({"type": "message", "req": "m2", "cmid": "bye", "text": "closing now"})
    await v.send({"type": "close", "req": "c"})
    ack2 = await v.recv_until(req="m2")
    assert ack2["type"] == "ack" and ack2["conversation"] == conv, f"stored before the close: {ack2}"
    assert (await v.recv_until(req="c"))["type"] == "ok"


@T.case("a socket closed with its message in flight: the message is stored, its answer only freed")
async def t_closed_meanwhile(env):
    alice = await env.agent("alice")
    v, conv = await open_active(env, alice)  # an active chat: no queue pushes that could meet a closed socket
    token = v.token
    os.kill(env.beckon.proc.pid, signal.SIGSTOP)  # the frame and the end of the connection in one iteration
    try:
        await v.send({"type": "message", "req": "x", "cmid": "parting", "text": "sent, then gone"})
        v.ws.transport.close()  # the frame, then the TCP connection's end (a reset could drop the frame unread)
        await asyncio.sleep(0.1)
    finally:
        os.kill(env.beckon.proc.pid, signal.SIGCONT)
    push = await alice.recv_until("message", cmid="parting")
    again = await env.visitor(token=token)
    history, _ = await full_history(again, conv)
    assert [m["cmid"] for m in history if m["from"] == "visitor"][-1] == "parting", history
    assert history[-1]["id"] == push["id"], (history, push)

@T.case("more messages at once than one batch holds (64): every message acked once, each socket's in order")
async def t_burst_over_cap(env):
    visitors = [await env.visitor(name=f"cap-{i}") for i in range(16)]
    env.redis.command("CONFIG", "SET", "slowlog-log-slower-than", "0")  # every command, with its length
    env.redis.command("CONFIG", "SET", "slowlog-max-len", "1000")
    env.redis.command("SLOWLOG", "RESET")
    os.kill(env.beckon.proc.pid, signal.SIGSTOP)
    try:
        sending = asyncio.gather(*(burst(v, [{"type": "message", "cmid": f"{v.name}-{i}", "text": f"line {i}"}
                                             for i in range(8)]) for v in visitors))
        await asyncio.sleep(0.2)
    finally:
        os.kill(env.beckon.proc.pid, signal.SIGCONT)
    for v, (frames, replies) in zip(visitors, await sending):
        acks = [replies[f["req"]] for f in frames]
        assert all(a["type"] == "ack" and a["duplicate"] is False for a in acks), acks
        ids = [a["id"] for a in acks]
        assert all(sid(x) < sid(y) for x, y in zip(ids, ids[1:])), ids
        history, _ = await full_history(v, acks[0]["conversation"])
        assert [m["cmid"] for m in history] == [f["cmid"] for f in frames], history
    # the slow log keeps 32 arguments of each command and says how many more there were
    def length(args):
        more = re.match(r"\.\.\. \((\d+) more arguments\)", args[-1])
        return len(args) - 1 + int(more.group(1)) if more else len(args)
    calls = [length(e[3]) for e in env.redis.command("SLOWLOG", "GET", "1000") if e[3][0].upper() == "EVALSHA"]
    env.redis.command("CONFIG", "SET", "slowlog-log-slower-than", "10000")
    # EVALSHA, sha, 0 keys, prefix, now, agents online, then 7 a message: several sockets'
    # messages in one call, and never more than 64 messages
    assert max(calls) > 6 + 7 * 8 and max(calls) <= 6 + 7 * 64, calls



TRICKY_TEXTS = ['quote " backslash \\ slash / newline \n tab \t cr \r end', "controls \x01 \x1f \x7f",
                "Hvordan kan jeg hjælpe? 😀 €", "~message c_x 1-0 agent 1 a 1 b  (a text like a record)", " ", "{}"]


@T.case("pushes are made on the node from the bus's compact record: the members and values the stream "
        "holds (as history, which cjson encodes, gives them), whatever the text and cmid hold")
async def t_pushes_equal_history(env):
    alice = await env.agent("alice")
    v, conv = await open_active(env, alice)
    pushes = []
    for i, text in enumerate(TRICKY_TEXTS):
        ack = await send_message(v, text, cmid=f'visitor "{i}" with spaces \\')
        pushes.append(await alice.recv_until("message", id=ack["id"]))
        ack = await send_message(alice, text, cmid=f"agent-{i}", conversation=conv)
        pushes.append(await v.recv_until("message", id=ack["id"]))
    history, _ = await full_history(v, conv)
    joined = [m for m in history if m["from"] == "system"][0]
    pushes.append(await v.recv_until("message", id=joined["id"]))  # "alice joined the chat", no cmid
    by_id = {m["id"]: m for m in history}
    for push in pushes:
        want = dict(by_id[push["id"]], type="message", conversation=conv)
        assert push == want, f"push {push} != history {want}"
    assert "cmid" not in pushes[-1], pushes[-1]


@T.case("a visitor's cmid table expires 8 days after the first message of its last day: set once a day, "
        "not on every message; a cmid is known meanwhile")
async def t_cmids_expiry(env):
    v = await env.visitor()
    first = await send_message(v, "one", cmid="e1")
    key = f"{id_prefix(v.visitor_id)}visitor:{v.visitor_id}:cmids"
    assert 691100 < env.redis.command("TTL", key) <= 691200, env.redis.command("TTL", key)
    env.redis.command("EXPIRE", key, 1000)
    await send_message(v, "two", cmid="e2")
    assert env.redis.command("TTL", key) <= 1000, "the expiry was set again the same day"
    vkey = f"{id_prefix(v.visitor_id)}visitor:{v.visitor_id}"
    env.redis.command("HSET", vkey, "cmids_day", "1")  # the day the expiry was set: long ago
    await send_message(v, "three", cmid="e3")
    assert 691100 < env.redis.command("TTL", key) <= 691200, env.redis.command("TTL", key)
    again = await send_message(v, "one, resent", cmid="e1")
    assert again["duplicate"] is True and again["id"] == first["id"], again



@T.case("the agent of a visitor's open chat is kept on the visitor's hash (conv_agent) from accept to close; "
        "missing (a chat accepted before it existed) or of another chat, the meta's agent gets the push")
async def t_conv_agent(env):
    alice = await env.agent("alice")
    v, conv = await open_active(env, alice)
    vkey = f"{id_prefix(v.visitor_id)}visitor:{v.visitor_id}"
    assert env.redis.command("HGET", vkey, "conv_agent") in (f"{conv} alice", f"{conv} alice".encode())
    for i, damage in enumerate([None, ("HDEL", vkey, "conv_agent"), ("HSET", vkey, "conv_agent", "c_another alice2")]):
        if damage:
            env.redis.command(*damage)
        ack = await send_message(v, f"to alice {i}", cmid=f"ca{i}")
        push = await alice.recv_until("message", cmid=f"ca{i}")
        assert push["id"] == ack["id"] and push["conversation"] == conv, push
    await alice.expect_reply({"type": "close", "conversation": conv}, "ok")
    assert env.redis.command("HGET", vkey, "conv_agent") is None


if __name__ == "__main__":
    T.run("message_batch", setup=setup)
