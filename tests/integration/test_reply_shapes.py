"""Replies of an unexpected shape: the real redis-server behind a RESP proxy that, when told to,
answers one command with a reply of the right length but the wrong element types (nils,
integers where strings belong) - what a Redis-compatible server, a proxy, or a script changed
under a running node can send. Beckon must answer "unavailable" (503 on HTTP, error unavailable
on the socket), never crash, say so once per reader in its log and count it in /metrics."""

import re
import selectors
import socket
import threading
import hashlib

from harness import Cases, http_request, parse_json_body, send_message

T = Cases()

# Odd replies for a script answering {string, string}: right length, wrong types.
ODD_PAIRS = [b"*2\r\n$-1\r\n:7\r\n", b"*2\r\n:1\r\n$5\r\nadmin\r\n", b"*2\r\n$5\r\nalice\r\n$-1\r\n",
             b"*2\r\n*0\r\n*1\r\n$5\r\nadmin\r\n"]


def resp_end(buf, pos):
    """Where the RESP value starting at pos ends, or None while buf does not hold all of it."""
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return None
    kind, head, pos = buf[pos:pos + 1], buf[pos + 1:nl], nl + 2
    if kind in (b"+", b"-", b":"):
        return pos
    if kind == b"$":
        n = int(head)
        if n < 0:
            return pos
        return pos + n + 2 if len(buf) >= pos + n + 2 else None
    if kind == b"*":
        for _ in range(max(int(head), 0)):
            pos = resp_end(buf, pos)
            if pos is None:
                return None
        return pos
    raise ValueError(f"not RESP: {buf[pos - 1:pos + 20]!r}")


def request_args(raw):
    """The arguments of a request as hiredis sends it (a multibulk of bulk strings)."""
    args, pos = [], raw.index(b"\r\n") + 2
    while pos < len(raw):
        nl = raw.index(b"\r\n", pos)
        n = int(raw[pos + 1:nl])
        args.append(raw[nl + 2:nl + 2 + n])
        pos = nl + 2 + n + 2
    return args


class ShapingProxy:
    """TCP in front of the test's Redis (unix socket) that passes everything through, except
    the reply to the next request a rule matches, which it replaces with the rule's bytes."""

    def __init__(self, redis_sock):
        self.redis_sock, self.rules, self.lock = redis_sock, [], threading.Lock()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopped = False
        self.replaced = 0
        threading.Thread(target=self.run, daemon=True).start()

    def arm(self, match, reply):
        """The reply to the next request whose arguments `match` accepts becomes `reply`."""
        with self.lock:
            self.rules.append((match, reply))

    def pending(self):
        with self.lock:
            return len(self.rules)

    def shaped(self, args, reply):
        with self.lock:
            for i, (match, odd) in enumerate(self.rules):
                if match(args):
                    del self.rules[i]
                    self.replaced += 1
                    return odd
        return reply

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.listener, selectors.EVENT_READ)
        links = {}  # socket -> link
        while not self.stopped:
            for key, _ in sel.select(0.05):
                sock = key.fileobj
                if sock is self.listener:
                    c, _ = sock.accept()
                    r = socket.socket(socket.AF_UNIX)
                    r.connect(self.redis_sock)
                    link = {"client": c, "redis": r, "up": b"", "down": b"", "asked": [], "raw": False}
                    links[c] = links[r] = link
                    sel.register(c, selectors.EVENT_READ)
                    sel.register(r, selectors.EVENT_READ)
                    continue
                link = links.get(sock)
                if link is None:
                    continue
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    for s in (link["client"], link["redis"]):
                        links.pop(s, None)
                        sel.unregister(s)
                        s.close()
                    continue
                if sock is link["client"]:
                    link["up"] += data
                    while (end := resp_end(link["up"], 0)) is not None:
                        raw, link["up"] = link["up"][:end], link["up"][end:]
                        args = request_args(raw)
                        link["asked"].append(args)
                        # a subscriber's replies are pushes from then on: no longer one per request
                        if args and args[0].upper() == b"SUBSCRIBE":
                            link["raw"] = True
                        link["redis"].sendall(raw)
                elif link["raw"]:
                    link["client"].sendall(data)
                else:
                    link["down"] += data
                    while (end := resp_end(link["down"], 0)) is not None:
                        reply, link["down"] = link["down"][:end], link["down"][end:]
                        args = link["asked"].pop(0) if link["asked"] else []
                        link["client"].sendall(self.shaped(args, reply))


def digest(token):
    return hashlib.sha256(token.encode()).hexdigest().encode()


def evalsha_with(token, argc):
    """The script call carrying this session (authorize: 2 arguments, agent hello: 5)."""
    d = digest(token)
    return lambda args: args[:1] == [b"EVALSHA"] and len(args) == 3 + argc and d in args


