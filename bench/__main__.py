"""Run every benchmark: ``python -m bench [--quick] [NAME ...]``; figures go to stdout as JSON."""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time

import bench


def modules(names: list[str]) -> list[str]:
    found = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    return [m for m in found if not names or m.removeprefix("bench_") in names or m in names]


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    names = [a for a in argv if not a.startswith("--")]
    results = {}
    for name in modules(names):
        started = time.perf_counter()
        mod = importlib.import_module(f"bench.{name}")
        results[name] = mod.run(quick=quick)
        results[name]["_seconds"] = round(time.perf_counter() - started, 2)
        print(json.dumps({name: results[name]}, ensure_ascii=False, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
