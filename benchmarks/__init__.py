"""Reproducible performance comparisons (not run as tests); see benchmarks/README.md."""
