#!/usr/bin/env python3
"""Every Lua script, as Redis gets it (its pieces joined by server/lua/embed.py), parses in
Lua 5.1 - the Lua that Redis 7 embeds - and reads no global that Redis's scripts lack.

A script that does not parse is refused by SCRIPT LOAD when a node starts; a misspelt local is
a global that Redis refuses only when that line runs. luac5.1 -p finds the first before any
Redis is asked, and its listing (-l) shows each global the script reads or writes: assigning
one is always an error in Redis, and reading one outside the list below is a typo or a missing
local. Prints TAP, one case per script, and one for the list of files in server/lua/meson.build.

    python3 tests/unit/lua_syntax.py --pieces PIECE.lua... --scripts SCRIPT.lua...
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# What Redis 7 gives a script: KEYS, ARGV, its libraries, and Lua 5.1's base, string, table and math.
GLOBALS = {
    "ARGV", "KEYS", "redis", "cjson", "cmsgpack", "bit", "struct", "string", "table", "math",
    "assert", "error", "getmetatable", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget",
    "rawset", "select", "setmetatable", "tonumber", "tostring", "type", "unpack", "xpcall", "_G",
    "_VERSION",
}


def arguments(argv):
    lists, current = {"--pieces": [], "--scripts": []}, None
    for a in argv:
        if a in lists:
            current = lists[a]
        elif current is None:
            sys.exit(__doc__)
        else:
            current.append(a)
    return lists["--pieces"], lists["--scripts"]


def check(embed, luac, path, folder):
    """The problems of one script, [] when there are none."""
    try:
        text, origins = embed.compose(path)
    except embed.LuaError as e:
        return [str(e)]
    composed = os.path.join(folder, os.path.basename(path))
    with open(composed, "w", encoding="utf-8") as f:
        f.write(text)
    run = subprocess.run([luac, "-p", "-l", composed], capture_output=True, text=True)
    if run.returncode != 0:
        message = run.stderr.strip().replace(composed, os.path.basename(path) + " (composed)")
        m = re.search(r":(\d+):", run.stderr)
        where = f", that is {embed.origin_of(origins, int(m.group(1)))}" if m else ""
        return [message + where]
    problems = []
    for m in re.finditer(r"^\s*\d+\s+\[(\d+)\]\s+(GETGLOBAL|SETGLOBAL)\s.*;\s*(\S+)\s*$", run.stdout, re.M):
        line, op, name = int(m.group(1)), m.group(2), m.group(3)
        where = embed.origin_of(origins, line)
        if op == "SETGLOBAL":
            problems.append(f"{where}: assigns the global {name} (Redis refuses it): local?")
        elif name not in GLOBALS:
            problems.append(f"{where}: reads the global {name}, which Redis scripts do not have: a typo, or a missing local?")
    return sorted(set(problems))


def main():
    pieces, scripts = arguments(sys.argv[1:])
    if not scripts:
        sys.exit(__doc__)
    lua_folder = os.path.dirname(os.path.abspath(scripts[0]))
    sys.path.insert(0, lua_folder)
    import embed

    luac = shutil.which("luac5.1")
    if not luac:
        print("Bail out! luac5.1 is not installed (Debian: lua5.1; .ci/install-deps --test installs it)")
        return 1
    n = failed = 0
    with tempfile.TemporaryDirectory() as folder:
        for path in scripts:
            problems = check(embed, luac, path, folder)
            n += 1
            name = os.path.basename(path)
            if problems:
                failed += 1
                print(f"not ok {n} - {name}")
                for p in problems:
                    print(f"# {p}")
            else:
                print(f"ok {n} - {name}")

    # meson must name every file: a script left out is not embedded, a piece left out does not
    # rebuild the scripts that use it when it changes.
    listed = {os.path.basename(p) for p in pieces + scripts}
    on_disk = {f for f in os.listdir(lua_folder) if f.endswith(".lua")}
    used = set()
    for path in scripts:
        used.update(name + ".lua" for name in embed.read(path)[0])
    problems = [f"{f} is not in server/lua/meson.build" for f in sorted(on_disk - listed)]
    problems += [f"{f} is a piece no script uses" for f in sorted({os.path.basename(p) for p in pieces} - used)]
    problems += [f"{f} is used but not listed as a piece" for f in sorted(used - {os.path.basename(p) for p in pieces})]
    n += 1
    if problems:
        failed += 1
        print(f"not ok {n} - server/lua/meson.build lists every .lua file")
        for p in problems:
            print(f"# {p}")
    else:
        print(f"ok {n} - server/lua/meson.build lists every .lua file")
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
