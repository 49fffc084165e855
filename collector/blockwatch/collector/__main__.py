"""`python -m blockwatch.collector` is `blockwatch-collector`."""

from blockwatch.collector.cli import main

main()
