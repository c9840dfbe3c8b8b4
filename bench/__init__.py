"""EdgeFleet benchmarks: ``edgefleet bench [SUITE ...] --out DIR [--tiny]``.

:func:`bench.runner.run_bench` runs the suites (``tax``, ``throughput``, ``routing``, ``scale``,
``int8``; one module each in :mod:`bench.suites`) and writes ``DIR/results.json``,
``DIR/report.md`` and PNG plots. Every headline figure is a ratio of two measurements taken in
the same run; the machine (cores, CPU model) and library versions are recorded with them.

Servers under test run in spawned processes (:mod:`bench.procs`), the load comes from a separate
load-generator process (:mod:`bench.loadgen`), and the gRPC floor is a bare grpc.aio echo
service (:mod:`bench.echo`).
"""
