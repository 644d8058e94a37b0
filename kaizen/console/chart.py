"""A line chart as inline SVG: drawn on the server, so the page needs no charting library and no CDN."""

from __future__ import annotations

from html import escape

from pydantic import BaseModel

COLOURS = ("#2563eb", "#dc2626", "#16a34a", "#9333ea")


class Series(BaseModel):
    name: str
    values: list[float | None]


def line_chart(labels: list[str], series: list[Series], *, title: str, width: int = 640, height: int = 300) -> str:
    """Values in [0, 1] (accuracies), one point per label; None leaves a gap."""
    # Room on the right for the last label, which is centred on the last point.
    left, right, top, bottom = 48, 56, 32, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return left + (i * step if len(labels) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - max(0.0, min(1.0, v)))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" class="chart" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<text x="{left}" y="18" class="chart-title">{escape(title)}</text>',
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        ty = y(tick)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}" class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick:.0%}</text>')
    for i, label in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="middle">{escape(label)}</text>')
    for n, s in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        points = [(x(i), y(v), v) for i, v in enumerate(s.values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for px, py, v in points:
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}"><title>{escape(s.name)}: {v:.0%}</title>'
                "</circle>"
            )
        lx = left + n * 180
        parts.append(f'<rect x="{lx}" y="{height - 18}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{lx + 18}" y="{height - 8}">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "".join(parts)
