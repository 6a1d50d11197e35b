"""Small inline-SVG charts: a line chart, a reliability diagram, a histogram and bar charts.

Each function returns one ``<svg class="plot">`` element as text, drawn in a fixed view box and
scaled by CSS; every data mark carries the class ``mark`` and a ``<title>`` (the browser shows it
as a tooltip, no script needed). Nothing is fetched: the charts are part of the page.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

WIDTH = 720
HEIGHT = 320
MARGIN = {"left": 64, "right": 150, "top": 16, "bottom": 44}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
# One colour per meaning, the same in every chart: the model, the opening and the closing line;
# all bets and each market. Red and green are kept for losses and gains.
SERIES_COLOURS: dict[str, str] = {
    "model": "#1f77b4",
    "opening line": "#ff7f0e",
    "closing line": "#9467bd",
    "all bets": "#222222",
    "moneyline": "#1f77b4",
    "total": "#17becf",
    "runline": "#8c564b",
}
POSITIVE = "#2ca02c"
NEGATIVE = "#d62728"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering ``[low, high]`` (steps of 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        if value >= low - step * 1e-9:
            ticks.append(round(value, 12))
        value += step
    return ticks


def tick_labels(ticks: Sequence[float], percent: bool = False) -> list[tuple[float, str]]:
    """``(value, label)`` per tick, with the fewest decimals that keep every label distinct
    (0.45 and 0.5 are "0.45" and "0.50", never "0.5" twice)."""
    for digits in range(0, 7):
        scale = 100.0 if percent else 1.0
        labels = [f"{t * scale + 0.0:.{digits}f}" + ("%" if percent else "") for t in ticks]
        if len(set(labels)) == len(labels):
            return list(zip(ticks, labels, strict=True))
    return [(t, _format(t, percent)) for t in ticks]


def _format(value: float, percent: bool = False) -> str:
    value = value + 0.0 if value != 0 else 0.0  # no "-0%"
    if percent:
        return f"{value * 100:.0f}%" if abs(value) >= 0.1 or value == 0 else f"{value * 100:.1f}%"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _distinct(ticks: Sequence[float], percent: bool = False) -> list[tuple[float, str]]:
    """The usual short labels, or :func:`tick_labels` when two of them would read the same."""
    labels = [(t, _format(t, percent)) for t in ticks]
    return labels if len({label for _, label in labels}) == len(labels) else tick_labels(ticks, percent)


class _Frame:
    """Maps data to the plot area of the view box and draws the axes."""

    def __init__(self, x_range: tuple[float, float], y_range: tuple[float, float]) -> None:
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1.0
        self.left = MARGIN["left"]
        self.right = WIDTH - MARGIN["right"]
        self.top = MARGIN["top"]
        self.bottom = HEIGHT - MARGIN["bottom"]

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def y(self, value: float) -> float:
        return self.bottom - (value - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)

    def axes(
        self,
        x_ticks: Sequence[tuple[float, str]],
        y_ticks: Sequence[tuple[float, str]],
        x_label: str,
        y_label: str,
    ) -> list[str]:
        out = [
            f'<line class="axis" x1="{self.left}" y1="{self.bottom}" x2="{self.right}" y2="{self.bottom}"/>',
            f'<line class="axis" x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{self.bottom}"/>',
        ]
        for value, label in x_ticks:
            px = self.x(value)
            out.append(f'<line class="grid" x1="{px:.1f}" y1="{self.top}" x2="{px:.1f}" y2="{self.bottom}"/>')
            out.append(
                f'<text class="tick" x="{px:.1f}" y="{self.bottom + 16}" text-anchor="middle">{escape(label)}</text>'
            )
        for value, label in y_ticks:
            py = self.y(value)
            out.append(f'<line class="grid" x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}"/>')
            out.append(
                f'<text class="tick" x="{self.left - 6}" y="{py + 4:.1f}" text-anchor="end">{escape(label)}</text>'
            )
        out.append(
            f'<text class="label" x="{(self.left + self.right) / 2:.1f}" y="{HEIGHT - 6}" '
            f'text-anchor="middle">{escape(x_label)}</text>'
        )
        out.append(
            f'<text class="label" transform="translate(14 {(self.top + self.bottom) / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle">{escape(y_label)}</text>'
        )
        return out


def series_colour(name: str, index: int) -> str:
    """The colour of a named series (:data:`SERIES_COLOURS`), else the palette's by position."""
    return SERIES_COLOURS.get(name, PALETTE[index % len(PALETTE)])


