"""blockwatch collector."""
