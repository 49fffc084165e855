"""The database schema every room uses: ClickHouse's tables as numbered SQL
migrations (migrations/*.sql, package data) and the code that applies them
(migrate.py), plus the registry's token rule and a read path for it
(principals.py).

Lower than the rooms: the collector migrates at start, the analysts' CLI
migrates a database it opens with --db, the web view checks analyst tokens,
and none of them imports another room to do so. Standard library only, so the
probe's base install carries it at no cost.
"""
