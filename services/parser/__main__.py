"""`python -m services.parser`."""

from services.parser.main import run

run()
