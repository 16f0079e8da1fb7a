"""`python -m services.pipestats`."""

from services.pipestats.main import run

run()
