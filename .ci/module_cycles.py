#!/usr/bin/env python3
"""Module-to-module `use` edges inside each crate of the workspace; fails on any import cycle.

    python3 .ci/module_cycles.py [--root DIR] [--edges] [--self-test]

Crates: every Cargo.toml with a [package] table under the root (target/, .git/, hidden dirs skipped)
that has a src/ folder. Only src/**/*.rs is read, minus src/bin/, minus src/main.rs when src/lib.rs
exists (a binary reaches its library by crate name, never `crate::`), minus nested crates.

Nodes: one per module file: src/lib.rs (or main.rs) is the root, src/a.rs or src/a/mod.rs is `a`,
src/a/b.rs is `a::b`. Test code is not layering: a file declared `#[cfg(test)] mod x;` (or
cfg(all(test, ..))) is dropped with its subtree; any other cfg(test) item (inline `mod tests {..}`,
fn, use) is cut out before scanning.

Edges: comments (line, block, doc) and string/char literals (raw too) are blanked first, so
`crate::` in docs or strings is not read; `pub(in path)` visibilities are dropped. An edge is any
path, in a `use` tree (nested groups expanded) or inline in code (`crate::client::current()`), that
starts with `crate::`, `self::`, `super::` (repeatable), a child module declared in the file
(`mod builder;` + `use builder::X;`: 2018-edition relative paths) or, in code, a name the file
imports from this crate (`use crate::store::traces;` + `traces::get()`). `$crate::` is macro
hygiene; `mod x;` declares a module, it does not depend on it.

Resolution: a path goes to the longest prefix that names a module file. If the next segment is a
name that module only imports (any `use` binding or `as` alias: that is how rustc resolves
`super::Name`), the edge follows the import to the module defining the item (at most MAX_HOPS
times); a glob import (`pub use x::*`) is followed when the name is not defined in the module
itself (`fn/struct/enum/union/trait/type/const/static/mod/macro_rules! Name`). Edges are labelled
with the names written at the use site (`*` for a glob, the module name for a module import).

Re-exports (`pub use`, `pub(crate|super|in ..) use`) are not edges: a facade parent re-exporting
its child does not depend on it, and its users are routed through it to the child. But if the
parent's own code then uses the name as a path (`pub use builder::ConfigBuilder;` +
`ConfigBuilder::default()`), that path is an edge: the parent depends on the child. Every other
`use` and inline path is an edge; self-edges are dropped. Cycles are Tarjan strongly connected
components of more than one file; the exit status is 1 if any crate has one.

Limits (text, not a Rust parser): `#[path]`, `include!` and macro-generated paths are not seen; a
name used bare (`-> Thing`, `emit(x)`) only counts through its `use`, so a re-export used bare by
its own module is missed; a module import (`use crate::a;`) is an edge to a's file even if only
a's children are used through it; shadowing by locals or generics is not modelled; `use` inside a
fn body is taken as module-level when resolving; a main.rs-only module of a lib+bin crate is read
as a lib module.
"""
import argparse
import os
import re
import sys
import tempfile
import tomllib
from pathlib import Path

MAX_HOPS = 8
ID = r"(?:r#)?[A-Za-z_]\w*"
STR_START = re.compile(r'[bc]?r(#*)"|[bc]?"')
ARGS = r"(?:[^()]|\([^()]*\))*"  # attribute arguments with one level of nested parens
CFG = rf"\[\s*cfg\s*\(\s*(?:test|all\s*\({ARGS}?\btest\b{ARGS}\))\s*\)\s*\]"  # cfg(test), cfg(all(.., test))
CFG_TEST, INNER_CFG_TEST = re.compile(r"#\s*" + CFG), re.compile(r"#!\s*" + CFG)
USE = re.compile(r"(?<![\w$])(?:(pub)\b(?:\s*\([^)]*\))?\s*)?\buse\s+(?=[\w:{])")
DEFS = re.compile(rf"\b(?:fn|struct|enum|union|trait|type|mod|macro_rules!|static(?:\s+mut)?)\s+({ID})"
                  rf"|\bconst\s+(?!fn\b)({ID})")
TOKENS = re.compile(r"::|[{},*]|(?:r#)?\w+")


def blank(s):
    return re.sub(r"[^\n]", " ", s)


