"""`python -m services.embedserver`."""

from services.embedserver.main import run

run()
