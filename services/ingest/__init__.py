"""Sluice: services ingest."""
