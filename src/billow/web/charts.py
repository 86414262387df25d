"""Charts as inline SVG, drawn on the server: no JavaScript, readable by screen readers.

A chart is a bar chart of labelled values (:class:`Bar`); the SVG carries ``role="img"``, a ``<title>``
and a ``<desc>`` listing every figure, and each bar its own ``<title>`` (a tooltip). Pages show the same
figures in a table as well. Values are Decimals (units or amounts already formatted by the caller for
the labels); scaling to pixels is the only place a float appears, and it never reaches a figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 240
_LEFT = 64
_BOTTOM = 36
_TOP = 12


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    #: The value as shown (e.g. "1,250.00 EUR"); the value's plain text when empty.
    shown: str = ""

    @property
    def text(self) -> str:
        return self.shown or f"{self.value:f}"


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above ``value`` (the top of the axis); 1 for 0 or less."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for _ in range(2):
        for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
            top = step.scaleb(exponent)
            if top >= value:
                return top
        exponent += 1
    return value


def bar_chart(bars: Sequence[Bar], *, title: str, key: str = "chart", empty: str = "No data yet.") -> Markup:
    """An SVG bar chart of ``bars`` (left to right), titled ``title``; ``key`` makes its element ids unique
    on a page with several charts."""
    if not bars:
        return Markup('<p class="muted">{}</p>').format(empty)
    top = nice_ceiling(max((bar.value for bar in bars), default=Decimal(0)))
    plot_width = WIDTH - _LEFT - 8
    plot_height = HEIGHT - _TOP - _BOTTOM
    slot = plot_width / len(bars)
    bar_width = max(2.0, slot * 0.7)
    label_every = max(1, len(bars) // 12)
    description = "; ".join(f"{bar.label}: {bar.text}" for bar in bars)
    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{key}-title {key}-desc"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{key}-title">{escape(title)}</title>',
        f'<desc id="{key}-desc">{escape(description)}</desc>',
    ]
    for fraction in (Decimal(0), Decimal("0.5"), Decimal(1)):
        y = _TOP + plot_height * (1 - float(fraction))
        tick = (top * fraction).normalize()
        parts.append(f'<line x1="{_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#57606a">'
            f"{escape(f'{tick:f}')}</text>"
        )
    for index, bar in enumerate(bars):
        height = plot_height * float(bar.value / top) if bar.value > 0 else 0.0
        x = _LEFT + slot * index + (slot - bar_width) / 2
        y = _TOP + plot_height - height
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{height:.1f}" fill="#0b5cad">'
            f"<title>{escape(bar.label)}: {escape(bar.text)}</title></rect>"
        )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar_width / 2:.1f}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="middle"'
                f' font-size="11" fill="#57606a">{escape(bar.label)}</text>'
            )
    parts.append("</svg>")
    return Markup('<figure class="chart">{}<figcaption>{}</figcaption></figure>').format(
        Markup("".join(parts)), title
    )
