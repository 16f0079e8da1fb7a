"""Fault drills: bounce workers, broker and database mid-run; prove nothing lost or doubled."""
