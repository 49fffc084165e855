"""What every blockwatch process shares, whichever room it belongs to: the
command-line conventions (commandline.py: one `error:` line and exit 2,
`--version`, log formats, RFC 3339 times), supervision of long-lived tasks
(supervise.py) and the software's version.

Lower than the rooms (docs/design-notes.md, "Rooms and arrows"): the probe,
the collector and the analysts' CLI use it; it imports none of them. Its
dependencies are the probe's base install (typer), so the probe pays nothing.
Importing this package itself loads nothing but the version string.
"""

__version__ = "0.1.0"
