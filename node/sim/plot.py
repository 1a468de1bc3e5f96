"""A hand-written SVG (no plotting dependency): commit latency p50/p99 and
throughput (or another column) against the number of validators, or against
the drop rate when the validators do not vary. Means over the runs at each x."""
from __future__ import annotations

import statistics
from pathlib import Path
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN = 420, 280, 50
COLORS = ("#1f77b4", "#d62728", "#2ca02c")


def _series(rows: list[dict[str, str]], x_name: str, y_name: str) -> list[tuple[float, float]]:
    by_x: dict[float, list[float]] = {}
    for row in rows:
        if row.get(y_name) not in (None, "", "None"):
            by_x.setdefault(float(row[x_name]), []).append(float(row[y_name]))
    return sorted((x, statistics.fmean(ys)) for x, ys in by_x.items())


def _panel(offset_x: int, title: str, x_label: str, lines: list[tuple[str, list[tuple[float, float]]]]) -> list[str]:
    points = [p for _, series in lines for p in series]
    parts = [f'<g transform="translate({offset_x},0)">',
             f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{escape(title)}</text>',
             f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - 10}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
             f'<line x1="{MARGIN}" y1="30" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
             f'<text x="{WIDTH / 2}" y="{HEIGHT - 12}" text-anchor="middle" font-size="12">{escape(x_label)}</text>']
    if not points:
        return parts + ["</g>"]
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_high = max(p[1] for p in points) or 1.0
    x_span = (x_high - x_low) or 1.0
    def sx(x: float) -> float:
        return MARGIN + (x - x_low) / x_span * (WIDTH - MARGIN - 20) + (0 if x_high > x_low else (WIDTH - MARGIN) / 2)
    def sy(y: float) -> float:
        return HEIGHT - MARGIN - y / y_high * (HEIGHT - MARGIN - 40)
    parts.append(f'<text x="{MARGIN - 4}" y="40" text-anchor="end" font-size="10">{y_high:.4g}</text>')
    parts.append(f'<text x="{MARGIN - 4}" y="{HEIGHT - MARGIN}" text-anchor="end" font-size="10">0</text>')
    for x in sorted({p[0] for p in points}):
        parts.append(f'<text x="{sx(x):.1f}" y="{HEIGHT - MARGIN + 14}" text-anchor="middle" font-size="10">{x:g}</text>')
    for index, (label, series) in enumerate(lines):
        color = COLORS[index % len(COLORS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in series)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        parts += [f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>' for x, y in series]
        parts.append(f'<text x="{WIDTH - 20}" y="{40 + 14 * index}" text-anchor="end" font-size="11" fill="{color}">{escape(label)}</text>')
    return parts + ["</g>"]


def write_svg(rows: list[dict[str, str]], path: Path,
              right: tuple[str, str] = ("tx_per_virtual_s", "throughput (tx per virtual s)")) -> None:
    """Latency on the left; on the right the column ``right[0]``, titled ``right[1]``."""
    x_name = "validators" if len({row["validators"] for row in rows}) > 1 else "drop"
    x_label = "validators" if x_name == "validators" else "drop rate"
    latency = [("p50 ms", _series(rows, x_name, "latency_ms_p50")), ("p99 ms", _series(rows, x_name, "latency_ms_p99"))]
    column, title = right
    body = _panel(0, "commit latency (ms)", x_label, latency) + _panel(WIDTH, title, x_label, [(column, _series(rows, x_name, column))])
    path.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * WIDTH}" height="{HEIGHT}" '
                    f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>{"".join(body)}</svg>\n')
