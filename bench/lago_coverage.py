"""Which of Lago's v1 operations Billow serves: every path and method of Lago's OpenAPI document (a
checkout of getlago/lago-openapi, or its git directory) against the routes of Billow's app. Prints one
line per operation (``served`` / ``missing``) and the counts per path prefix.

    .venv/bin/python bench/lago_coverage.py /work/.mirror/getlago+lago-openapi/repo [prefix ...]
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml

from billow.app import create_app

METHODS = ("get", "post", "put", "patch", "delete")


def _reader(root: Path):
    if (root / "src" / "openapi.yaml").exists():
        return lambda name: (root / name).read_text()
    return lambda name: (
        subprocess.run(
            ["git", "-C", str(root), "show", f"HEAD:{name}"], check=True, capture_output=True, text=True
        ).stdout
    )


def lago_operations(root: Path) -> list[tuple[str, str]]:
    read = _reader(root)
    document = yaml.safe_load(read("src/openapi.yaml"))
    operations = []
    for path, item in document["paths"].items():
        if "$ref" in item:
            item = yaml.safe_load(read("src/" + item["$ref"].removeprefix("./")))
        operations.extend((method.upper(), path) for method in METHODS if method in item)
    return operations


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def main() -> None:
    root = Path(sys.argv[1])
    prefixes = sys.argv[2:]
    app = create_app()
    served = {
        (method.upper(), _shape(path.removeprefix("/api/v1")))
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in METHODS and path.startswith("/api/v1")
    }
    counts: Counter[tuple[str, bool]] = Counter()
    for method, path in lago_operations(root):
        if prefixes and not any(path.startswith(p) for p in prefixes):
            continue
        ok = (method, _shape(path)) in served
        counts[(path.split("/")[1], ok)] += 1
        print(f"{'served ' if ok else 'missing'} {method:6} {path}")
    total = sum(counts.values())
    print(f"\n{sum(v for (_, ok), v in counts.items() if ok)} of {total} operations served")
    for group in sorted({g for g, _ in counts}):
        print(f"  {group}: {counts[(group, True)]} of {counts[(group, True)] + counts[(group, False)]}")


if __name__ == "__main__":
    main()
