"""Benchmarks: run with `make bench`; figures are quoted from their output."""
