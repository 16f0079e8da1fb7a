"""Sluice: services ingest core."""
