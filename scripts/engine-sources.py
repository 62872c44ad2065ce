#!/usr/bin/env python3
"""Prints the digest of the engine's inputs, as host/engine/SOURCES.sha256 records it.

The engine (guest/) is built from: every file under guest/ and wit/,
.cargo/config.toml, the packages and features `cargo tree` resolves for it
on wasm32-unknown-unknown (from Cargo.lock), and the parts of the root
Cargo.toml that shape its build (`[profile.engine]`, `[profile.release]`,
and the `[workspace.dependencies]` entries that guest/Cargo.toml uses).
Changes to the host's own dependencies do not touch it.

The listing has one line per input, `<sha256 hex>  <name>`, sorted by name;
the digest is the SHA-256 of the listing. host/tests/all/component.rs
computes the same digest in Rust: keep the two in step.
"""
import hashlib
import os
import re
import subprocess
import sys


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def engine_packages(repo: str) -> str:
    """The packages and features the engine is built with, one a line.

    `cargo tree` for the engine's own target resolves exactly what its build
    uses, so the host's dependencies (which share Cargo.lock) do not count.
    """
    out = subprocess.run(
        [os.environ.get("CARGO", "cargo"), "tree", "--locked", "--offline", "--quiet",
         "--manifest-path", os.path.join(repo, "Cargo.toml"),
         "-p", "leadfilter-engine", "--target", "wasm32-unknown-unknown",
         "-e", "normal,build", "--prefix", "none", "-f", "{p} {f}"],
        check=True, capture_output=True, text=True).stdout
    return canonical_tree(out)


def canonical_tree(out: str) -> str:
    lines = set()
    for line in out.split("\n"):
        line = re.sub(r" \(\*\)$", "", line.strip())
        line = re.sub(r" \((/|[A-Za-z]:)[^)]*\)", "", line)
        if line:
            lines.add(line)
    return "".join(line + "\n" for line in sorted(lines))


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
    entries["cargo-tree#leadfilter-engine"] = sha(engine_packages(repo).encode())
    manifest = manifest_part(read("Cargo.toml").decode(), read("guest/Cargo.toml").decode())
    entries["Cargo.toml#engine"] = sha(manifest.encode())
    listing = "".join(f"{h}  {name}\n" for name, h in sorted(entries.items()))
    return "sha256:" + sha(listing.encode())


if __name__ == "__main__":
    print(digest(sys.argv[1] if len(sys.argv) > 1 else "."))
