"""`blockwatch` (placeholder until the collector lands)."""

import sys


def main() -> None:
    sys.exit("blockwatch: not implemented yet")