def strip_code(src):
    """Blank comments and string/char literals; lifetimes, braces and newlines stay."""
    out, i, n = [], 0, len(src)
    while i < n:
        c, prev = src[i], src[i - 1] if i else " "
        if src.startswith("//", i):
            j = src.find("\n", i) % (n + 1)  # -1 (no newline) -> n
        elif src.startswith("/*", i):  # block comments nest
            depth, j = 1, i + 2
            while j < n and depth:
                step = src[j:j + 2]
                depth += (step == "/*") - (step == "*/")
                j += 2 if step in ("/*", "*/") else 1
        elif c in 'bcr"' and not (prev.isalnum() or prev == "_") and (m := STR_START.match(src, i)):
            if m.group(1) is not None:  # raw string: ends at `"` plus the same number of `#`
                j = src.find('"' + m.group(1), m.end()) % (n + 1) + 1 + len(m.group(1))
            else:
                j = m.end()
                while j < n and src[j] != '"':
                    j += 2 if src[j] == "\\" else 1
                j += 1
        elif c == "'" and i + 2 < n and (src[i + 1] == "\\" or src[i + 2] == "'"):  # not a lifetime
            j = i + 1
            while j < n and src[j] != "'":
                j += 2 if src[j] == "\\" else 1
            j += 1
        else:
            out.append(c)
            i += 1
            continue
        out.append(blank(src[i:j]))
        i = j
    return re.sub(r"\bpub\s*\(\s*in\s[^)]*\)", "pub", "".join(out))


def brace_end(text, i):
    """Index just past the `}` matching the `{` at text[i]."""
    depth = 0
    for j in range(i, len(text)):
        depth += (text[j] == "{") - (text[j] == "}")
        if depth == 0:
            return j + 1
    return len(text)


def item_end(text, i):
    """Index just past the item starting at i: its `;` or its `{ .. }` at nesting depth 0."""
    depth = 0
    for j in range(i, len(text)):
        depth += (text[j] in "([") - (text[j] in ")]")
        if depth == 0 and text[j] == ";":
            return j + 1
        if depth == 0 and text[j] == "{":
            return brace_end(text, j)
    return len(text)


def parse_use_tree(s):
    """`crate::a::{b::{C, D as E}, self}` -> [([crate,a,b,C], C), ([crate,a,b,D], E), ([crate,a], a)]."""
    toks, out = [t.removeprefix("r#") for t in TOKENS.findall(s)], []

    def tree(i, path):
        path = list(path) + (["::"] if not path and toks[i:i + 1] == ["::"] else [])  # `::x`: extern
        while i < len(toks):
            t = toks[i]
            if t == "{":
                i += 1
                while i < len(toks) and toks[i] != "}":
                    i = tree(i, path)
                    i += toks[i:i + 1] == [","]
                return i + 1
            if t == "*":
                out.append((path, "*"))
                return i + 1
            if t in (",", "}"):
                return i
            i += 1
            if t != "::":
                path.append(t)
                if toks[i:i + 1] in ([], [","], ["}"], ["as"]):  # last segment
                    if path[-1] == "self" and len(path) > 1:  # `a::{self}` is `a`
                        path.pop()
                    alias = toks[i + 1] if toks[i:i + 1] == ["as"] and i + 1 < len(toks) else None
                    out.append((path, alias or path[-1]))
                    return i + 2 if alias else i
        return i

    tree(0, [])
    return out


class ModFile:
    def __init__(self, mod, rel, text):
        self.mod, self.rel, self.test_mods = mod, rel, set()
        while m := CFG_TEST.search(text):  # cut test items, remembering `mod x;` ones
            end = item_end(text, m.end())
            if d := re.search(rf"\bmod\s+({ID})\s*;$", text[m.end():end]):
                self.test_mods.add(d.group(1))
            text = text[:m.start()] + blank(text[m.start():end]) + text[end:]
        self.inline = [(m.end() - 1, brace_end(text, m.end() - 1), m.group(1))
                       for m in re.finditer(rf"\bmod\s+({ID})\s*\{{", text)]
        self.children = set(re.findall(rf"\bmod\s+({ID})\s*;", text))
        self.defs = {a or b for a, b in DEFS.findall(text)}
        self.uses = []  # (inline module path, segments, binding, is a re-export)
        for m in USE.finditer(text):
            end = item_end(text, m.end())
            self.uses += [(self.inline_at(m.start()), p, b, bool(m.group(1)))
                          for p, b in parse_use_tree(text[m.end():end])]
            text = text[:m.start()] + blank(text[m.start():end]) + text[end:]
        self.code = text  # what is left once `use` statements are blanked: scanned for inline paths

    def inline_at(self, pos):
        return tuple(name for start, end, name in self.inline if start <= pos < end)