def days_only(args):
    """A rules-stats script call: the prefix, then days."""
    return args[:1] == [b"EVALSHA"] and len(args) > 4 and all(re.fullmatch(rb"\d{8}", a) for a in args[4:])


class Node:
    proxy = None
    beckon = None


async def setup(env):
    env.beckon.cli("agent", "add", "ada", "admin", stdin="ada-password-1\n")
    env.agents["ada"] = "ada-password-1"
    Node.proxy = ShapingProxy(env.redis.sock)
    Node.beckon = await env.new_beckon("shaped", ["--redis", f"redis://127.0.0.1:{Node.proxy.port}"])


async def get(path, token):
    status, _, data = await http_request(Node.beckon.port, "GET", path,
                                         headers={"Authorization": "Bearer " + token})
    return status, parse_json_body(data) if data else None


def log_lines(pattern):
    with open(Node.beckon.log, errors="replace") as f:
        return [line for line in f if re.search(pattern, line)]


async def metric(name_and_labels):
    status, _, data = await http_request(Node.beckon.port, "GET", "/metrics")
    assert status == 200, status
    for line in data.decode().split("\n"):
        if line.startswith(name_and_labels + " "):
            return int(line.split()[-1])
    return 0


@T.case("an authorized route whose authorize reply has nils and integers for strings: 503, no crash, said once, counted")
async def t_authorize(env):
    token = await env.login("ada", beckon=Node.beckon)
    assert (await get("/api/canned", token))[0] == 200
    for odd in ODD_PAIRS:
        Node.proxy.arm(evalsha_with(token, 2), odd)
        status, body = await get("/api/canned", token)
        assert Node.proxy.pending() == 0, "the proxy never saw the authorize call"
        assert status == 503 and body["error"]["code"] == "unavailable", (odd, status, body)
        assert Node.beckon.running(), f"beckon died on {odd!r}"
    assert (await get("/api/canned", token))[0] == 200, "the next, ordinary reply is read as before"
    assert len(log_lines(r"unexpected shape for on_authorized")) == 1, log_lines(r"unexpected shape")
    assert await metric('beckon_redis_odd_replies_total{reader="on_authorized"}') == len(ODD_PAIRS)


@T.case("rule stats whose days are nils: 503, no crash")
async def t_stats(env):
    token = await env.login("ada", beckon=Node.beckon)
    Node.proxy.arm(days_only, b"*2\r\n$-1\r\n$2\r\n{}\r\n")
    status, body = await get("/api/stats/rules", token)
    assert Node.proxy.pending() == 0, "the proxy never saw the stats call"
    assert status == 503 and body["error"]["code"] == "unavailable", (status, body)
    assert Node.beckon.running()
    assert (await get("/api/stats/rules", token))[0] == 200


@T.case("the socket's readers: an odd agent welcome, message ack or history is error unavailable, no crash")
async def t_socket(env):
    token = await env.login("ada", beckon=Node.beckon)
    agent = await env.connect("agent", beckon=Node.beckon)
    Node.proxy.arm(evalsha_with(token, 5), ODD_PAIRS[0])
    r = await agent.request({"type": "hello", "token": token})
    assert r["type"] == "error" and r["code"] == "unavailable", r
    assert await agent.wait_closed(3) == 1013, "an odd welcome is storage trouble: try again later, not 4001"
    v = await env.visitor(beckon=Node.beckon)
    ack = await send_message(v, "first")
    vid = v.visitor_id.encode()
    # EVALSHA, sha, 0 keys, prefix, now, agents online, then the one message's 7 arguments (messages.lua): the
    # batch's reply is well formed, its one element is not
    Node.proxy.arm(lambda a: a[:1] == [b"EVALSHA"] and len(a) == 13 and a[7] == vid,
                   b"*1\r\n*4\r\n$-1\r\n$-1\r\n:0\r\n:0\r\n")
    r = await v.request({"type": "message", "cmid": "odd-1", "text": "second"})
    assert r["type"] == "error" and r["code"] == "unavailable", r
    conv = ack["conversation"].encode()
    # EVALSHA, sha, 0 keys, then the history script's 7 arguments (chat.c, history_send)
    Node.proxy.arm(lambda a: a[:1] == [b"EVALSHA"] and len(a) == 10 and a[4] == conv,
                   b"*8\r\n$-1\r\n:0\r\n:1\r\n:5\r\n$-1\r\n$0\r\n\r\n$0\r\n\r\n:0\r\n")
    r = await v.request({"type": "resume", "conversation": ack["conversation"], "since": "0"})
    assert r["type"] == "error" and r["code"] == "unavailable", r
    assert Node.proxy.pending() == 0
    await send_message(v, "second", cmid="odd-1")
    assert Node.beckon.running()
    for reader in ("on_agent_hello", "on_message_stored", "on_history"):
        assert len(log_lines(f"unexpected shape for {reader}")) == 1, reader


if __name__ == "__main__":
    T.run("reply_shapes", setup=setup)
