"""Frames larger than the socket's receive buffer: beckon reads WebSocket data in pieces of 256
bytes (what an idle socket costs) and reassembles them, and it writes a frame of any size in as
few system calls as the kernel allows. Every message here goes in and comes out byte for byte."""

import asyncio
import json

from harness import Cases, full_history, send_message

T = Cases()

# Rates meant for people typing would refuse the history test's 100 quick messages.
BECKON_ARGS = ["--rate-messages-per-second", "1000", "--rate-burst", "1000"]


async def setup(env):
    env.add_agent("alice")


def text_of(size, seed):
    """`size` bytes of UTF-8 whose 2-, 3- and 4-byte characters fall across every 256-byte
    boundary of the frame."""
    unit = f"{seed}: æøå € 😀 "
    out = ""
    while len((out + unit).encode()) <= size:
        out += unit
    return out + "x" * (size - len(out.encode()))


async def open_active(env, alice):
    v = await env.visitor()
    ack = await send_message(v, "hello there")
    conv = ack["conversation"]
    await alice.recv_until("queue_add", pred=lambda m: m["conversation"]["id"] == conv)
    await alice.expect_reply({"type": "accept", "conversation": conv}, "ok")
    await v.recv_until("conversation", id=conv, state="active")
    return v, conv


@T.case("a 4 KB message: acked; the agent's push and the visitor's other tab carry it byte for byte")
async def t_four_kb(env):
    alice = await env.agent("alice")
    v, conv = await open_active(env, alice)
    text = text_of(4096, "four")
    assert len(text.encode()) == 4096
    tab = await env.visitor(token=v.token)
    ack = await send_message(v, text, conversation=conv)
    pushed = await alice.recv_until("message", id=ack["id"])
    assert pushed["text"] == text, f"agent got {len(pushed['text'])} chars, want {len(text)}"
    echo = await tab.recv_until("message", id=ack["id"])
    assert echo["text"] == text, "the other tab's copy differs"
    # and the other way: the agent's 4 KB reply reaches the visitor whole
    reply = text_of(4096, "back")
    ack = await send_message(alice, reply, conversation=conv)
    got = await v.recv_until("message", id=ack["id"])
    assert got["text"] == reply, "the visitor's copy of the agent's reply differs"


@T.case("a message at the size limit (16 KiB frame) goes in and out whole; one byte more is too_large")
async def t_at_limit(env):
    alice = await env.agent("alice")
    v, conv = await open_active(env, alice)
    head = '{"type":"message","req":"lim","cmid":"lim","conversation":"%s","text":"' % conv
    text = text_of(16384 - len(head) - 2, "limit")
    frame = head + text + '"}'
    assert len(frame.encode()) == 16384, len(frame.encode())
    await v.send_raw(frame)
    ack = await v.recv_until("ack", req="lim")
    pushed = await alice.recv_until("message", id=ack["id"])
    assert pushed["text"] == text, "the agent's copy of the 16 KiB message differs"
    await v.send_raw(head.replace('"lim"', '"over"') + text + 'x"}')
    e = await v.recv_until("error")  # a message that was not read has no req to echo
    assert e["code"] == "too_large", e


@T.case("history of 100 messages of 4 KB: about 400 KB arrive whole and in order, in pages of at most ~256 KiB")
async def t_big_history(env):
    alice = await env.agent("alice")
    v, conv = await open_active(env, alice)
    texts = [text_of(4000, f"n{i}") for i in range(100)]
    for text in texts:
        await send_message(v, text, conversation=conv)
    msgs, replies = await full_history(v, conv)
    assert len(replies) == 2, f"{len(replies)} history replies, want two"
    assert all(len(json.dumps(r["messages"], ensure_ascii=False).encode()) < 256 * 1024 + 8192 for r in replies)
    mine = [m["text"] for m in msgs if m.get("from") == "visitor"][1:]  # after "hello there"
    assert mine == texts, f"history has {len(mine)} of the 100 texts, or they differ"
    # the agent reads the same 400 KB on its socket
    msgs, _ = await full_history(alice, conv)
    assert [m["text"] for m in msgs if m.get("from") == "visitor"][1:] == texts


@T.case("control frames still fit: a ping with 125 bytes of payload is answered with its pong")
async def t_ping(env):
    v = await env.visitor()
    payload = bytes(range(125))
    pong = await v.ws.ping(payload)
    await asyncio.wait_for(pong, 5)
    await send_message(v, "still here")


if __name__ == "__main__":
    T.run("frames", setup=setup, beckon_args=BECKON_ARGS)
