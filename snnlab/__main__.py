"""``python -m snnlab list``."""

from snnlab.cli import main

main()