class Crate:
    def __init__(self, name, src):
        self.name, files = name, {}
        for f in rs_files(src):
            parts = f.relative_to(src).with_suffix("").parts
            if parts[0] == "bin" or (parts == ("main",) and (src / "lib.rs").exists()):
                continue
            mod = () if parts in (("lib",), ("main",)) else parts[:-1] if parts[-1] == "mod" else parts
            try:
                text = strip_code(f.read_text(encoding="utf-8", errors="replace"))
            except FileNotFoundError:  # moved while we walk: the next run sees it
                continue
            if not INNER_CFG_TEST.search(text):
                files[mod] = ModFile(mod, f.relative_to(src).as_posix(), text)
        tests = {mf.mod + (t,) for mf in files.values() for t in mf.test_mods}
        self.files = {m: f for m, f in files.items() if not any(m[:len(t)] == t for t in tests)}
        for mf in self.files.values():
            mf.children -= mf.test_mods
            mf.imports, mf.globs = {}, []  # (inline.., binding) -> absolute path | None; (inline, path)
            for inl, path, binding, _ in mf.uses:
                target = self.absolute(mf, inl, path)
                if binding == "*" and target is not None:
                    mf.globs.append((inl, target))
                elif binding not in ("*", "_"):
                    mf.imports[inl + (binding,)] = target
        self.edges = {}  # (from file, to file) -> names
        for mf in self.files.values():
            for inl, path, binding, reexport in mf.uses:
                if not reexport:
                    self.add_edge(mf, inl, path, "*" if binding == "*" else None)
            imported = sorted(k[0] for k, t in mf.imports.items() if len(k) == 1 and t is not None)
            heads = "|".join(map(re.escape, ["crate", "self", "super"] + sorted(mf.children) + imported))
            for m in re.finditer(rf"(?<![\w$.])(?<!::)(?:{heads})(?:::{ID})+", mf.code):
                path = [s.removeprefix("r#") for s in m.group(0).split("::")]
                self.add_edge(mf, mf.inline_at(m.start()), path, None)

    def absolute(self, mf, inline, segs):
        """Segments as written in `mf` -> path from the crate root, or None if not crate-local."""
        head, ctx = segs[0], mf.mod + inline
        if head == "crate":
            return tuple(segs[1:])
        if head in ("self", "super"):
            k = int(head == "self")
            while k < len(segs) and segs[k] == "super":
                ctx, k = ctx[:-1], k + 1
            return ctx + tuple(segs[k:])
        if not inline and head in mf.children:
            return mf.mod + tuple(segs)
        if not inline and mf.imports.get((head,)) is not None:  # `use crate::a; a::b::f()`
            return mf.imports[(head,)] + tuple(segs[1:])
        return None

    def module_of(self, path):
        """(longest prefix naming a module file, the rest); (None, path) if there is no root."""
        k = next((k for k in range(len(path), -1, -1) if path[:k] in self.files), None)
        return (None, path) if k is None else (path[:k], path[k:])

    def resolve(self, path, hops=0):
        """The module file defining what `path` names, following imports and globs."""
        mod, rest = self.module_of(path)
        if not rest or mod is None or hops >= MAX_HOPS:
            return mod
        mf = self.files[mod]
        for j in range(len(rest), 0, -1):
            if rest[:j] in mf.imports:
                target = mf.imports[rest[:j]]
                return mod if target is None else self.resolve(target + rest[j:], hops + 1)
        cands = [(g + rest[len(inl):], rest[len(inl)]) for inl, g in mf.globs
                 if rest[:len(inl)] == inl and len(rest) > len(inl) and rest[len(inl)] not in mf.defs]
        for cand, name in cands:  # several globs: the one whose target defines the name
            to = self.resolve(cand, hops + 1)
            if to is not None and (len(cands) == 1 or name in self.files[to].defs):
                return to
        return mod

    def add_edge(self, mf, inline, segs, name):
        path = self.absolute(mf, inline, segs)
        _, rest = self.module_of(path or ())
        to = self.resolve(path) if path is not None else None
        if to is not None and to != mf.mod:
            name = name or (rest[0] if rest else path[-1] if path else "crate")
            self.edges.setdefault((mf.rel, self.files[to].rel), set()).add(name)

    def cycles(self):
        """Tarjan's strongly connected components of more than one file, each sorted."""
        graph = {mf.rel: sorted(b for a, b in self.edges if a == mf.rel) for mf in self.files.values()}
        index, low, stack, sccs = {}, {}, [], []

        def visit(v):
            index[v] = low[v] = len(index)
            stack.append(v)
            for w in graph[v]:
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                scc = stack[stack.index(v):]
                del stack[stack.index(v):]
                if len(scc) > 1:
                    sccs.append(sorted(scc))

        for v in sorted(graph):
            if v not in index:
                visit(v)
        return sorted(sccs, key=lambda c: (-len(c), c))