def _svg(title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


def _legend(names: Sequence[str], colours: Sequence[str], dashed: Sequence[bool] | None = None) -> list[str]:
    out = []
    x = WIDTH - MARGIN["right"] + 14
    for i, (name, colour) in enumerate(zip(names, colours, strict=True)):
        y = MARGIN["top"] + 10 + 18 * i
        dash = ' stroke-dasharray="5 3"' if dashed and dashed[i] else ""
        out.append(
            f'<line x1="{x}" y1="{y}" x2="{x + 18}" y2="{y}" stroke="{colour}" stroke-width="2.5"{dash}/>'
            f'<text class="legend" x="{x + 24}" y="{y + 4}">{escape(name)}</text>'
        )
    return out


def _time_ticks(low: float, high: float) -> list[tuple[float, str]]:
    """Month starts between two epoch-second times, thinned to at most eight."""
    start = datetime.fromtimestamp(low, UTC)
    end = datetime.fromtimestamp(high, UTC)
    ticks = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        moment = datetime(year, month, 1, tzinfo=UTC).timestamp()
        if low <= moment <= high:
            ticks.append((moment, datetime(year, month, 1).strftime("%b %Y")))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    if not ticks:
        ticks = [(low, start.strftime("%d %b %Y")), (high, end.strftime("%d %b %Y"))]
    stride = max(1, math.ceil(len(ticks) / 8))
    return ticks[::stride]


def line_chart(
    title: str,
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
    time_axis: bool = True,
    baseline: float | None = None,
) -> str:
    """Lines (step-free polylines) of ``series``: name -> (x values, y values); x in epoch seconds
    when ``time_axis``. ``baseline`` draws a dashed horizontal reference line."""
    points = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
    xs_all = [p[0] for p in points]
    ys_all = [p[1] for p in points] + ([baseline] if baseline is not None else [])
    y_lo, y_hi = min(ys_all), max(ys_all)
    pad = (y_hi - y_lo) * 0.05 or abs(y_hi) * 0.05 or 1.0
    frame = _Frame((min(xs_all), max(xs_all)), (y_lo - pad, y_hi + pad))
    y_ticks = _distinct(nice_ticks(frame.y0, frame.y1))
    x_ticks = _time_ticks(frame.x0, frame.x1) if time_axis else _distinct(nice_ticks(frame.x0, frame.x1))
    parts = frame.axes(x_ticks, y_ticks, x_label, y_label)
    if baseline is not None:
        py = frame.y(baseline)
        parts.append(
            f'<line class="reference" x1="{frame.left}" y1="{py:.1f}" x2="{frame.right}" y2="{py:.1f}"/>'
        )
    colours = []
    for i, (name, (xs, ys)) in enumerate(series.items()):
        colour = series_colour(name, i)
        colours.append(colour)
        coords = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in zip(xs, ys, strict=True))
        last = f"{ys[-1]:,.2f}" if ys else ""
        parts.append(
            f'<polyline class="mark series" fill="none" stroke="{colour}" stroke-width="2" points="{coords}">'
            f"<title>{escape(name)}: {last} at the end</title></polyline>"
        )
    parts += _legend(list(series), colours)
    return _svg(title, parts)


def reliability_chart(title: str, bins: Mapping[str, Sequence[tuple[float, float, int]]]) -> str:
    """Observed frequency against mean forecast per probability bin, one line per source
    (``name -> [(mean forecast, frequency, games), ...]``), with the diagonal of perfect calibration."""
    values = [v for rows in bins.values() for r in rows for v in r[:2]]
    lo = max(0.0, math.floor(min(values) * 10) / 10) if values else 0.0
    hi = min(1.0, math.ceil(max(values) * 10) / 10) if values else 1.0
    frame = _Frame((lo, hi), (lo, hi))
    ticks = tick_labels(nice_ticks(lo, hi))
    parts = frame.axes(ticks, ticks, "forecast probability (bin mean)", "observed frequency")
    parts.append(
        f'<line class="reference" x1="{frame.x(lo):.1f}" y1="{frame.y(lo):.1f}" '
        f'x2="{frame.x(hi):.1f}" y2="{frame.y(hi):.1f}"/>'
    )
    most = max((r[2] for rows in bins.values() for r in rows), default=1)
    colours = []
    for i, (name, rows) in enumerate(bins.items()):
        colour = series_colour(name, i)
        colours.append(colour)
        if not rows:
            continue
        coords = " ".join(f"{frame.x(p):.1f},{frame.y(f):.1f}" for p, f, _ in rows)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>')
        for p, f, n in rows:
            radius = 2.5 + 5.5 * math.sqrt(n / most)
            parts.append(
                f'<circle class="mark" cx="{frame.x(p):.1f}" cy="{frame.y(f):.1f}" r="{radius:.1f}" '
                f'fill="{colour}" fill-opacity="0.75"><title>{escape(name)}: forecast {p:.3f}, '
                f"observed {f:.3f}, {n} games</title></circle>"
            )
    parts += _legend(list(bins), colours)
    return _svg(title, parts)


