"""Benchmarks that print their figures; see bench/README.md."""
