"""`python -m stoker.cli`: the same command line as `stoker`."""

from stoker.cli import main

main()
