"""Sluice: services common."""
