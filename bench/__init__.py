"""Benchmarks: `make bench` (bench/run_all.py) runs them all; each also runs on its own."""
