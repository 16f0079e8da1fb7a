"""Sluice: infra local."""
