"""The `sluice` command line: run the local stack, issue dev tokens, demo."""
