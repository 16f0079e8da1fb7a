"""`python -m services.embedder`."""

from services.embedder.main import run

run()
