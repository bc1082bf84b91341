#!/usr/bin/env python3
"""Fails when the top-level modules of a crate import each other in a cycle.

Usage: scripts/check-imports.py CRATE_SRC_DIR...

A module's imports are the `crate::<module>` paths in its code (comments skipped,
tests included). docs/ARCHITECTURE.md describes the order they run in.
"""
import os
import re
import sys


def module_files(root, name):
    path = os.path.join(root, name)
    if os.path.isdir(path):
        return [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.endswith(".rs")]
    return [path + ".rs"]


def imports(root):
    names = sorted(
        entry[:-3] if entry.endswith(".rs") else entry
        for entry in os.listdir(root)
        if entry not in ("lib.rs", "main.rs", "bin") and (entry.endswith(".rs") or os.path.isdir(os.path.join(root, entry)))
    )
    graph = {}
    for name in names:
        used = set()
        for path in module_files(root, name):
            with open(path, encoding="utf-8") as source:
                for line in source:
                    code = line.split("//", 1)[0]
                    used.update(re.findall(r"\bcrate::([a-z_][a-z0-9_]*)", code))
        used.discard(name)
        graph[name] = used & set(names)
    return graph


def cycles(graph):
    found, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                found.append(path[path.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node, [node])
    return found


def main():
    failed = False
    for root in sys.argv[1:]:
        for cycle in cycles(imports(root)):
            print(f"{root}: import cycle: {' -> '.join(cycle)}")
            failed = True
    if failed:
        sys.exit(1)
    print("no import cycles in", " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
