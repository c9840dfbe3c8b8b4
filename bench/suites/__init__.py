"""Benchmark suites: each module has ``run(ctx: bench.runner.BenchContext) -> dict``."""
