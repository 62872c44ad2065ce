#!/usr/bin/env python3
"""Prints the digest of the engine's inputs, as host/engine/SOURCES.sha256 records it.

The engine (guest/) is built from: every file under guest/ and wit/,
.cargo/config.toml, the packages of Cargo.lock that the engine can depend on
(its closure from `leadfilter-engine`), and the parts of the root Cargo.toml
that shape its build (`[profile.engine]`, `[profile.release]`, and the
`[workspace.dependencies]` entries that guest/Cargo.toml uses). Changes to
the host's own dependencies do not touch it.

The listing has one line per input, `<sha256 hex>  <name>`, sorted by name;
the digest is the SHA-256 of the listing. host/tests/all/component.rs
computes the same digest in Rust: keep the two in step.
"""
import hashlib
import os
import re
import sys


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lock_closure(lock_text: str, root: str) -> str:
    blocks = lock_text.split("[[package]]\n")[1:]
    packages = []
    for block in blocks:
        block = block.split("\n\n")[0].strip("\n") + "\n"
        name = re.search(r'^name = "([^"]+)"', block, re.M).group(1)
        version = re.search(r'^version = "([^"]+)"', block, re.M).group(1)
        deps = []
        m = re.search(r"^dependencies = \[\n(.*?)^\]", block, re.M | re.S)
        if m:
            deps = re.findall(r'^ "([^"]+)",', m.group(1), re.M)
        packages.append((name, version, deps, block))
    seen = set()
    todo = [(root, None)]
    while todo:
        name, version = todo.pop()
        for p in packages:
            if p[0] == name and (version is None or p[1] == version) and (p[0], p[1]) not in seen:
                seen.add((p[0], p[1]))
                for dep in p[2]:
                    parts = dep.split(" ")
                    todo.append((parts[0], parts[1] if len(parts) > 1 else None))
    chosen = sorted((p for p in packages if (p[0], p[1]) in seen), key=lambda p: (p[0], p[1]))
    return "".join(p[3] for p in chosen)


def manifest_part(root_toml: str, guest_toml: str) -> str:
    guest_deps = set(re.findall(r"^([A-Za-z0-9_-]+)\.workspace\s*=\s*true", guest_toml, re.M))
    out = []
    header = ""
    for line in root_toml.split("\n"):
        stripped = line.strip()
        if stripped.startswith("["):
            header = stripped
        if header in ("[profile.engine]", "[profile.release]"):
            out.append(line)
        elif header == "[workspace.dependencies]" and not stripped.startswith("["):
            key = stripped.split("=", 1)[0].strip()
            if key in guest_deps:
                out.append(line)
    return "\n".join(out) + "\n"


def digest(repo: str) -> str:
    def read(path: str) -> bytes:
        with open(os.path.join(repo, path), "rb") as f:
            return f.read()

    entries = {}
    for top in ("guest", "wit"):
        for dirpath, _, files in os.walk(os.path.join(repo, top)):
            for file in files:
                path = os.path.relpath(os.path.join(dirpath, file), repo)
                entries[path] = sha(read(path))
    entries[".cargo/config.toml"] = sha(read(".cargo/config.toml"))
    lock = read("Cargo.lock").decode()
    entries["Cargo.lock#leadfilter-engine"] = sha(lock_closure(lock, "leadfilter-engine").encode())
    manifest = manifest_part(read("Cargo.toml").decode(), read("guest/Cargo.toml").decode())
    entries["Cargo.toml#engine"] = sha(manifest.encode())
    listing = "".join(f"{h}  {name}\n" for name, h in sorted(entries.items()))
    return "sha256:" + sha(listing.encode())


if __name__ == "__main__":
    print(digest(sys.argv[1] if len(sys.argv) > 1 else "."))
