"""Sluice: services embedder."""