def rs_files(src):
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and not Path(dirpath, d, "Cargo.toml").exists())  # a nested crate
        yield from (Path(dirpath, f) for f in sorted(filenames) if f.endswith(".rs"))


def find_crates(root):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "target" and not d.startswith("."))
        if "Cargo.toml" in filenames and Path(dirpath, "src").is_dir():
            try:
                package = tomllib.loads(Path(dirpath, "Cargo.toml").read_text()).get("package")
            except (tomllib.TOMLDecodeError, FileNotFoundError):
                package = None
            if isinstance(package, dict):
                yield Crate(package.get("name", Path(dirpath).name), Path(dirpath, "src"))


def check(root, show_edges=False, out=print):
    status = 0
    for crate in sorted(find_crates(Path(root)), key=lambda c: c.name):
        cycles = crate.cycles()
        out(f"{crate.name}: {len(crate.files)} modules, {len(crate.edges)} edges, {len(cycles)} cycles")
        edges = sorted((a, b, ", ".join(sorted(names))) for (a, b), names in crate.edges.items())
        if show_edges and edges:
            out("  edges:")
            out("\n".join(f"    {a} -> {b}: {names}" for a, b, names in edges))
        for n, scc in enumerate(cycles, 1):
            status = 1
            out(f"  cycle {n} ({len(scc)} files): {', '.join(scc)}")
            out("\n".join(f"    {a} -> {b}: {names}" for a, b, names in edges if a in scc and b in scc))
    return status


