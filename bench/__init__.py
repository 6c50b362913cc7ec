"""Benchmarks that print figures (run them directly; they are not timed tests)."""
