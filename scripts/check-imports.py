#!/usr/bin/env python3
"""Fails when modules that are siblings import each other in a cycle, at any depth.

Usage: scripts/check-imports.py CRATE_SRC_DIR...

Each directory's child modules are a graph (the crate's top-level modules, then
`auth/`'s, `store/`'s, ...): a child imports a sibling when any file of it names the
sibling through `crate::`, `super::` or `self::`, in a path or a `use` tree
(`use super::{a, b}`), comments and strings skipped, tests included. A parent's own
`mod.rs` and its children may use each other freely. docs/ARCHITECTURE.md describes
the order the top-level modules run in.
"""
import os
import re
import sys

# Comments, strings and char literals, blanked before anything is read.
SKIP = re.compile(r'//[^\n]*|/\*.*?\*/|b?r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])\'', re.S)
TOKENS = re.compile(
    r"\buse\s+(?P<use>[^;]+);|\bmod\s+(?P<mod>\w+)\s*\{"
    r"|(?P<path>\b(?:crate|super|self)(?:::\w+)+)|(?P<open>\{)|(?P<close>\})"
)


def expand(tree):
    """`a::{b, c::{d, e}}` -> `a::b`, `a::c::d`, `a::c::e`."""
    tree = re.sub(r"\s+", "", re.sub(r"\s+as\s+\w+", "", tree))
    if "{" not in tree:
        return [tree]
    head, _, inner = tree.partition("{")
    parts, depth, part = [], 0, ""
    for ch in inner[: inner.rindex("}")] + ",":
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
            continue
        depth += (ch == "{") - (ch == "}")
        part += ch
    return [head + path for p in parts if p for path in expand(p)]


def resolve(path, here):
    """The absolute module path `path` names from module `here`, or None."""
    parts = path.split("::")
    if parts[0] == "crate":
        at, parts = [], parts[1:]
    elif parts[0] in ("self", "super"):
        at = list(here)
        while parts and parts[0] in ("self", "super"):
            if parts.pop(0) == "super":
                if not at:
                    return None
                at.pop()
    else:
        return None  # an external crate, or a child named from its parent
    return at + [p for p in parts if p != "self"]


def imported(path, module):
    """Every absolute path the file at `path` (of module `module`) names."""
    with open(path, encoding="utf-8") as source:
        code = SKIP.sub(" ", source.read())
    found, depth, inline = [], 0, []  # inline: (name, depth) of open `mod x { ... }`
    for token in TOKENS.finditer(code):
        here = module + [name for name, _ in inline]
        if token["use"]:
            found += [resolve(p, here) for p in expand(token["use"])]
        elif token["path"]:
            found.append(resolve(token["path"], here))
        elif token["mod"]:
            depth += 1
            inline.append((token["mod"], depth))
        elif token["open"]:
            depth += 1
        elif token["close"]:
            if inline and inline[-1][1] == depth:
                inline.pop()
            depth -= 1
    return [p for p in found if p]


def module_path(root, path):
    parts = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    return parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts


def children(directory, top):
    skip = {"lib.rs", "main.rs", "bin"} if top else {"mod.rs"}
    return sorted(
        {e[:-3] if e.endswith(".rs") else e for e in os.listdir(directory)
         if e not in skip and (e.endswith(".rs") or os.path.isdir(os.path.join(directory, e)))}
    )


def graphs(root):
    """(directory, {child: siblings it imports}) for every directory under `root`."""
    for directory, _, _ in os.walk(root):
        if os.path.relpath(directory, root).split(os.sep)[0] == "bin":
            continue
        prefix = module_path(root, os.path.join(directory, "mod.rs"))
        names = children(directory, directory == root)
        graph = {}
        for name in names:
            files = [os.path.join(directory, name + ".rs")]
            files += [os.path.join(d, f) for d, _, fs in os.walk(os.path.join(directory, name)) for f in fs]
            used = set()
            for path in files:
                if path.endswith(".rs") and os.path.isfile(path):
                    for target in imported(path, module_path(root, path)):
                        if target[: len(prefix)] == prefix and len(target) > len(prefix):
                            used.add(target[len(prefix)])
            graph[name] = (used - {name}) & set(names)
        yield directory, graph


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
        for directory, graph in graphs(root):
            for cycle in cycles(graph):
                print(f"{directory}: import cycle: {' -> '.join(cycle)}")
                failed = True
    if failed:
        sys.exit(1)
    print("no import cycles in", " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
