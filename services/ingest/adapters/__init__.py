"""Sluice: services ingest adapters."""
