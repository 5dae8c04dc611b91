"""``python -m snnlab <subcommand>``: the same as the ``snnlab`` command."""

from snnlab.cli import main

main()
