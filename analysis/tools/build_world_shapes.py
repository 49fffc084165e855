"""Build the packaged world map (analysis/blockwatch/analysis/data/world.geojson).

Source: Natural Earth 1:110m admin-0 countries (public domain), as shipped in the
`naturalearth_lowres` shapefile of the geopandas 0.14 wheel on PyPI:

    pip download geopandas==0.14.4 --no-deps -d /tmp/geo
    unzip /tmp/geo/geopandas-0.14.4-py3-none-any.whl 'geopandas/datasets/*' -d /tmp/geo
    python analysis/tools/build_world_shapes.py \
        /tmp/geo/geopandas/datasets/naturalearth_lowres/naturalearth_lowres

Countries are keyed by ISO 3166-1 alpha-2 (what probes are registered with);
coordinates are rounded to 0.1 degree, which is finer than the 110m source's
error and keeps the file small. Runs once by hand, never at report time.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import pycountry

# Natural Earth codes that are not ISO 3166-1 alpha-3 (user-assigned or missing).
_EXTRA = {"-99": "XK", "KOS": "XK"}


def read_dbf(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    count, header_len, record_len = struct.unpack("<IHH", data[4:12])
    fields: list[tuple[str, int]] = []
    offset = 32
    while data[offset] != 0x0D:
        name = data[offset:offset + 11].split(b"\0")[0].decode()
        fields.append((name, data[offset + 16]))
        offset += 32
    records: list[dict[str, str]] = []
    for i in range(count):
        start = header_len + i * record_len + 1   # skip the deletion flag
        row: dict[str, str] = {}
        for name, size in fields:
            row[name] = data[start:start + size].decode("utf-8", "replace").strip()
            start += size
        records.append(row)
    return records


def read_polygons(path: Path) -> list[list[list[tuple[float, float]]]]:
    """Each shape's rings (shape type 5, polygon)."""
    data = path.read_bytes()
    offset = 100
    shapes: list[list[list[tuple[float, float]]]] = []
    while offset < len(data):
        _, length = struct.unpack(">ii", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + 2 * length]
        offset += 8 + 2 * length
        shape_type = struct.unpack("<i", body[:4])[0]
        if shape_type != 5:
            shapes.append([])
            continue
        parts_n, points_n = struct.unpack("<ii", body[36:44])
        parts = list(struct.unpack(f"<{parts_n}i", body[44:44 + 4 * parts_n]))
        base = 44 + 4 * parts_n
        points = [struct.unpack("<2d", body[base + 16 * k:base + 16 * k + 16])
                  for k in range(points_n)]
        rings = [points[a:b] for a, b in zip(parts, [*parts[1:], points_n], strict=True)]
        shapes.append([[(x, y) for x, y in ring] for ring in rings])
    return shapes


def alpha2(alpha3: str) -> str:
    if alpha3 in _EXTRA:
        return _EXTRA[alpha3]
    country = pycountry.countries.get(alpha_3=alpha3)
    return country.alpha_2 if country is not None else ""


def main() -> int:
    base = Path(sys.argv[1])
    out = Path(__file__).resolve().parents[1] / "blockwatch" / "analysis" / "data" / "world.geojson"
    features = []
    for record, rings in zip(read_dbf(base.with_suffix(".dbf")),
                             read_polygons(base.with_suffix(".shp")), strict=True):
        code = alpha2(record["iso_a3"])
        if not code or not rings:
            continue
        coords = []
        for ring in rings:
            simple: list[list[float]] = []
            for x, y in ring:
                point = [round(x, 1), round(y, 1)]
                if not simple or simple[-1] != point:
                    simple.append(point)
            if len(simple) >= 4:
                coords.append([simple])
        features.append({"type": "Feature", "properties": {"iso_a2": code, "name": record["name"]},
                         "geometry": {"type": "MultiPolygon", "coordinates": coords}})
    doc = {"type": "FeatureCollection",
           "source": "Natural Earth 1:110m admin-0 countries (public domain), via "
                     "geopandas 0.14.4 naturalearth_lowres; see "
                     "analysis/tools/build_world_shapes.py",
           "features": features}
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", "utf-8")
    print(f"wrote {len(features)} countries to {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
