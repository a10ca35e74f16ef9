#!/usr/bin/env python3
"""Fingerprint of the labextension's inputs, so a source change without a rebuild is caught.

    python labextension/stamp.py --write   # after `make -C labextension` rebuilt the committed output
    python labextension/stamp.py --check   # exit 1 (and say how to rebuild) when sources changed since

The hash covers package.json, yarn.lock, tsconfig.json, .yarnrc.yml, build-standalone.mjs and every
file under src/, style/ and schema/ (relative path + bytes, CRLF normalised), not the built output:
bundle names depend on the checkout path, so outputs are not byte-comparable across machines.
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
STAMP = HERE.parent / "jupyter_futures" / "labextension.inputs.sha256"
FILES = ["package.json", "yarn.lock", "tsconfig.json", ".yarnrc.yml", "build-standalone.mjs"]
DIRS = ["src", "style", "schema"]
REBUILD = "run `make -C labextension` (jlpm install && jlpm build:prod && python labextension/stamp.py --write)"


def inputs() -> list[Path]:
    """The files the build reads, sorted."""
    paths = [HERE / f for f in FILES if (HERE / f).exists()]
    for d in DIRS:
        paths += [p for p in (HERE / d).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return sorted(paths, key=lambda p: p.relative_to(HERE).as_posix())


def fingerprint() -> str:
    """sha256 over each input's relative path and content."""
    h = hashlib.sha256()
    for p in inputs():
        h.update(p.relative_to(HERE).as_posix().encode() + b"\0")
        h.update(p.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="store the current fingerprint")
    group.add_argument("--check", action="store_true", help="exit 1 if the sources changed since the last build")
    args = parser.parse_args(argv)
    current = fingerprint()
    if args.write:
        STAMP.write_text(current + "\n")
        print(f"wrote {STAMP.relative_to(HERE.parent)}: {current}")
        return 0
    stored = STAMP.read_text().strip() if STAMP.exists() else ""
    if stored != current:
        print(f"The labextension sources changed since the committed build in jupyter_futures/labextension/: "
              f"{REBUILD}, then commit the output with the sources.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
