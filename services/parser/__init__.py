"""Sluice: services parser."""
