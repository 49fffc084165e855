"""The blockwatch probe: resolves target names through many resolvers and records what it sees."""

__version__ = "0.1.0"
