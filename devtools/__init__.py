"""Tooling for development, tests and benchmarks (never imported by the app or the engine,
checked by import-linter): see devtools/procs.py."""
