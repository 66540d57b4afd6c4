#!/usr/bin/env python3
"""Every bk_redis_reply_unpack / bk_redis_reply_unpack_next call in server/ passes the
arguments its shape asks for (server/store/redis_reply.h), in number and in type.

The compiler cannot check variable arguments: one pointer too few or of the wrong type writes
where it should not. This reads the shapes from server/store/redis_shapes.h, finds every call, and
compares its pointers with the shape's, each against the declaration of the variable it points
to. Prints TAP, one case per call.

    python3 tests/unit/redis_reply_arguments.py [SOURCE_ROOT]
"""
import glob
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")

# What each kind of argument must point to.
DECLARED = {"str": r"const char\s*\*", "len": r"size_t", "int": r"long long", "array": r"const redisReply\s*\*",
            "at": r"size_t"}


def shapes():
    out = {}
    with open(os.path.join(ROOT, "server", "store", "redis_shapes.h")) as f:
        for line in f:
            m = re.match(r"#define (BK_SHAPE_\w+) (.*)$", line.strip())
            if m:
                out[m.group(1)] = m.group(2)
    return out


SHAPES = shapes()


def resolve(expr):
    text = ""
    for token in re.findall(r'"[^"]*"|BK_SHAPE_\w+', expr):
        text += token[1:-1] if token.startswith('"') else resolve(SHAPES[token])
    return text


def kinds_of(shape):
    """The arguments a shape (or a group: items up to its end or '}') asks for, in order."""
    kinds = []

    def item(i):
        c = shape[i]
        if c in "sn":
            if i + 1 < len(shape) and shape[i + 1] == "%":
                kinds.extend(["str", "len"])
                return i + 2
            kinds.append("str")
            return i + 1
        if c == "i":
            kinds.append("int")
            return i + 1
        if c == "*":
            return i + 1
        if c == "[":
            i += 1
            while shape[i] not in "]{":
                i = item(i)
            if shape[i] == "{":
                depth = 0
                while True:
                    depth += shape[i] == "{"
                    depth -= shape[i] == "}"
                    if depth == 0:
                        break
                    i += 1
                kinds.extend(["array", "at"])
                i += 1
            return i + 1
        raise ValueError(f"malformed shape {shape!r}")

    i = 0
    while i < len(shape) and shape[i] != "}":
        i = item(i)
    return kinds


def call_arguments(src, start):
    depth, k = 1, start
    while depth:
        depth += src[k] == "("
        depth -= src[k] == ")"
        k += 1
    args, depth, cur = [], 0, ""
    for ch in src[start:k - 1]:
        if ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        depth += ch in "(["
        depth -= ch in ")]"
        cur += ch
    args.append(cur.strip())
    return args


def declared_as(function_text, argument, kind):
    m = re.match(r"&(\w+)(\[.*\])?$", argument)
    if not m:
        return False
    name, indexed = m.group(1), m.group(2)
    # `&flat[n]` points into an array of what it is declared a pointer to
    pattern = DECLARED[kind] + (r"\s*\*" if indexed else "")
    return re.search(r"(^|[;{(]\s*|\n\s*)" + pattern + r"\s*(?:[^;]*?[\s,*])?" + name + r"\b", function_text) is not None


def main():
    n = failed = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "server", "**", "*.c"), recursive=True)):
        src = open(path).read()
        for m in re.finditer(r"\bbk_redis_reply_unpack(_next)?\(", src):
            line = src.count("\n", 0, m.start()) + 1
            where = f"{os.path.basename(path)}:{line}"
            args = call_arguments(src, m.end())
            nxt = m.group(1) is not None
            shape = resolve(args[2] if nxt else args[1])
            given = args[3:] if nxt else args[2:]
            kinds = kinds_of(shape)
            body = src[src.rfind("\n{\n", 0, m.start()):m.start()]
            problems = []
            if len(kinds) != len(given):
                problems.append(f"{len(given)} arguments for {len(kinds)} ({kinds})")
            else:
                problems += [f"{a} is not a {k}" for k, a in zip(kinds, given) if not declared_as(body, a, k)]
            n += 1
            if problems:
                failed += 1
                print(f"not ok {n} - {where}: {shape}: " + "; ".join(problems))
            else:
                print(f"ok {n} - {where}: {shape}")
    print(f"1..{n}")
    return 1 if failed or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
