"""Sluice: services embedder adapters."""
