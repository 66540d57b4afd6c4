"""Accounts: admins manage them over REST; a changed password or a removed account ends its
sessions and closes its sockets; repeated failed logins are refused for a while."""

import json

from harness import Cases, http_request, parse_json_body

T = Cases()


async def setup(env):
    env.add_agent("root")
    r = env.beckon.cli("agent", "remove", "root")
    assert r.returncode == 0, r
    r = env.beckon.cli("agent", "add", "root", "admin", stdin="root-password\n")
    assert r.returncode == 0, r
    env.agents["root"] = "root-password"
    env.add_agent("plain")


async def api(env, method, path, body=None, token=None):
    headers = {"Authorization": "Bearer " + token} if token else None
    status, _, data = await http_request(env.beckon.port, method, path, body, headers)
    return status, parse_json_body(data) if data else None


async def login(env, name, password):
    return await api(env, "POST", "/api/login", {"name": name, "password": password})


@T.case("admin REST: create, list, change role, validation; other roles get 403")
async def t_admin(env):
    root = await env.login("root")
    plain = await env.login("plain")
    assert (await api(env, "GET", "/api/agents", token=plain))[0] == 403
    assert (await api(env, "GET", "/api/agents"))[0] == 401
    status, body = await api(env, "POST", "/api/agents", {"name": "maja", "password": "maja-password-1",
                                                          "role": "marketer"}, root)
    assert status == 201 and body == {"name": "maja"}, (status, body)
    status, body = await api(env, "POST", "/api/agents", {"name": "maja", "password": "another-pass"}, root)
    assert status == 409, (status, body)
    for bad in ({"name": "x y", "password": "long-enough"}, {"name": "short", "password": "short"},
                {"name": "roleless", "password": "long-enough", "role": "owner"}):
        status, body = await api(env, "POST", "/api/agents", bad, root)
        assert status == 400, (bad, status, body)
    status, body = await api(env, "GET", "/api/agents", token=root)
    maja = [a for a in body["agents"] if a["name"] == "maja"]
    assert maja and maja[0]["role"] == "marketer", body
    status, body = await login(env, "maja", "maja-password-1")
    assert status == 200 and body["agent"]["role"] == "marketer", body
    status, _ = await api(env, "PUT", "/api/agents/maja", {"role": "admin"}, root)
    assert status == 200
    status, body = await login(env, "maja", "maja-password-1")
    assert body["agent"]["role"] == "admin", body
    assert (await api(env, "PUT", "/api/agents/nobody", {"role": "agent"}, root))[0] == 404


@T.case("a new password ends the account's sessions: old token refused, open socket closed 4001")
async def t_password_change_ends_sessions(env):
    root = await env.login("root")
    status, _ = await api(env, "POST", "/api/agents", {"name": "kim", "password": "kim-password-1"}, root)
    assert status == 201
    env.agents["kim"] = "kim-password-1"
    kim = await env.agent("kim")
    old = await env.login("kim")
    status, _ = await api(env, "PUT", "/api/agents/kim", {"password": "kim-password-2"}, root)
    assert status == 200
    err = await kim.recv_until("error", code="unauthorized")
    assert "session ended" in err["message"], err
    assert await kim.wait_closed(5) == 4001
    c = await env.connect("agent")
    await c.expect_error({"type": "hello", "token": old}, "unauthorized")
    assert (await login(env, "kim", "kim-password-1"))[0] == 401
    assert (await login(env, "kim", "kim-password-2"))[0] == 200
    # the command line does the same
    env.agents["kim"] = "kim-password-2"
    kim = await env.agent("kim")
    r = env.beckon.cli("agent", "passwd", "kim", stdin="kim-password-3\n")
    assert r.returncode == 0 and b"sessions have ended" in r.stdout, r
    assert await kim.wait_closed(5) == 4001


@T.case("removing an account: its socket closes, it cannot log in, it is not listed")
async def t_remove(env):
    root = await env.login("root")
    status, _ = await api(env, "POST", "/api/agents", {"name": "temp", "password": "temp-password"}, root)
    assert status == 201
    env.agents["temp"] = "temp-password"
    temp = await env.agent("temp")
    assert (await api(env, "DELETE", "/api/agents/temp", token=root))[0] == 200
    assert await temp.wait_closed(5) == 4001
    assert (await login(env, "temp", "temp-password"))[0] == 401
    status, body = await api(env, "GET", "/api/agents", token=root)
    assert all(a["name"] != "temp" for a in body["agents"]), body
    assert (await api(env, "DELETE", "/api/agents/temp", token=root))[0] == 404


@T.case("5 failed logins for a name: the next attempt is refused with 429, even the right password")
async def t_throttle(env):
    root = await env.login("root")
    await api(env, "POST", "/api/agents", {"name": "lock", "password": "lock-password"}, root)
    for _ in range(5):
        assert (await login(env, "lock", "wrong-password"))[0] == 401
    status, body = await login(env, "lock", "lock-password")
    assert status == 429 and body["error"]["code"] == "rate_limited", (status, body)
    # other accounts from the same address still get in (the per-address limit is higher)
    assert (await login(env, "plain", env.agents["plain"]))[0] == 200
    # unknown names are throttled the same way: no way to tell them apart
    for _ in range(5):
        assert (await login(env, "ghost", "whatever-pass"))[0] == 401
    assert (await login(env, "ghost", "whatever-pass"))[0] == 429


if __name__ == "__main__":
    T.run("accounts", setup=setup)
