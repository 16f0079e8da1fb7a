"""Ingest's pure logic: upload validation and identity."""
