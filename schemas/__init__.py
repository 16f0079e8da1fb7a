"""Sluice: schemas."""
