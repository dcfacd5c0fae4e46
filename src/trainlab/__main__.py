"""`python -m trainlab` runs the CLI."""

from trainlab.cli import run_main

run_main()