# --self-test: crate -> (files, expected cycles, edges that must exist, edges that must not)
FIXTURES = {
    "use-cycle": ({"lib.rs": "mod a;\nmod b;", "a.rs": "use crate::b::B;\npub struct A;",
                   "b.rs": "pub struct B;\npub fn f() -> crate::a::A { crate::a::A }"},
                  [["a.rs", "b.rs"]], "a.rs>b.rs b.rs>a.rs", ""),
    "super-cycle": ({"lib.rs": "pub mod p;", "p/mod.rs": "mod c;\npub struct P;\npub fn f() { c::g() }",
                     "p/c.rs": "use super::super::p::P;\npub fn g() -> Option<P> { None }"},
                    [["p/c.rs", "p/mod.rs"]], "p/mod.rs>p/c.rs p/c.rs>p/mod.rs", ""),
    "reexport-cycle": ({"lib.rs": "mod m;\nmod x;",  # x -> m::Alias is really x -> m/inner
                        "m/mod.rs": "mod inner;\npub(crate) use inner::{Thing as Alias, Other};",
                        "m/inner.rs": "use crate::x::X;\npub struct Thing(X);\npub struct Other;",
                        "x.rs": "use crate::m::{self, Alias};\npub struct X;\nfn f(_: m::Other) {}"},
                       [["m/inner.rs", "x.rs"]], "x.rs>m/inner.rs x.rs>m/mod.rs", "m/mod.rs>m/inner.rs"),
    "facade": ({"lib.rs": "pub mod p;\npub mod q;",  # parents only re-export children
                "p/mod.rs": "mod child;\npub use child::Helper;\npub struct Item;",
                "p/child.rs": "use super::Item;\npub struct Helper(Item);",
                "q/mod.rs": "mod kid;\npub use kid::*;\npub struct Base;",
                "q/kid.rs": "pub struct Kid(super::Base);\npub fn k() -> super::Kid { todo!() }"},
               [], "p/child.rs>p/mod.rs q/kid.rs>q/mod.rs", "p/mod.rs>p/child.rs q/mod.rs>q/kid.rs"),
    "literals": ({"lib.rs": "mod a;\nmod b;\n#[macro_export]\nmacro_rules! m { () => { $crate::a::f() } }",
                  "a.rs": "//! crate::b::X in an inner doc\n/// see [`crate::b::X`]\n// crate::b::X\n"
                          "/* crate::b::X /* nested */ crate::b::X */\npub fn f() -> &'static str {\n"
                          "    let _q = ('\\'','\"', \"crate::b::X\", '{'); let _l = \"crate::b::X \\\" crate::b::X\";\n"
                          "    r#\"crate::b::X \"quoted\" crate::b::X\"#\n}",
                  "b.rs": "use crate::a::f;\npub struct X;"},
                 [], "b.rs>a.rs", "a.rs>b.rs lib.rs>a.rs"),
    "cfg-test": ({"lib.rs": "mod a;\nmod b;",
                  "a.rs": "use crate::b::B;\npub struct A;\n#[cfg(test)]\nmod tests {\n    use super::*;\n"
                          "    use crate::other;\n    fn t() { crate::b::helper(); }\n}\n#[cfg(test)]\nmod more;",
                  "a/more.rs": "use crate::b::B;",
                  "b.rs": "pub struct B;\npub fn helper() {}\n#[cfg(all(test, unix))]\nmod tests {\n"
                          "    use crate::a::A;\n}"},
                 [], "a.rs>b.rs", "b.rs>a.rs a.rs>lib.rs a/more.rs>b.rs"),
    "path-forms": ({"lib.rs": "pub mod a;\npub mod y;\npub mod z;",
                    "a/mod.rs": "pub mod b;\npub use b::D;\npub fn e() { D::default(); }",
                    "a/b.rs": "pub struct C;\npub struct D;", "y.rs": "use crate::a;\nfn g() { a::b::D; }",
                    "z.rs": "mod s;\nuse crate::a::{b::{C, D}, e};\nuse self::s::S;\nfn f() { crate::a::b::C; }",
                    "z/s.rs": "pub struct S;"},
                   [], "z.rs>a/b.rs z.rs>a/mod.rs z.rs>z/s.rs y.rs>a/b.rs a/mod.rs>a/b.rs", ""),
}


def self_test():
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (sources, want, must, must_not) in FIXTURES.items():
            Path(tmp, name).mkdir()
            Path(tmp, name, "Cargo.toml").write_text(f'[package]\nname = "{name}"\n')
            for rel, text in sources.items():
                Path(tmp, name, "src", rel).parent.mkdir(parents=True, exist_ok=True)
                Path(tmp, name, "src", rel).write_text(text + "\n")
            crate = Crate(name, Path(tmp, name, "src"))
            if crate.cycles() != want:
                failures.append(f"{name}: cycles {crate.cycles()}, want {want}")
            edges = {f"{a}>{b}" for a, b in crate.edges}
            failures += [f"{name}: missing edge {e}" for e in set(must.split()) - edges]
            failures += [f"{name}: false edge {e}" for e in set(must_not.split()) & edges]
        if check(tmp, out=lambda *_: None) != 1:  # the whole check must be able to fail...
            failures.append("check() passed a workspace that has cycles")
        for name, (_, want, _, _) in FIXTURES.items():
            if want:
                os.remove(Path(tmp, name, "Cargo.toml"))
        if check(tmp, out=lambda *_: None) != 0:  # ...and to pass
            failures.append("check() failed a workspace without cycles")
    print("\n".join(f"FAIL {f}" for f in failures) or "", end="\n" if failures else "")
    print(f"self-test: {len(FIXTURES)} fixture crates, {len(failures)} failures")
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=".", help="workspace root (default: the current directory)")
    ap.add_argument("--edges", action="store_true", help="print every edge of every crate")
    ap.add_argument("--self-test", action="store_true", help="check the checker on tiny fake crates")
    args = ap.parse_args()
    sys.setrecursionlimit(10000)
    return self_test() if args.self_test else check(args.root, args.edges)


if __name__ == "__main__":
    sys.exit(main())
