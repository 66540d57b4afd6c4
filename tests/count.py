"""Counts test cases across meson test logs: every TAP line is one case.

meson's own summary counts test programs; we want the cases inside them, so a table of
forty rows counts as forty. A program that failed without reporting a failing case (it
crashed, timed out, or a sanitizer stopped it) counts as one more failure.

A case marked with a TAP TODO directive states a behaviour we want and cannot have yet (the
reason is in the directive, e.g. a limit of libwebsockets 4.1): it is neither passed nor
failed, and every one is listed, so none is forgotten. A TODO case that passes is a failure:
the TODO must go.
"""
import json
import re
import sys


def count(path):
    passed = failed = 0
    todo = []
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        print(f"# no test log at {path}: the build or the run did not happen")
        return 0, 1, []
    for line in lines:
        entry = json.loads(line)
        output = entry.get("stdout") or ""
        todo += [f"{entry['name']}: {m}" for m in re.findall(r"^not ok \d+ - (.*# TODO.*)$", output, re.M)]
        unexpected = re.findall(r"^ok \d+ - (.*# TODO.*)$", output, re.M)
        for m in unexpected:
            print(f"# {entry['name']}: passes but is marked TODO (remove the TODO): {m}")
        ok = len(re.findall(r"^ok \d+(?!.*# TODO)", output, re.M))
        not_ok = len(re.findall(r"^not ok \d+(?!.*# TODO)", output, re.M)) + len(unexpected)
        if ok + not_ok == 0:
            ok = 1 if entry["result"] == "OK" else 0
        if entry["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and not_ok == 0:
            not_ok = 1
            print(f"# {entry['name']}: {entry['result']} without a failing case (crash, timeout or sanitizer)")
        passed += ok
        failed += not_ok
    return passed, failed, todo


def main():
    args = sys.argv[1:]
    extra = 0
    if "--extra-failures" in args:
        i = args.index("--extra-failures")
        extra = int(args[i + 1])
        del args[i:i + 2]
    passed = failed = 0
    todo = []
    for path in args:
        p, f, t = count(path)
        passed += p
        failed += f
        todo += t
    for t in todo:
        print(f"# known, not passing yet (TODO): {t}")
    failed += extra
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


main()
