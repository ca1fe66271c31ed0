"""What a keystroke costs before the model runs: handing the Completer the whole text before
the cursor, or only its end and where that starts (issue 13).

Types a line at the end of a large document held in Textual's `Document` (the editor's),
and per keystroke measures, on the same model and the same keystrokes:
- whole: `get_text_range((0, 0), cursor)` then `Completer.complete(text)` (the editor today);
- tail:  the last lines before the cursor (at least a window's worth) and their offset,
         then `Completer.complete_at(tail, offset)` (what a language server or the editor
         can call instead).
It prints the median and 99th percentile of each, for the context alone and with the
suggestion, and their ratio (same run, same machine load).

    python benchmarks/keystroke_context.py              # 1 MB and 8 MB documents, the built-in model
    python benchmarks/keystroke_context.py --mb 1 --keys 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from machine import describe

LINE = "To rebase the branch in git, run git rebase main and then check the result of it all.\n"
TYPED = "Then search every line in vim for the word you want, and list the old logs. "


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def tail_rows(document, row: int, chars: int) -> int:
    """The first row of the shortest run of whole rows ending at `row` that holds `chars` characters."""
    held = 0
    while row > 0 and held < chars:
        row -= 1
        held += len(document[row]) + 1
    return row


def run(mb: float, keys: int, mode: str) -> tuple[list[float], list[float]]:
    from textual.document._document import Document

    from charcomplete.decoder import Completer
    from charcomplete.engine import Engine

    engine = Engine.load()
    document = Document(LINE * int(mb * 2**20 / len(LINE)))
    completer = Completer(engine)
    row = document.line_count - 1
    # The editor would keep the offset of a row start as the text changes (edits at the
    # cursor leave it alone): computed once here, as it would be on opening the document.
    start_row = tail_rows(document, row, completer.window)
    start_offset = document.get_index_from_location((start_row, 0))
    context_ms, total_ms = [], []
    for char in TYPED[:keys]:
        location = document.end
        document.replace_range(location, location, char)
        cursor = document.end
        t0 = time.perf_counter()
        if mode == "whole":
            before = document.get_text_range((0, 0), cursor)
            t1 = time.perf_counter()
            completer.complete(before)
        else:
            tail = document.get_text_range((start_row, 0), cursor)
            t1 = time.perf_counter()
            completer.complete_at(tail, start_offset)
        t2 = time.perf_counter()
        context_ms.append((t1 - t0) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
    return context_ms[1:], total_ms[1:]  # the first keystroke reads the context: not a keystroke's cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="*", default=[1.0, 8.0], help="document sizes in MB")
    parser.add_argument("--keys", type=int, default=len(TYPED), help="keystrokes typed per run")
    args = parser.parse_args()
    os.environ.setdefault("CHARCOMPLETE_HOME", tempfile.mkdtemp(prefix="charcomplete-bench-"))
    print(describe())
    print(f"{'document':>9} {'mode':>6} {'context p50':>12} {'p99':>8} {'keystroke p50':>14} {'p99':>8}  (ms)")
    for mb in args.mb:
        figures = {}
        for mode in ("whole", "tail"):
            context, total = run(mb, args.keys, mode)
            figures[mode] = statistics.median(total)
            print(f"{mb:>7.1f}MB {mode:>6} {statistics.median(context):>12.3f} {percentile(context, 99):>8.3f} "
                  f"{statistics.median(total):>14.3f} {percentile(total, 99):>8.3f}")
        print(f"{'':>9} tail / whole, keystroke p50: {figures['tail'] / figures['whole']:.2f}")


if __name__ == "__main__":
    main()
