"""`blockwatch-collector` (placeholder until the collector lands)."""

import sys


def main() -> None:
    sys.exit("blockwatch-collector: not implemented yet")
