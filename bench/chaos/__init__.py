"""The chaos suite (``make chaos``; a short version runs in ``make test``): a real fleet under a
steady load from a separate process, one fault at a time, every request accounted for. See
:mod:`bench.chaos.scenarios` for the faults and :mod:`bench.chaos.report` for the figures."""
