"""`python -m services.status`."""

from services.status.main import run

run()
