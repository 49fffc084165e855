"""The blockwatch probe: resolves target names through many resolvers and records what it sees."""

from blockwatch.runtime import __version__ as __version__
