"""`python -m blockwatch.probe` is `blockwatch-probe`."""

from blockwatch.probe.cli import main

main()
