"""Sluice: services parser adapters."""
