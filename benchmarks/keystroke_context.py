"""What a keystroke costs before the model runs: handing the Completer the whole text before
the cursor (the editor until issue 13), or only its end and where that starts (the editor now).

Types a line at the end of a large document held in Textual's `Document` (the editor's),
and per keystroke measures, on the same model and the same keystrokes, in the same run:
- whole: `get_text_range((0, 0), cursor)` then `Completer.complete(text)`;
- tail:  the editor's own `CursorContext` (charcomplete/editor/context.py): the last lines
         before the cursor as UTF-8 and their byte offset, from the document's change log
         and row starts, then `Completer.complete_at(tail, offset)`.
It prints the median and 99th percentile of each, for the context alone and with the
suggestion, the first keystroke's context (which reads the whole document once: the tail
sums its row lengths, the whole text is built as on every keystroke), and the line for
BENCHMARKS.md's table.

    python benchmarks/keystroke_context.py              # 1 MB and 8 MB documents, the built-in model
    python benchmarks/keystroke_context.py --mb 1 --keys 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np
from machine import describe

LINE = "To rebase the branch in git, run git rebase main and then check the result of it all.\n"
TYPED = "Then search every line in vim for the word you want, and list the old logs. "


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def run(mb: float, keys: int, mode: str) -> tuple[float, list[float], list[float]]:
    """(the first keystroke's context in ms, then per later keystroke: context ms, with the suggestion ms)."""
    from textual.document._document import Document

    from charcomplete.editor.context import CursorContext
    from charcomplete.model.engine import Engine
    from charcomplete.suggest.decoder import Completer

    engine = Engine.load()
    document = Document(LINE * int(mb * 2**20 / len(LINE)))
    completer = Completer(engine)
    tracker = CursorContext()  # what the editor widget keeps: every change, told where it starts
    read = None  # the version the Completer read last
    context_ms, total_ms = [], []
    for char in TYPED[:keys]:
        location = document.end
        document.replace_range(location, location, char)
        tracker.changed(location)
        cursor = document.end
        t0 = time.perf_counter()
        if mode == "whole":
            before = document.get_text_range((0, 0), cursor)
            t1 = time.perf_counter()
            completer.complete(before)
        else:
            context = tracker.at(document, cursor, completer.window, read)
            t1 = time.perf_counter()
            completer.complete_at(context.tail, context.offset)
            read = context.version
        t2 = time.perf_counter()
        context_ms.append((t1 - t0) * 1e3)
        total_ms.append((t2 - t0) * 1e3)
    return context_ms[0], context_ms[1:], total_ms[1:]  # the first keystroke reads the context: not typing's cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="*", default=[1.0, 8.0], help="document sizes in MB")
    parser.add_argument("--keys", type=int, default=len(TYPED), help="keystrokes typed per run")
    args = parser.parse_args()
    os.environ.setdefault("CHARCOMPLETE_HOME", tempfile.mkdtemp(prefix="charcomplete-bench-"))
    print(describe())
    print(f"{'document':>9} {'mode':>6} {'first':>8} {'context p50':>12} {'p99':>8} "
          f"{'keystroke p50':>14} {'p99':>8}  (ms)")
    table = []
    for mb in args.mb:
        figures, contexts = {}, {}
        for mode in ("whole", "tail"):
            first, context, total = run(mb, args.keys, mode)
            figures[mode], contexts[mode] = statistics.median(total), statistics.median(context)
            print(f"{mb:>7.1f}MB {mode:>6} {first:>8.3f} {statistics.median(context):>12.3f} "
                  f"{percentile(context, 99):>8.3f} {statistics.median(total):>14.3f} {percentile(total, 99):>8.3f}")
        print(f"{'':>9} tail / whole, keystroke p50: {figures['tail'] / figures['whole']:.2f}")
        table.append(f"{mb:g} MB {contexts['whole']:.3g} -> {contexts['tail']:.2g} ms "
                     f"(keystroke {figures['whole']:.3g} -> {figures['tail']:.2g} ms)")
    print("BENCHMARKS.md: | keystroke context | tail instead of whole text, context p50: " + ", ".join(table) + " |")


if __name__ == "__main__":
    main()
