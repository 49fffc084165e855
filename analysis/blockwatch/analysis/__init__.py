"""blockwatch analysis."""
