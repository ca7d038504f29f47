"""Evaluation: benchmarks as data (``benchmarks``), their metrics written once (``metrics``), and the
importers of other harnesses' result files (``vlmplanner.imports``). Nothing is imported here."""
