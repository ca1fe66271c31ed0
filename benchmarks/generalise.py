"""Does a model generalise to a stranger's text? (issue 11)

    python benchmarks/generalise.py                                  # the built-in model
    python benchmarks/generalise.py --models default,../build/default-model/home/data/models/default
    python benchmarks/generalise.py --static-only                    # minutes, not an hour
    python benchmarks/generalise.py --new-user-minutes 10            # + the new-user protocol

Held-out sets (data/pretrain_corpus.py), never trained on by the built-in model: whole
sources of the pretraining corpus (the Rust book; cheat/cheatsheets' shell commands) and the
notes benchmark's held-out notes. For each model and set, on the first --max-bytes: static
bits per character, next-character top-1 and keystroke savings (on the first --ksr-bytes),
then the same read adaptively (`eval --adapt`: dynamic evaluation and the cache). Beside each
model figure, the anchors (benchmarks/anchors.py): PPMd var.H order 24 and xz reading the same
text cold, and for a model trained on the user's text (the new-user and stranger runs), PPMd
and xz conditional on that text (training + held-out, less the training alone); the ratios
adapting / PPMd cold and adapting / PPMd conditional are the issue 23 targets (<= 0.80 and
<= 0.88).

--new-user-minutes M runs the new-user protocol first: in a fresh home, `charcomplete train
<the notes benchmark's training notes> --minutes M` with no other option (it fine-tunes this
checkout's built-in model), then scores that model too: on the held-out notes (did it learn
the user?) and on the held-out sources (what did fine-tuning cost elsewhere?).
--stranger SET does the same (`train --minutes` --stranger-minutes) for a new user the built-in
model never saw: their text is the held-out set SET (rust-book, cheatsheets) past the part scored.
--new-user "OPTIONS" (repeatable) does the same with other `train` options, to choose the
fine-tuning defaults; --new-user-model FOLDER scores the model such a run trained before (the
scoring is the slow part: a run cut off after its training goes on from there). E.g.
--new-user="--steps 600 --lr 3e-4" --new-user="--steps 600 --lr 1e-3" (a fixed number of updates, so
that the comparison does not depend on the machine's load).

A model is a name in CHARCOMPLETE_HOME (or the built-in `default`) or a model folder's path.
Needs ../shared/corpora (skips with a message when it is absent)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "data"))  # first: benchmarks/ has a notes_benchmark.py of its own
from anchors import anchors  # noqa: E402
from machine import describe  # noqa: E402
from notes_benchmark import NOTES, notes_split  # noqa: E402
from pretrain_corpus import PRETRAIN, copy_files, held_out_sets  # noqa: E402

HEADER = (f"{'held-out set':<12} {'model':<36} {'static':>7} {'top-1':>6} {'KSR':>6} {'both':>6} {'adapt':>7} "
          f"{'top-1':>6} {'KSR':>6} {'both':>6} {'ppmd':>6} {'ppmd|t':>6} {'xz':>6} {'xz|t':>6} {'a/ppmd':>6} "
          f"{'a/p|t':>6}")
# KSR: keystroke savings of a typist who takes whole suggestions (Tab); both: one who also takes
# a suggestion's first word (Ctrl+Right) when only that fits (charcomplete.evaluate.evaluation).
# ppmd, xz: the anchors read cold; |t: conditional on the model's training text (new-user runs);
# a/ppmd, a/p|t: the adapting bpc over PPMd cold and PPMd conditional.


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load(spec: str):
    from charcomplete.storage import store

    if "/" in spec:
        folder = Path(spec).expanduser().resolve()
        return store.load_from_folder(folder, folder.name)
    return store.load_model(spec)


def new_user(options: list[str], work: Path, files: list[Path] | None = None, base: Path = NOTES) -> Path:
    """The new-user protocol in a fresh home under `work`: `charcomplete train <text> OPTIONS`, the
    text being `files` (kept under `base`'s layout) or the notes benchmark's training notes;
    returns the trained model's folder."""
    text = work / "text"
    if not text.is_dir():
        copy_files(files if files is not None else notes_split()[0], base, text)
    home = work / "home"
    command = [sys.executable, "-m", "charcomplete", "train", str(text), *options]
    log("charcomplete " + " ".join(command[3:]))
    done = subprocess.run(command, env={**os.environ, "CHARCOMPLETE_HOME": str(home)}, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(f"the new-user training failed: {done.stderr.strip()[-500:]}")
    print(done.stderr.splitlines()[0])
    print(done.stdout.strip())
    return home / "data" / "models" / "mine"


def unscored(files: list[Path], max_bytes: int) -> list[Path]:
    """The whole files after the first `max_bytes` of their concatenation (which is what is scored)."""
    out, position = [], 0
    for path in files:
        if position >= max_bytes:
            out.append(path)
        position += path.stat().st_size
    if not out:
        raise SystemExit("nothing of that set is left past the part scored")
    return out


def row(label: str, name: str, static: dict | None, adaptive: dict | None, anchor: dict) -> str:
    text = f"{label:<12} {name:<36} " + (figures(static) if static else f"{'-':>7} {'-':>6} {'-':>6} {'-':>6}")
    text += " " + (figures(adaptive) if adaptive else f"{'-':>7} {'-':>6} {'-':>6} {'-':>6}")
    best = (adaptive or static)["bpc"]
    cells = [anchor.get(key) for key in ("ppmd", "ppmd_conditional", "xz", "xz_conditional")]
    ratios = [best / anchor[key] if key in anchor else None for key in ("ppmd", "ppmd_conditional")]
    return text + "".join(f" {value:>6.3f}" if value is not None else f" {'-':>6}" for value in cells + ratios)


def scored_text(docs: list[bytes], max_bytes: int) -> bytes:
    """The bytes a model is scored on (the first `max_bytes` of the documents, as `evaluate` cuts them)."""
    return b"".join(docs)[:max_bytes]


def figures(result: dict) -> str:
    """bpc, top-1 and the two keystroke savings of one evaluation."""
    ksr = result.get("ksr") or {}
    savings = " ".join(f"{ksr[k]:>6.1%}" if k in ksr else f"{'-':>6}" for k in ("whole", "both"))
    return f"{result['bpc']:>7.3f} {result['top1']:>6.1%} {savings}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="default", help="comma-separated model names or folders")
    parser.add_argument("--max-bytes", type=int, default=100_000)
    parser.add_argument("--ksr-bytes", type=int, default=20_000)
    parser.add_argument("--static-only", action="store_true", help="skip the adaptive reading (the slow part)")
    parser.add_argument("--adapt-only", action="store_true", help="skip the static reading")
    parser.add_argument("--sets", default=None, help="comma-separated held-out sets (default: all)")
    parser.add_argument("--new-user-minutes", type=float, default=0.0)
    parser.add_argument("--new-user-model", type=Path, default=None, metavar="FOLDER",
                        help="score the model an earlier new-user run trained (its folder, printed by that "
                             "run) instead of training one again")
    parser.add_argument("--new-user", action="append", default=[], metavar="OPTIONS",
                        help="train options for a new-user run (repeatable)")
    parser.add_argument("--stranger", action="append", default=[], metavar="SET",
                        help="also a new user whose text is the held-out set SET past the part scored "
                             "(repeatable)")
    parser.add_argument("--stranger-minutes", type=float, default=10.0, help="their `train --minutes`")
    parser.add_argument("--stranger-options", default="", metavar="OPTIONS", help="more `train` options for them")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if not PRETRAIN.is_dir() or not NOTES.is_dir():
        print("generalisation benchmark skipped: ../shared/corpora is absent")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from charcomplete.evaluate.evaluation import evaluate

    sets = held_out_sets()
    if args.sets:
        sets = {name: sets[name] for name in args.sets.split(",")}
    models = {spec: load(spec) for spec in args.models.split(",") if spec}
    work = Path(tempfile.mkdtemp(prefix="generalise-"))
    training: dict[str, bytes] = {}  # model -> the user's text it was trained on (new-user runs)
    runs = {f"new user ({args.new_user_minutes:g} min)": ["--minutes", str(args.new_user_minutes)]}
    runs = runs if args.new_user_minutes else {}
    runs.update({f"new user ({options})": options.split() for options in args.new_user})
    for number, (label, options) in enumerate(runs.items()):
        models[label] = load(str(new_user(options, work / f"run-{number}")))
        training[label] = b"".join(path.read_bytes() for path in notes_split()[0])
    if args.new_user_model is not None:
        # The scoring is the slow part: a protocol run cut off after its training goes on from its model.
        models["new user (trained before)"] = load(str(args.new_user_model.resolve()))
        training["new user (trained before)"] = b"".join(path.read_bytes() for path in notes_split()[0])
    for name in args.stranger:
        # A stranger: text the built-in model never saw, of the kind scored; the scored part is not trained on.
        files = unscored(sets[name] if name in sets else held_out_sets()[name], args.max_bytes)
        options = ["--minutes", str(args.stranger_minutes), *args.stranger_options.split()]
        folder = new_user(options, work / f"stranger-{name}", files,
                          Path(os.path.commonpath([str(path.parent) for path in files])))
        models[f"new user on {name} ({' '.join(options)})"] = load(str(folder))
        training[f"new user on {name} ({' '.join(options)})"] = b"".join(path.read_bytes() for path in files)
    print(f"machine: {describe()}")
    for spec, model in models.items():
        print(f"model {spec}: {model.config.describe()}, {model.meta.trained_chars:,} characters "
              f"trained, validation {model.meta.best_val_bpc or float('nan'):.3f} bpc on its own split")
    print(f"first {args.max_bytes:,} bytes of each set; keystroke savings on the first {args.ksr_bytes:,}")
    print(HEADER, flush=True)
    report: dict = {"machine": describe(), "max_bytes": args.max_bytes, "ksr_bytes": args.ksr_bytes, "rows": []}
    for set_name, files in sets.items():
        docs = [f.read_bytes() for f in files]
        text = scored_text(docs, args.max_bytes)
        cold = anchors(text)
        for spec, model in models.items():
            anchor = {**cold, **anchors(text, training[spec])} if spec in training else cold
            common = {"max_bytes": args.max_bytes, "ksr_bytes": args.ksr_bytes}
            static = None
            if not args.adapt_only:
                log(f"{set_name}: {spec} static")
                static = evaluate(model, docs, **common)
            adaptive = None
            if not args.static_only:
                log(f"{set_name}: {spec} adapting")
                adaptive = evaluate(model, docs, adapt=True, **common)
            print(row(set_name, Path(spec).name if "/" in spec else spec, static, adaptive, anchor), flush=True)
            report["rows"].append({"set": set_name, "model": spec, "static": static, "adaptive": adaptive,
                                   "anchors": anchor})
            if args.json:
                args.json.write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
