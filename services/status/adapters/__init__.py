"""Sluice: services status adapters."""
