"""Sluice: services embedder core."""
