"""Plots: in the terminal as braille dots (no plotting library), and as PNG with matplotlib,
an optional extra (`pip install 'charcomplete[plot]'`), imported only when a PNG is asked for.

A series is a list of (x, y) points; a plot is a dict of named series drawn in one frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from charcomplete.core.errors import CharcompleteError

Series = dict[str, Sequence[tuple[float, float]]]

# Colours per series, in order: terminal (ANSI 256-colour codes) and PNG (matplotlib's names).
ANSI = (196, 33, 34, 208, 129, 37)
COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:cyan")

# ------------------------------------------------------------ shared


def focus(series: Series, skip: float = 0.25) -> tuple[float, float]:
    """A y range for learning curves that shows where they differ: every point but each
    series' first `skip` share (the first minutes, where every cell is still far above the
    rest of its curve and would squash it to a few pixels)."""
    ys = []
    for points in series.values():
        kept = _segments(points)
        ys += [y for _, y in kept[int(len(kept) * skip) :]] if len(kept) > 2 else [y for _, y in kept]
    if not ys:
        return 0.0, 1.0
    low, high = min(ys), max(ys)
    pad = max(0.05 * (high - low), 0.01)
    return low - pad, high + pad


def clipped(series: Series, y_range: tuple[float, float]) -> Series:
    """The series without the points above or below `y_range` (for the braille plot, which has no clipping)."""
    low, high = y_range
    return {name: [(x, y) for x, y in points if low <= y <= high] for name, points in series.items()}


def bounds(series: Series) -> tuple[float, float, float, float]:
    """(x_min, x_max, y_min, y_max) over every finite point, never a zero-width range."""
    xs = [x for points in series.values() for x, y in points if math.isfinite(x) and math.isfinite(y)]
    ys = [y for points in series.values() for x, y in points if math.isfinite(x) and math.isfinite(y)]
    if not xs:
        return 0.0, 1.0, 0.0, 1.0
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    return x0, x1, y0, y1


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) inside [low, high]."""
    span = high - low
    raw = span / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * span:
        ticks.append(round(value, 12))
        value += step
    return ticks


