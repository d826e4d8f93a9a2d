"""Benchmarks: figures as ratios measured in one run (see bench/RESULTS.md)."""