def histogram(
    title: str, values: Sequence[float], *, x_label: str, bins: int = 30, percent: bool = True
) -> str:
    """A histogram of ``values`` with a dashed line at zero and one at the mean."""
    finite = [v for v in values if math.isfinite(v)]
    lo, hi = min(finite), max(finite)
    if hi <= lo:
        lo, hi = lo - 0.01, hi + 0.01
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in finite:
        counts[min(int((v - lo) / width), bins - 1)] += 1
    frame = _Frame((lo, hi), (0.0, max(counts) * 1.08))
    x_ticks = _distinct(nice_ticks(lo, hi), percent)
    y_ticks = [(t, f"{t:.0f}") for t in nice_ticks(0.0, frame.y1) if float(t).is_integer()]
    parts = frame.axes(x_ticks, y_ticks, x_label, "bets")
    for k, count in enumerate(counts):
        if count == 0:
            continue
        a, b = lo + k * width, lo + (k + 1) * width
        colour = POSITIVE if (a + b) / 2 >= 0 else NEGATIVE
        parts.append(
            f'<rect class="mark" x="{frame.x(a):.1f}" y="{frame.y(count):.1f}" '
            f'width="{max(frame.x(b) - frame.x(a) - 1, 1):.1f}" height="{frame.y(0) - frame.y(count):.1f}" '
            f'fill="{colour}" fill-opacity="0.8"><title>{_format(a, percent)} to {_format(b, percent)}: '
            f"{count} bets</title></rect>"
        )
    mean = sum(finite) / len(finite)
    for value, name, cls in ((0.0, "zero", "reference"), (mean, f"mean {_format(mean, percent)}", "mean")):
        if lo <= value <= hi:
            px = frame.x(value)
            parts.append(
                f'<line class="{cls}" x1="{px:.1f}" y1="{frame.top}" x2="{px:.1f}" y2="{frame.bottom}"/>'
            )
            if cls == "mean":
                parts.append(
                    f'<text class="legend" x="{px + 4:.1f}" y="{frame.top + 12}">{escape(name)}</text>'
                )
    return _svg(title, parts)


def bar_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    counts: Sequence[int] | None = None,
    y_label: str,
    percent: bool = True,
) -> str:
    """Vertical bars from zero (green up, red down), one per label; ``counts`` annotate the bars."""
    shown = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = min([0.0, *shown]), max([0.0, *shown])
    pad = (hi - lo) * 0.1 or 0.05
    frame = _Frame((0.0, float(len(labels))), (lo - (pad if lo < 0 else 0), hi + pad))
    y_ticks = _distinct(nice_ticks(frame.y0, frame.y1), percent)
    x_ticks = [(i + 0.5, label) for i, label in enumerate(labels)]
    parts = frame.axes([], y_ticks, "", y_label)
    for x, label in x_ticks:
        parts.append(
            f'<text class="tick" x="{frame.x(x):.1f}" y="{frame.bottom + 16}" text-anchor="middle">{escape(label)}</text>'
        )
    zero = frame.y(0.0)
    parts.append(
        f'<line class="reference" x1="{frame.left}" y1="{zero:.1f}" x2="{frame.right}" y2="{zero:.1f}"/>'
    )
    slot = (frame.right - frame.left) / max(len(labels), 1)
    for i, value in enumerate(values):
        if value is None or not math.isfinite(value):
            continue
        top = min(zero, frame.y(value))
        height = max(abs(frame.y(value) - zero), 1.0)
        n = f", {counts[i]} bets" if counts is not None else ""
        parts.append(
            f'<rect class="mark" x="{frame.left + slot * i + slot * 0.15:.1f}" y="{top:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{POSITIVE if value >= 0 else NEGATIVE}">'
            f"<title>{escape(labels[i])}: {_format(value, percent)}{n}</title></rect>"
        )
        if counts is not None:
            label_y = top - 4 if value >= 0 else top + height + 12
            parts.append(
                f'<text class="count" x="{frame.left + slot * (i + 0.5):.1f}" y="{label_y:.1f}" '
                f'text-anchor="middle">n={counts[i]}</text>'
            )
    return _svg(title, parts)


def horizontal_bars(title: str, items: Sequence[tuple[str, float]], *, x_label: str) -> str:
    """Horizontal bars, largest first (feature importance): ``[(name, share), ...]``."""
    height = 12 + 18 * len(items) + 36
    left = 250
    right = WIDTH - 40
    top = 12
    most = max((v for _, v in items), default=1.0) or 1.0
    parts = [f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + 18 * len(items)}"/>']
    for i, (name, value) in enumerate(items):
        y = top + 18 * i
        w = max((right - left) * value / most, 1.0)
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{y + 12}" text-anchor="end">{escape(name)}</text>'
            f'<rect class="mark" x="{left}" y="{y + 2}" width="{w:.1f}" height="14" fill="{PALETTE[0]}">'
            f"<title>{escape(name)}: {value * 100:.1f}% of the gain</title></rect>"
            f'<text class="count" x="{left + w + 4:.1f}" y="{y + 13}">{value * 100:.1f}%</text>'
        )
    parts.append(
        f'<text class="label" x="{(left + right) / 2:.1f}" y="{height - 10}" text-anchor="middle">{escape(x_label)}</text>'
    )
    return (
        f'<svg class="plot" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f"{''.join(parts)}</svg>"
    )