def short_number(value: float) -> str:
    """1500000 -> '1.5M', 2000 -> '2k', 2.25 -> '2.25'."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g}{unit}"
    return f"{value:.3g}"


def _segments(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    return sorted((x, y) for x, y in points if math.isfinite(x) and math.isfinite(y))


# ------------------------------------------------------------ terminal


def terminal_plot(series: Series, width: int = 64, height: int = 14, x_label: str = "", y_label: str = "",
                  color: bool = False) -> str:
    """The series as braille dots (2 x 4 per character cell), with axes and a legend.

    With `color`, each series is drawn in its own ANSI colour (a cell takes the colour of
    the last series that touched it); without, the legend pairs names with markers
    drawn at the data points of each series."""
    x0, x1, y0, y1 = bounds(series)
    cols, rows = max(8, width), max(4, height)
    px_w, px_h = cols * 2, rows * 4
    dots = np.zeros((px_h, px_w), dtype=bool)
    owner = np.full((rows, cols), -1)
    markers = {}
    marks = "ox+*#@"

    def to_px(x: float, y: float) -> tuple[int, int]:
        px = int(round((x - x0) / (x1 - x0) * (px_w - 1)))
        py = int(round((y1 - y) / (y1 - y0) * (px_h - 1)))
        return px, py

    for index, points in enumerate(series.values()):
        pts = [to_px(x, y) for x, y in _segments(points)]
        for (ax, ay), (bx, by) in zip(pts, pts[1:], strict=False):
            steps = max(abs(bx - ax), abs(by - ay), 1)
            for s in range(steps + 1):
                px = ax + (bx - ax) * s // steps
                py = ay + (by - ay) * s // steps
                dots[py, px] = True
                owner[py // 4, px // 2] = index
        for px, py in pts:
            dots[py, px] = True
            owner[py // 4, px // 2] = index
            if not color:
                markers[(py // 4, px // 2)] = marks[index % len(marks)]

    # Braille: dot (dx, dy) of a cell is bit BRAILLE_BITS[dy][dx] of U+2800 + bits.
    bits = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))
    y_ticks = {}
    for value in nice_ticks(y0, y1, 4):
        y_ticks[min(rows - 1, int(round((y1 - value) / (y1 - y0) * (px_h - 1))) // 4)] = f"{value:.3g}"
    label_w = max([len(v) for v in y_ticks.values()] + [len(y_label)])
    lines = [f"{y_label:>{label_w}}"] if y_label else []
    for r in range(rows):
        cells = []
        for c in range(cols):
            if (r, c) in markers:
                cells.append(markers[(r, c)])
                continue
            code = 0
            for dy in range(4):
                for dx in range(2):
                    if dots[r * 4 + dy, c * 2 + dx]:
                        code |= bits[dy][dx]
            char = chr(0x2800 + code) if code else " "
            if color and code and owner[r, c] >= 0:
                char = f"\x1b[38;5;{ANSI[owner[r, c] % len(ANSI)]}m{char}\x1b[0m"
            cells.append(char)
        tick = y_ticks.get(r, "")
        lines.append(f"{tick:>{label_w}} {'┤' if tick else '│'}{''.join(cells)}")
    lines.append(" " * label_w + " └" + "─" * cols)
    axis = [" "] * cols
    for value in nice_ticks(x0, x1, 4):
        text = short_number(value)
        at = int(round((value - x0) / (x1 - x0) * (cols - 1)))
        start = min(max(0, at - len(text) // 2), cols - len(text))
        if all(ch == " " for ch in axis[max(0, start - 1) : start + len(text) + 1]):
            axis[start : start + len(text)] = list(text)
    lines.append(" " * (label_w + 2) + "".join(axis) + (f"  {x_label}" if x_label else ""))
    legend = []
    for index, name in enumerate(series):
        if color:
            legend.append(f"\x1b[38;5;{ANSI[index % len(ANSI)]}m━━\x1b[0m {name}")
        else:
            legend.append(f"{marks[index % len(marks)]} {name}")
    lines.append(" " * (label_w + 2) + "   ".join(legend))
    return "\n".join(lines)


# ------------------------------------------------------------ PNG (matplotlib)


def pyplot():
    """matplotlib's pyplot, drawing off screen; a clear error when the optional extra is missing."""
    try:
        import matplotlib
    except ImportError:
        raise CharcompleteError(
            "writing a PNG needs matplotlib, which is not installed: pip install 'charcomplete[plot]'"
        ) from None
    matplotlib.use("Agg", force=True)  # no display, no GUI toolkit
    from matplotlib import pyplot as plt

    return plt


def write_figure(path: Path, figure) -> None:
    """Save a matplotlib figure as PNG, atomically (a reader never sees half a file)."""
    import io

    from charcomplete.storage.atomic import atomic_write_bytes

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    atomic_write_bytes(Path(path), buffer.getvalue(), mode=0o644)


def line_panel(axes, series: Series, title: str, x_label: str, y_label: str,
               y_range: tuple[float, float] | None = None) -> None:
    for index, (name, points) in enumerate(series.items()):
        kept = _segments(points)
        axes.plot([x for x, _ in kept], [y for _, y in kept], marker="o", markersize=3,
                  color=COLOURS[index % len(COLOURS)], label=name)
    if y_range is not None:
        axes.set_ylim(*y_range)
    axes.xaxis.set_major_formatter(lambda value, _: short_number(value))  # 1.5M, not 1.5 and "1e6" aside
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, alpha=0.3)
    axes.legend()


def category_panel(axes, labels: Sequence[str], series: dict[str, Sequence[float | None]], title: str,
                   x_label: str, y_label: str) -> None:
    """One line per series over categories (reset lengths, distance buckets); missing values are gaps."""
    positions = np.arange(len(labels))
    for index, (name, values) in enumerate(series.items()):
        ys = [np.nan if v is None else v for v in values]
        axes.plot(positions, ys, marker="o", color=COLOURS[index % len(COLOURS)], label=name)
    axes.set_xticks(positions, labels)
    axes.set_title(title)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(True, alpha=0.3)
    axes.legend()
