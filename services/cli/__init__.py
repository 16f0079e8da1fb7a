"""The `sluice` command line: upload, follow, search and re-drive; plugins add the local stack."""
