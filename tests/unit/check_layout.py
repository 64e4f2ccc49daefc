#!/usr/bin/env python3
"""The project's layout rules, checked on the source tree and the built shim:

- dependencies point one way: decoders/ includes nothing of ours but decoders/; pcapout/ nothing
  of shim/ or tools/; shim/ nothing of tools/; tools/ nothing of shim/;
- no include cycle among the modules of a directory (a module: x.c with x.h and x_int.h): a
  module that calls back into one that includes it registers a callback instead;
- every function the shim exports (CC_EXPORT) is named in shim/exports.map, every name there is
  a hook, and the built library exports exactly those names (nm -D).

usage: check_layout.py [LIBCLEARCAP.SO]   Prints one line per violation; exits 1 if any.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALLOWED = {
    "decoders": {"decoders"},
    "pcapout": {"pcapout", "decoders"},
    "shim": {"shim", "pcapout", "decoders"},
    "tools": {"tools", "pcapout", "decoders"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z]+)/[^"]+"', re.M)


def layering():
    bad = []
    for d, allowed in ALLOWED.items():
        for name in sorted(os.listdir(os.path.join(ROOT, d))):
            if not name.endswith((".c", ".h")):
                continue
            text = open(os.path.join(ROOT, d, name)).read()
            for m in INCLUDE.finditer(text):
                if m.group(1) in ALLOWED and m.group(1) not in allowed:
                    bad.append("%s/%s includes %s: %s/ may not depend on %s/" % (d, name, m.group(0).split()[-1],
                                                                               d, m.group(1)))
    return bad


def module_cycles(d="shim"):
    """Cycles in the graph of d/'s modules, each once, as "a -> b -> a"."""
    mod = lambda name: re.sub(r"(_int)?\.[ch]$", "", name)
    graph = {}
    for name in sorted(os.listdir(os.path.join(ROOT, d))):
        if name.endswith((".c", ".h")):
            text = open(os.path.join(ROOT, d, name)).read()
            for inc in re.findall(r'^\s*#\s*include\s+"%s/([^"]+)"' % d, text, re.M):
                if mod(inc) != mod(name):
                    graph.setdefault(mod(name), set()).add(mod(inc))
    bad, seen = [], set()

    def walk(path):
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    bad.append("%s/: include cycle %s" % (d, " -> ".join(path + [nxt])))
            elif nxt not in path and nxt > path[0]:
                walk(path + [nxt])
    for start in sorted(graph):
        walk([start])
    return bad


def exported_hooks():
    names = set()
    for name in os.listdir(os.path.join(ROOT, "shim")):
        if name.endswith(".c"):
            text = open(os.path.join(ROOT, "shim", name)).read()
            # Hooks made by a macro: the macro's invocations name them.
            for m in re.finditer(r"^#define\s+(\w+)\((?:[^\n]*\\\n)*[^\n]*", text, re.M):
                if "CC_EXPORT" in m.group(0):
                    names |= set(re.findall(r"^%s\((\w+)" % m.group(1), text, re.M))
            text = re.sub(r"^#define(?:[^\n]*\\\n)*[^\n]*", "", text, flags=re.M)
            names |= set(re.findall(r"CC_EXPORT\s+[^(;]*?\b(\w+)\s*\(", text))
    return names


def map_names():
    text = open(os.path.join(ROOT, "shim", "exports.map")).read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    glob = text.split("global:")[1].split("local:")[0]
    return {n.strip() for n in glob.replace("\n", " ").split(";") if n.strip()}


def exports(lib):
    bad = []
    hooks, mapped = exported_hooks(), map_names()
    for n in sorted(hooks - mapped):
        bad.append("hook %s is not in shim/exports.map: the library would not export it" % n)
    for n in sorted(mapped - hooks):
        bad.append("shim/exports.map names %s, which no CC_EXPORT function defines" % n)
    if lib:
        out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True, check=True).stdout
        dyn = {l.split()[-1].split("@")[0] for l in out.splitlines() if l.split() and l.split()[-2] in ("T", "W", "i")}
        for n in sorted(mapped - dyn):
            bad.append("%s does not export %s" % (lib, n))
        for n in sorted(dyn - mapped):
            bad.append("%s exports %s, which is no hook" % (lib, n))
    return bad


def main():
    bad = layering() + sum((module_cycles(d) for d in ALLOWED), []) + exports(sys.argv[1] if len(sys.argv) > 1 else None)
    for b in bad:
        print("layout: " + b)
    print("layout: %d problems" % len(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
