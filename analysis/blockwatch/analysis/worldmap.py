"""A world map of blocking share by country as inline SVG, from the packaged
Natural Earth shapes (data/world.geojson): no tiles, nothing fetched."""

from __future__ import annotations

import functools
import html
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

from blockwatch.analysis.errors import DataError

_W, _H = 960, 480    # equirectangular: 2.667 px per degree


@functools.cache
def world_shapes() -> tuple[tuple[str, str, str], ...]:
    """(alpha-2, name, SVG path data) per country; read once, immutable."""
    try:
        text = resources.files("blockwatch.analysis").joinpath("data", "world.geojson") \
            .read_text("utf-8")
        doc: dict[str, Any] = json.loads(text)
    except (OSError, ValueError) as exc:
        raise DataError(f"world.geojson: {exc}") from exc
    shapes = []
    for feature in doc["features"]:
        props = feature["properties"]
        parts = []
        for polygon in feature["geometry"]["coordinates"]:
            for ring in polygon:
                points = " ".join(f"{(x + 180) * _W / 360:.1f},{(90 - y) * _H / 180:.1f}"
                                  for x, y in ring)
                parts.append(f"M{points}Z")
        shapes.append((props["iso_a2"], props["name"], "".join(parts)))
    return tuple(shapes)


def _colour(share: float) -> str:
    """White (0 %) to dark red (100 %)."""
    t = max(0.0, min(1.0, share / 100.0))
    r, g, b = 255 - int(t * 80), int(235 * (1 - t)), int(225 * (1 - t))
    return f"#{r:02x}{g:02x}{b:02x}"


def map_svg(shares: Mapping[str, tuple[int, int]], title: str = "") -> str:
    """`shares`: alpha-2 -> (blocked, total). Countries without data are grey."""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" '
           f'role="img" aria-label="{html.escape(title)}">',
           f'<rect width="{_W}" height="{_H}" fill="#eef3f8"/>']
    for code, name, path in world_shapes():
        label = html.escape(name)
        if code in shares and shares[code][1]:
            blocked, total = shares[code]
            share = round(100.0 * blocked / total, 1)
            fill = _colour(share)
            label += f": {share}% blocked ({blocked}/{total})"
        else:
            fill = "#d0d0d0"
            label += ": no measurements"
        out.append(f'<path d="{path}" fill="{fill}" fill-rule="evenodd" stroke="#777" '
                   f'stroke-width="0.3" data-country="{code}"><title>{label}</title></path>')
    out.append("</svg>")
    return "\n".join(out)
