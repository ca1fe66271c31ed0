"""Small line plots without a plotting library: in the terminal (braille dots) and as PNG
(a numpy canvas, a 3x5 pixel font, and the PNG format written with zlib).

A series is a list of (x, y) points; a plot is a dict of named series drawn in one frame."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Sequence

import numpy as np

Series = dict[str, Sequence[tuple[float, float]]]

# Colours per series, in order: terminal (ANSI 256-colour codes) and PNG (RGB).
ANSI = (196, 33, 34, 208, 129, 37)
RGB = ((214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14), (148, 103, 189), (23, 190, 207))

# ------------------------------------------------------------ shared


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


# ------------------------------------------------------------ PNG

# A 3x5 pixel font: each glyph is five rows of three bits.
_FONT = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "A": "010101111101101", "B": "110101110101110",
    "C": "011100100100011", "D": "110101101101110", "E": "111100110100111", "F": "111100110100100",
    "G": "011100101101011", "H": "101101111101101", "I": "111010010010111", "J": "001001001101010",
    "K": "101101110101101", "L": "100100100100111", "M": "101111111101101", "N": "110101101101101",
    "O": "010101101101010", "P": "110101110100100", "Q": "010101101110011", "R": "110101110101101",
    "S": "011100010001110", "T": "111010010010010", "U": "101101101101111", "V": "101101101101010",
    "W": "101101111111101", "X": "101101010101101", "Y": "101101010010010", "Z": "111001010100111",
    ".": "000000000000010", "-": "000000111000000", ",": "000000000010100", ":": "000010000010000",
    "(": "001010010010001", ")": "100010010010100", "/": "001001010100100", "%": "101001010100101",
    "_": "000000000000111", "+": "000010111010000", "=": "000111000111000", " ": "000000000000000",
}


def text_width(text: str, scale: int = 2) -> int:
    return len(text) * 4 * scale - scale if text else 0


def draw_text(canvas: np.ndarray, x: int, y: int, text: str, rgb: tuple[int, int, int], scale: int = 2) -> None:
    """Write `text` (upper-cased; unknown characters as '?'-less blanks) with its top-left at (x, y)."""
    height, width = canvas.shape[:2]
    for index, char in enumerate(text.upper()):
        glyph = _FONT.get(char, _FONT[" "])
        for bit, on in enumerate(glyph):
            if on != "1":
                continue
            gx = x + (index * 4 + bit % 3) * scale
            gy = y + (bit // 3) * scale
            if 0 <= gx and gx + scale <= width and 0 <= gy and gy + scale <= height:
                canvas[gy : gy + scale, gx : gx + scale] = rgb


def draw_line(canvas: np.ndarray, a: tuple[float, float], b: tuple[float, float], rgb, thickness: int = 1) -> None:
    height, width = canvas.shape[:2]
    steps = int(max(abs(b[0] - a[0]), abs(b[1] - a[1]))) * 2 + 1
    xs = np.rint(np.linspace(a[0], b[0], steps)).astype(int)
    ys = np.rint(np.linspace(a[1], b[1], steps)).astype(int)
    half = thickness // 2
    for dx in range(-half, thickness - half):
        for dy in range(-half, thickness - half):
            px, py = xs + dx, ys + dy
            keep = (px >= 0) & (px < width) & (py >= 0) & (py < height)
            canvas[py[keep], px[keep]] = rgb


def render(series: Series, width: int = 720, height: int = 440, title: str = "", x_label: str = "",
           y_label: str = "") -> np.ndarray:
    """The plot as an (height, width, 3) uint8 image."""
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    x0, x1, y0, y1 = bounds(series)
    pad = 0.04 * (y1 - y0)
    y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = 70, width - 20, 40, height - 70
    black, grey = (0, 0, 0), (225, 225, 225)

    def to_px(x: float, y: float) -> tuple[float, float]:
        return left + (x - x0) / (x1 - x0) * (right - left), bottom - (y - y0) / (y1 - y0) * (bottom - top)

    for value in nice_ticks(y0, y1, 6):
        _, py = to_px(x0, value)
        draw_line(canvas, (left, py), (right, py), grey)
        label = f"{value:.3g}"
        draw_text(canvas, left - 8 - text_width(label), int(py) - 5, label, black)
    for value in nice_ticks(x0, x1, 6):
        px, _ = to_px(value, y0)
        draw_line(canvas, (px, top), (px, bottom), grey)
        label = short_number(value)
        draw_text(canvas, int(px) - text_width(label) // 2, bottom + 8, label, black)
    draw_line(canvas, (left, bottom), (right, bottom), black)
    draw_line(canvas, (left, top), (left, bottom), black)
    for index, points in enumerate(series.values()):
        colour = RGB[index % len(RGB)]
        pts = [to_px(x, y) for x, y in _segments(points)]
        for a, b in zip(pts, pts[1:], strict=False):
            draw_line(canvas, a, b, colour, thickness=2)
        for px, py in pts:
            canvas[max(0, int(py) - 2) : int(py) + 3, max(0, int(px) - 2) : int(px) + 3] = colour
    if title:
        draw_text(canvas, (width - text_width(title)) // 2, 12, title, black)
    if x_label:
        draw_text(canvas, (left + right - text_width(x_label)) // 2, bottom + 26, x_label, black)
    if y_label:
        draw_text(canvas, 8, top - 24, y_label, black)
    x = left
    for index, name in enumerate(series):
        colour = RGB[index % len(RGB)]
        draw_line(canvas, (x, height - 22), (x + 24, height - 22), colour, thickness=3)
        draw_text(canvas, x + 30, height - 27, name, black)
        x += 30 + text_width(name) + 30
    return canvas


def encode_png(image: np.ndarray) -> bytes:
    """An (height, width, 3) uint8 array as a PNG file: 8-bit RGB, no filtering, zlib-compressed."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = image.shape[:2]
    rows = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # each row: filter type 0, then RGB bytes
    rows[:, 1:] = image.reshape(height, width * 3)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # depth 8, RGB, deflate, no filter, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
            + chunk(b"IEND", b""))


def write_png(path, series: Series, **options) -> None:
    from pathlib import Path

    from charcomplete.storage.atomic import atomic_write_bytes

    atomic_write_bytes(Path(path), encode_png(render(series, **options)), mode=0o644)
