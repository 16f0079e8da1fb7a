"""Benchmarks: the pipeline measured beside its limits, in one run (`python -m bench.run`)."""
