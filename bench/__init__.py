"""Benchmarks: scripts that print tables and write them to bench/results/ (see BENCHMARKS.md)."""
