"""Server-rendered SVG charts: an intermediary's share blocked per day with
the deadline, the start of monitoring and the first block marked; the world
map with a legend, a scale and control countries shown as such. Okabe-Ito
colours (readable with every common colour-vision deficiency), text
alternatives in <title>/<desc>, units on the axes."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from blockwatch.analysis.worldmap import world_shapes

# Okabe & Ito (2008)
BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY = ("#0072B2", "#E69F00", "#009E73", "#D55E00",
                                                "#CC79A7", "#56B4E9")
_W, _H, _L, _R, _T, _B = 640, 220, 48, 16, 16, 40


@dataclass(frozen=True, slots=True)
class Marker:
    day: dt.date
    label: str
    colour: str
    dash: str


def timeline_svg(points: Sequence[tuple[dt.date, float | None]], markers: Sequence[Marker],
                 title: str) -> str:
    """`points`: (day, share blocked %) in day order; markers drawn as labelled
    vertical lines. The caller shows the same numbers as a table."""
    days = [d for d, _ in points] + [m.day for m in markers]
    if not days:
        return ""
    first, last = min(days), max(days)
    # A marker long before the data (a deadline years before monitoring began)
    # is drawn at the left edge with its date, the axis broken, so the data
    # is not squeezed into a sliver.
    data_first = min((d for d, _ in points), default=first)
    data_span = (last - data_first).days
    if (data_first - first).days > 2 * data_span + 7:
        first = data_first - dt.timedelta(days=max(1, data_span // 10))
    span = max(1, (last - first).days)

    def x(day: dt.date) -> float:
        return _L + max(0, (day - first).days) * (_W - _L - _R) / span

    def y(share: float) -> float:
        return _T + (100.0 - share) * (_H - _T - _B) / 100.0

    desc = "; ".join(f"{d.isoformat()}: {'no data' if s is None else f'{s}%'}"
                     for d, s in points)
    marks = "; ".join(f"{m.label} {m.day.isoformat()}" for m in markers)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" '
           f'class="timeline" aria-labelledby="t d"><title>{escape(title)}</title>'
           f"<desc>{escape(desc + ('. ' + marks if marks else ''))}</desc>"]
    for share in (0, 25, 50, 75, 100):
        out.append(f'<line x1="{_L}" x2="{_W - _R}" y1="{y(share):.1f}" y2="{y(share):.1f}" '
                   f'stroke="#ddd"/><text x="{_L - 6}" y="{y(share) + 4:.1f}" '
                   f'text-anchor="end" font-size="11">{share}</text>')
    out.append(f'<text x="12" y="{(_H - _B) / 2 + _T:.0f}" font-size="11" '
               f'transform="rotate(-90 12 {(_H - _B) / 2 + _T:.0f})" text-anchor="middle">'
               "share blocked (%)</text>")
    ticks = sorted({first, last, *(d for d, _ in points)})
    shown: list[float] = []
    for day in ticks:   # first and last always; others where they do not overlap
        at = x(day)
        if day not in (first, last) and (any(abs(at - o) < 80 for o in shown)
                                         or abs(at - x(last)) < 80):
            continue
        shown.append(at)
        anchor = "start" if day == first else "end" if day == last else "middle"
        out.append(f'<text x="{at:.1f}" y="{_H - _B + 16}" font-size="11" '
                   f'text-anchor="{anchor}">{day.isoformat()}</text>')
    out.append(f'<text x="{(_W + _L) / 2:.0f}" y="{_H - 4}" font-size="11" '
               'text-anchor="middle">day (UTC)</text>')
    for i, m in enumerate(markers):
        at = x(m.day)
        label = m.label if m.day >= first else f"◂ {m.label} {m.day.isoformat()}"
        right = at > (_W + _L) / 2   # labels stay inside the chart
        out.append(f'<line class="marker marker-{escape(m.label.split()[0])}" '
                   f'x1="{at:.1f}" x2="{at:.1f}" y1="{_T}" y2="{_H - _B}" '
                   f'stroke="{m.colour}" stroke-width="2" stroke-dasharray="{m.dash}">'
                   f"<title>{escape(m.label)}: {m.day.isoformat()}</title></line>"
                   f'<text x="{at - 3 if right else at + 3:.1f}" y="{_T + 10 + 12 * i}" '
                   f'font-size="11" text-anchor="{"end" if right else "start"}" '
                   f'fill="{m.colour}">{escape(label)}</text>')
    known = [(d, s) for d, s in points if s is not None]
    # a gap much longer than the usual spacing of rounds breaks the line: no
    # value is drawn where none was measured
    gaps = sorted((b[0] - a[0]).days for a, b in itertools.pairwise(known))
    usual = gaps[len(gaps) // 2] if gaps else 1
    runs: list[list[tuple[dt.date, float]]] = []
    for d, s in known:
        if runs and (d - runs[-1][-1][0]).days <= 2 * usual:
            runs[-1].append((d, s))
        else:
            runs.append([(d, s)])
    for run in runs:
        path = " ".join(f"{x(d):.1f},{y(s):.1f}" for d, s in run)
        out.append(f'<polyline points="{path}" fill="none" stroke="{BLUE}" stroke-width="2"/>')
        out += [f'<circle cx="{x(d):.1f}" cy="{y(s):.1f}" r="3.5" fill="{BLUE}">'
                f"<title>{d.isoformat()}: {s}% blocked</title></circle>" for d, s in known]
    out.append("</svg>")
    return "".join(out)


# sequential, light to dark blue (colour-blind safe: one hue, rising darkness)
_SCALE = ("#deebf7", "#9ecae1", "#4292c6", "#2171b5", "#08306b")
_NO_DATA = "#bdbdbd"


def _bin(share: float) -> int:
    return min(4, int(share // 20))


_NUMBER = re.compile(r"(-?[0-9.]+),(-?[0-9.]+)")


def _view(paths: Sequence[str]) -> str:
    """A viewBox around the countries measured (with a margin), so Europe is
    not a speck on a world map; the whole world when nothing is measured."""
    xs: list[float] = []
    ys: list[float] = []
    for path in paths:
        for a, b in _NUMBER.findall(path):
            xs.append(float(a))
            ys.append(float(b))
    if not xs:
        return "0 0 960 480"
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    pad = max(15.0, 0.25 * max(x1 - x0, y1 - y0))
    x0, x1, y0, y1 = max(0, x0 - pad), min(960, x1 + pad), max(0, y0 - pad), min(480, y1 + pad)
    # keep the map's 2:1 shape
    width, height = x1 - x0, y1 - y0
    if width < 2 * height:
        x0, width = max(0.0, x0 - (2 * height - width) / 2), 2 * height
    else:
        y0, height = max(0.0, y0 - (width / 2 - height) / 2), width / 2
    return f"{x0:.1f} {y0:.1f} {width:.1f} {height:.1f}"


def map_svg(shares: Mapping[str, tuple[int, int]], controls: set[str], title: str,
            focus: str = "") -> str:
    """Share blocked per country (alpha-2 -> (blocked, total)); control
    countries hatched and labelled, countries without data grey, `focus`
    outlined; zoomed to the measured countries; a legend with the scale."""
    w, h = 960, 540
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
           f'class="map" aria-labelledby="mt md"><title id="mt">{escape(title)}</title>',
           '<desc id="md">' + escape("; ".join(
               f"{c}: {'control vantage, ' if c in controls else ''}"
               f"{round(100 * b / t, 1) if t else 'no'} % blocked ({b} of {t})"
               for c, (b, t) in sorted(shares.items()))) + "</desc>",
           '<defs><pattern id="control" width="6" height="6" patternUnits="userSpaceOnUse" '
           f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>'
           f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ORANGE}" stroke-width="3"/>'
           "</pattern></defs>",
           '<rect width="960" height="480" fill="#f4f8fb"/>']
    shapes = world_shapes()
    view = _view([p for c, _, p in shapes if c in shares or c in controls])
    out.append(f'<svg x="0" y="0" width="960" height="480" viewBox="{view}" '
               'preserveAspectRatio="xMidYMid meet">')
    focused = ""
    for code, name, path in shapes:
        label = escape(name)
        if code in controls:
            fill = "url(#control)"
            label += ": control vantage (the reference, not a target of the order)"
        elif code in shares and shares[code][1]:
            blocked, total = shares[code]
            share = round(100.0 * blocked / total, 1)
            fill = _SCALE[_bin(share)]
            label += f": {share}% blocked ({blocked} of {total} measurements)"
        else:
            fill = _NO_DATA if code in shares else "#e8e8e8"
            label += ": no measurements"
        out.append(f'<path d="{path}" fill="{fill}" fill-rule="evenodd" stroke="#666" '
                   f'stroke-width="0.3" data-country="{escape(code)}"><title>{label}</title>'
                   "</path>")
        if code == focus:
            focused = (f'<path d="{path}" fill="none" stroke="#000" stroke-width="2" '
                       'vector-effect="non-scaling-stroke" '
                       'pointer-events="none"/>')
    out.append(focused + "</svg>")
    y0 = 492
    out.append(f'<text x="10" y="{y0 + 12}" font-size="13">share blocked (%)</text>')
    for i, colour in enumerate(_SCALE):
        out.append(f'<rect x="{130 + i * 60}" y="{y0}" width="60" height="16" fill="{colour}" '
                   f'stroke="#666"/><text x="{130 + i * 60}" y="{y0 + 32}" font-size="12">'
                   f"{i * 20}</text>")
    out.append(f'<text x="{430}" y="{y0 + 32}" font-size="12">100</text>')
    out.append(f'<rect x="480" y="{y0}" width="24" height="16" fill="url(#control)" '
               f'stroke="#666"/><text x="510" y="{y0 + 12}" font-size="13">control vantage'
               "</text>")
    out.append(f'<rect x="650" y="{y0}" width="24" height="16" fill="#e8e8e8" stroke="#666"/>'
               f'<text x="680" y="{y0 + 12}" font-size="13">no measurements</text>')
    out.append("</svg>")
    return "\n".join(out)
