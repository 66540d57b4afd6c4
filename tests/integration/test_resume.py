"""Every conversation can be resumed, however large; an impossible resume offset is the client's
error and says so; a gap is reported whatever removed the messages."""

import asyncio

from harness import Cases, full_history, send_message, sid, id_prefix

T = Cases()


async def setup(env):
    env.add_agent("alice")


async def conversation_with(env, count, text):
    """A visitor's conversation holding `count` messages of `text` (the first sent for real, the
    rest added to its stream as the scripts add them), and its last message's id."""
    v = await env.visitor()
    ack = await send_message(v, text)
    cid = ack["conversation"]
    last = ack["id"]
    for i in range(count - 1):
        last = env.redis.command("XADD", f"{id_prefix(cid)}conv:{cid}", "*", "from", "visitor", "author", v.visitor_id,
                                 "cmid", f"bulk-{i}", "text", text)
    return v, cid, last


async def resume(client, cid, since):
    return await client.request({"type": "resume", "conversation": cid, "since": since})


@T.case("a conversation of long messages is resumed in pages that fit the send queue; "
        "the reading client is never dropped")
async def t_large_history(env):
    # 120 messages of 8 000 quotes, each twice that JSON-escaped: ~1.9 MB, more than the
    # 1 MiB a socket may have queued.
    text = '"' * 8000
    v, cid, _ = await conversation_with(env, 120, text)
    messages, replies = await full_history(v, cid, timeout=10)
    assert len(messages) == 120 and all(m["text"] == text for m in messages), len(messages)
    assert len(replies) >= 4, f"{len(replies)} pages"
    assert all(r["gap"] is False for r in replies), [r["gap"] for r in replies]
    # the same for an agent paging with `next`
    alice = await env.agent("alice")
    since, seen = "0", 0
    while True:
        h = await alice.expect_reply({"type": "resume", "conversation": cid, "since": since}, "history", 10)
        seen += len(h["messages"])
        since = h["next"]
        if h["complete"]:
            break
    assert seen == 120, seen
    assert v.close_code is None and alice.close_code is None


@T.case("resume offsets: ahead of the last message, from another conversation, or beyond any "
        "stream id are bad_request, never unavailable")
async def t_impossible_offsets(env):
    v, cid, last = await conversation_with(env, 3, "hej")
    other_visitor, other_cid, other_id = await conversation_with(env, 1, "other")
    ms, seq = sid(last)
    for since in (f"{ms + 60000}-0", f"{ms}-{seq + 1}", "18446744073709551615-18446744073709551615"):
        r = await resume(v, cid, since)
        assert r["type"] == "error" and r["code"] == "bad_request", (since, r)
    for since in ("18446744073709551616-0", "99999999999999999999999-0", "1-18446744073709551616"):
        r = await resume(v, cid, since)
        assert r["type"] == "error" and r["code"] == "bad_request", (since, r)
    # an id of another conversation, older than this one's last message
    v2, cid2, _ = await conversation_with(env, 1, "first")
    await send_message(v2, "second")
    r = await resume(v2, cid2, other_id)
    assert r["type"] == "error" and r["code"] == "bad_request", r
    # what a client really holds still works
    h = await resume(v, cid, last)
    assert h["type"] == "history" and h["messages"] == [] and h["complete"] and not h["gap"], h


@T.case("gaps: messages removed by XTRIM or XDEL (an operator's tooling) are reported as gap: true")
async def t_gaps(env):
    v, cid, _ = await conversation_with(env, 10, "m")
    key = f"{id_prefix(cid)}conv:{cid}"
    ids = [e[0] for e in env.redis.command("XRANGE", key, "-", "+")]
    h = await resume(v, cid, ids[5])
    assert h["gap"] is False and len(h["messages"]) == 4, h
    # a trim from the head past the client's position: its `since` is gone
    env.redis.command("XTRIM", key, "MAXLEN", "3")
    h = await resume(v, cid, ids[2])
    assert h["type"] == "history" and h["gap"] is True and [m["id"] for m in h["messages"]] == ids[7:], h
    # a client further on, past what was trimmed, has no gap
    h = await resume(v, cid, ids[7])
    assert h["gap"] is False and [m["id"] for m in h["messages"]] == ids[8:], h
    # from the start: messages are missing
    h = await resume(v, cid, "0")
    assert h["gap"] is True, h
    # "0-0" is the start, as Redis reads it
    h = await resume(v, cid, "0-0")
    assert h["type"] == "history" and h["gap"] is True and h["messages"][0]["id"] == ids[7], h
    # one deleted after the client's position
    env.redis.command("XDEL", key, ids[8])
    h = await resume(v, cid, ids[7])
    assert h["gap"] is True and [m["id"] for m in h["messages"]] == ids[9:], h
    # the client's own last message deleted, nothing after it: no gap
    h = await resume(v, cid, ids[8])
    assert h["type"] == "history" and h["gap"] is False and [m["id"] for m in h["messages"]] == ids[9:], h
    # the whole stream deleted
    env.redis.command("DEL", key)
    h = await resume(v, cid, ids[9])
    assert h["type"] == "history" and h["gap"] is True and h["messages"] == [], h


if __name__ == "__main__":
    T.run("resume", setup=setup)
