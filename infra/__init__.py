"""Sluice: infra."""
