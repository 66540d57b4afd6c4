"""The shape of server/, as docs/architecture.md draws it, checked on every test run (TAP).

1. No include cycle between server files: a header is part of its module (x.h and x_internal.h
   with x.c), and no module may reach itself through the includes of its files.
2. Layers: a folder includes only headers of its own folder and of the layers below it
   (LAYERS, lowest first). A newcomer reads the folders bottom up and never meets a name from
   above.
3. No file in server/ longer than MAX_LINES: a file a newcomer can read in one sitting.

Run: python3 tests/unit/structure.py SOURCE_ROOT
"""

import os
import re
import sys

# Lowest first; folders on one line are one layer (they may include each other, acyclically).
LAYERS = [
    ["base"],
    ["store", "lua"],
    ["transport"],
    ["protocol", "rules", "server.h"],
    ["sites", "stats", "triggers", "workers", "files", "flows", "mail"],
    ["chat"],
    ["http"],
    ["cli"],
    ["main.c"],
]
MAX_LINES = 700
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
SERVER = os.path.join(ROOT, "server")
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}

results = []


def case(ok, name, detail=""):
    results.append((ok, name, detail))


def sources():
    for folder, _, files in os.walk(SERVER):
        for f in sorted(files):
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(folder, f), SERVER)


def layer_of(path):
    """The layer name of a file under server/: its top folder, or the file itself at the top."""
    return path.split(os.sep)[0]


def module_of(path):
    """x.c, x.h and x_internal.h (what the files of a folder share) are one module."""
    name = os.path.splitext(path)[0]
    return name[:-len("_internal")] if name.endswith("_internal") else name


files = sorted(sources())
includes = {}  # file -> [included file under server/]
for path in files:
    text = open(os.path.join(SERVER, path), encoding="utf-8").read()
    found = []
    for name in INCLUDE_RE.findall(text):
        # Quoted includes resolve against server/ (the include directory) or the including
        # file's own folder; anything else (include/beckon/...) is outside server/.
        for candidate in (name, os.path.normpath(os.path.join(os.path.dirname(path), name))):
            if os.path.isfile(os.path.join(SERVER, candidate)):
                found.append(candidate)
                break
    includes[path] = found

# 1. cycles between modules
edges = {}
for path, targets in includes.items():
    for target in targets:
        if module_of(target) != module_of(path):
            edges.setdefault(module_of(path), set()).add(module_of(target))
cycles = []
state = {}


def visit(node, stack):
    state[node] = "open"
    stack.append(node)
    for nxt in sorted(edges.get(node, ())):
        if state.get(nxt) == "open":
            cycles.append(stack[stack.index(nxt):] + [nxt])
        elif nxt not in state:
            visit(nxt, stack)
    stack.pop()
    state[node] = "done"


for node in sorted(edges):
    if node not in state:
        visit(node, [])
case(not cycles, "no include cycle between server modules",
     "\n".join(" -> ".join(c) for c in cycles))

# 2. layers
unknown = sorted({layer_of(p) for p in files if layer_of(p) not in RANK})
case(not unknown, "every folder of server/ has a layer in tests/unit/structure.py", ", ".join(unknown))
upward = []
for path, targets in includes.items():
    here = RANK.get(layer_of(path))
    for target in targets:
        there = RANK.get(layer_of(target))
        if here is not None and there is not None and there > here:
            upward.append(f"{path} includes {target} ({layer_of(target)} is above {layer_of(path)})")
case(not upward, "each folder includes only its own layer and the layers below it", "\n".join(upward))

# 3. length
long_files = []
for path in files:
    with open(os.path.join(SERVER, path), encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    if lines > MAX_LINES:
        long_files.append(f"{path}: {lines} lines")
case(not long_files, f"no file in server/ over {MAX_LINES} lines", "\n".join(long_files))

for i, (ok, name, detail) in enumerate(results, 1):
    print(f"{'ok' if ok else 'not ok'} {i} - {name}")
    if not ok:
        for line in detail.splitlines():
            print(f"# {line}")
print(f"1..{len(results)}")
