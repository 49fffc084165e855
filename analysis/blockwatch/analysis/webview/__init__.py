"""The analysts' web view (`blockwatch web`): read-only pages, a JSON/CSV API
and the evidence behind every figure, over the same report functions as the
CLI."""
