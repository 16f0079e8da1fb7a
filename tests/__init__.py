"""Sluice: tests."""
