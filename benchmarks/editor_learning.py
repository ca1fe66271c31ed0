"""The editor-learning benchmark (issue 11): does the background learner make a model
worse on text it never saw?

    python benchmarks/editor_learning.py --minutes 5
    python benchmarks/editor_learning.py --minutes 1 --cps 40 --heldout some/folder other/file.md

The real editor runs headless (Textual's Pilot) with its real learner process, on a fresh
throw-away CHARCOMPLETE_HOME, starting from --model (default: the built-in model). It
"types" the notes benchmark's held-out notes (../shared/corpora/til-notes, its last 10%)
into a document for --minutes, --cps characters per second, a line at a time, then quits
the way a user does (Ctrl+S, Ctrl+Q) and waits for the learner's handed-over last publish.

Then it reports, static (weights fixed), the bits per character of the starting model and
of the model the learner published (the user's own model, `mine`) on:
  - each --heldout set (default: the pretraining corpus's whole held-out sources,
    rust-book and cheatsheets, never trained on by the built-in model), its first
    --max-bytes;
  - the held-out notes that were not typed (the same author, text the learner never saw);
and what the learner did (publishes, refusals with reasons, from its log).
It says so and skips when the corpora are absent. Measure on a quiet machine, or say
what ran beside it: figures to compare are the before/after pair of one run."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "data"))
from machine import describe  # noqa: E402
from notes_benchmark import NOTES, notes_split  # noqa: E402

PRETRAIN = ROOT.parent / "shared" / "corpora" / "pretrain"
DEFAULT_HELDOUT = [PRETRAIN / "rust-book", PRETRAIN / "cheatsheets"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def type_notes(args, text: str) -> dict:
    """Run the editor with its learner, type `text` for args.minutes; return what happened."""
    from charcomplete.editor import EditorApp
    from charcomplete.learn.learner import LearnerSettings
    from charcomplete.model.engine import Engine

    folder = Path(tempfile.mkdtemp(prefix="editor-learning-"))
    settings = LearnerSettings(publish_every_s=args.publish_every)
    app = EditorApp(folder / "typed.md", Engine.load(args.model), learn=True, learner_settings=settings)
    typed = 0
    async with app.run_test(size=(100, 30)) as pilot:
        started = time.monotonic()
        deadline = started + args.minutes * 60
        lines = text.splitlines(keepends=True)
        while time.monotonic() < deadline and lines and app.learner_state != "error":
            line = lines.pop(0)
            app.editor.insert(line)  # a line at a time, at the typist's pace
            typed += len(line)
            await pilot.pause(max(0.0, len(line) / args.cps))
        if app.learner_state == "error":
            raise SystemExit(f"the learner failed: {app.learner_error}")
        seconds = time.monotonic() - started
        learner, swaps = app.learner, app.swaps
        await pilot.press("ctrl+s")
        quit_pressed = time.perf_counter()
        await pilot.press("ctrl+q")
    quit_s = time.perf_counter() - quit_pressed  # until the app has exited (Pilot's teardown included)
    if learner is not None:
        learner.process.wait(300)  # the handed-over last publish
    learner_done_s = time.perf_counter() - quit_pressed
    return {"typed_chars": typed, "seconds": seconds, "swaps": swaps, "quit_s": quit_s,
            "learner_done_s": learner_done_s}


def static_bpc(model_name: str, paths: list[Path], max_bytes: int) -> tuple[float, int]:
    from charcomplete.evaluate.evaluation import evaluate
    from charcomplete.learn import corpus
    from charcomplete.storage import store

    documents = corpus.scan(paths).documents
    result = evaluate(store.load_model(model_name), documents, False, max_bytes=max_bytes, ksr_bytes=0)
    return result["bpc"], result["bytes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to type (default 5)")
    parser.add_argument("--cps", type=float, default=8.0, help="typing speed, characters per second (default 8)")
    parser.add_argument("--model", default="default", help="the model to start from (default: the built-in one)")
    parser.add_argument("--publish-every", type=float, default=25.0, help="learner publish interval, s (default 25)")
    parser.add_argument("--notes", type=Path, default=NOTES, help="the notes corpus (default: the notes benchmark's)")
    parser.add_argument("--heldout", type=Path, nargs="*", default=None, help="held-out sets to score on")
    parser.add_argument("--max-bytes", type=int, default=100_000, help="bytes scored per held-out set")
    parser.add_argument("--json", type=Path, help="also write every figure here as JSON")
    args = parser.parse_args()
    if args.minutes <= 0 or args.cps <= 0:
        parser.error("--minutes and --cps must be positive")
    if not args.notes.is_dir():
        print(f"skipped: the notes corpus is not at {args.notes}")
        return
    heldout = [p for p in (args.heldout if args.heldout is not None else DEFAULT_HELDOUT) if p.exists()]
    os.environ["CHARCOMPLETE_HOME"] = tempfile.mkdtemp(prefix="editor-learning-home-")

    notes = notes_split(args.notes)[1]
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in notes)
    budget = int(args.minutes * 60 * args.cps)
    log(f"typing up to {min(budget, len(text)):,} of {len(text):,} characters of held-out notes "
        f"for {args.minutes} min with the learner on")
    run = asyncio.run(type_notes(args, text))
    untyped_files, start = [], 0
    for path in notes:  # the files the typing never reached: the same author, never seen by the learner
        if start >= run["typed_chars"]:
            untyped_files.append(path)
        start += len(path.read_text(encoding="utf-8", errors="replace"))

    from charcomplete.learn.learner import log_path
    from charcomplete.storage import store

    after = store.current_model_name()
    logged = log_path().read_text(encoding="utf-8", errors="replace") if log_path().exists() else ""
    publishes = logged.count("] published ")
    refusals = [line.split("publish refused", 1)[1] for line in logged.splitlines() if "publish refused" in line]
    sets = [(p.name, [p]) for p in heldout]
    if untyped_files:
        sets.append(("untyped held-out notes", untyped_files))
    rows = []
    for label, paths in sets:
        before_bpc, size = static_bpc(args.model, paths, args.max_bytes)
        after_bpc = static_bpc(after, paths, args.max_bytes)[0] if after != args.model else before_bpc
        rows.append({"set": label, "bytes": size, "before": before_bpc, "after": after_bpc})
        log(f"{label}: {before_bpc:.3f} -> {after_bpc:.3f}")

    print(f"machine: {describe('')}")
    print(f"typed {run['typed_chars']:,} characters in {run['seconds']:.0f} s into the editor starting from "
          f"{args.model!r}; the learner published {publishes} time(s) into {after!r}, "
          f"refused {len(refusals)}, {run['swaps']} swap(s) in the editor")
    print(f"quit: the editor exited {run['quit_s']:.2f} s after Ctrl+Q; the learner finished its handed-over "
          f"publish {run['learner_done_s']:.2f} s after it, in the background")
    for reason in refusals[:5]:
        print(f"  refused{reason}")
    print(f"{'held-out set (static)':<28} {'bytes':>9} {'before':>7} {'after':>7} {'change':>7}")
    for row in rows:
        print(f"{row['set']:<28} {row['bytes']:>9,} {row['before']:>7.3f} {row['after']:>7.3f} "
              f"{row['after'] - row['before']:>+7.3f}")
    if args.json:
        args.json.write_text(json.dumps({"run": run, "model": after, "publishes": publishes,
                                         "refusals": refusals, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
