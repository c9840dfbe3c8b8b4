"""The ``edgefleet`` command line and the process supervisor behind ``edgefleet up``: the one
place that wires the fleet, the router, the hosted tier, the dashboard, the benchmarks and the
model factory together (the composition root)."""
