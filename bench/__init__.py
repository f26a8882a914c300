"""Benchmarks. Each ``bench/bench_*.py`` module exposes ``run(quick: bool = False) -> dict`` returning its figures,
every figure beside the baseline measured in the same run. ``python -m bench`` runs them all and prints JSON."""
