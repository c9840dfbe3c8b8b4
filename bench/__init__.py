"""EdgeFleet benchmarks."""
