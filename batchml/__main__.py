"""`python -m batchml ...`: the `batchml` command, with this interpreter."""

from batchml.cli.app import main

main()
