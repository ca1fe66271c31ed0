"""Build the default model that ships inside the package (charcomplete/default_model/).

    python data/build_default_model.py                 # start, or go on with, the long run; then export
    python data/build_default_model.py --export-only   # copy the run's best model into the package now

The run lives in a work folder beside the checkout (--work, default ../build/default-model),
so it survives a new checkout and is resumed where it stopped: `charcomplete train --resume
--until-step N` follows one learning-rate schedule across sittings, and a run killed at any
point loses at most one checkpoint interval (2 minutes): past its best, a run checkpoints its
latest state beside the best weights. Training text and held-out sets: data/pretrain_corpus.py;
sources and licenses: data/README.md.

The model is trained with `charcomplete train` itself, in the work folder's own
CHARCOMPLETE_HOME; export copies its weights and metadata (not the optimizer state) into the
package, with `heldout.txt`: general text the model never trained on, which the editor's
learner checks every new version against so that learning from the user never makes the
model worse at everything else."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pretrain_corpus import HELD_OUT_SOURCES, ROOT, assemble, check_present  # noqa: E402

PACKAGE_MODEL = ROOT / "charcomplete" / "default_model"
DEFAULT_WORK = ROOT.parent / "build" / "default-model"
NAME = "default"
BATCH, SEQ = 64, 128
VAL_BYTES = 131072  # what `train` validates on (the first part of the mixed validation documents)
HELDOUT_BYTES = 32768  # the general held-out slice shipped with the model


def model_folder(work: Path) -> Path:
    return work / "home" / "data" / "models" / NAME


def train(args: argparse.Namespace) -> None:
    text = args.work / "text"
    if not (args.work / "text.done").is_file():
        check_present()
        summary = assemble(text)
        (args.work / "text.done").write_text(summary + "\n")
        print(f"training text: {summary}", flush=True)
    command = [sys.executable, "-m", "charcomplete", "train", str(text), "--model", NAME,
               "--until-step", str(args.until_step), "--precision", args.precision, "--batch-size", str(BATCH),
               "--seq-len", str(SEQ), "--eval-every", str(args.eval_minutes * 60)]
    if (model_folder(args.work) / "meta.json").is_file():
        command.append("--resume")
        if args.lr is not None:  # a continuation of an annealed run re-warms gently (data/README.md)
            command += ["--lr", str(args.lr)]
    else:
        cell, size = args.shape.split("-")
        layers, hidden = size.split("x")
        command += ["--scratch", "--arch", cell, "--layers", layers, "--hidden", hidden, "--lr", str(args.lr or 2e-3)]
        if args.dropout:
            command += ["--dropout", str(args.dropout)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    env = {**os.environ, "CHARCOMPLETE_HOME": str(args.work / "home")}
    print(" ".join(command), flush=True)
    subprocess.run(command, check=True, env=env)


def general_heldout(text: Path) -> bytes:
    """HELDOUT_BYTES of validation documents (never trained on) past the part `train` validates on,
    mixed across sources the way `train` mixes them, cut at a line end."""
    from charcomplete.learn import corpus

    scanned = corpus.scan([text])
    _, val_docs = corpus.split(scanned.documents, 0.1)
    data = b"\n".join(doc.data for doc in corpus.mixed_order(val_docs))
    piece = data[VAL_BYTES : VAL_BYTES + HELDOUT_BYTES]
    piece = piece[: piece.rfind(b"\n") + 1]
    return piece.decode("utf-8", errors="ignore").encode("utf-8")


def heldout_bpc(folder: Path, heldout: bytes) -> float:
    import numpy as np

    from charcomplete.learn.training import Trainer
    from charcomplete.storage import store

    loaded = store.load_from_folder(folder, NAME)
    return Trainer(loaded.config, loaded.weights).evaluate(np.frombuffer(b"\0" + heldout, dtype=np.uint8))


CURVE_PNG = ROOT / "data" / "default-model-curve.png"


def write_curve(meta: dict, path: Path = CURVE_PNG) -> None:
    """The run's learning curve (validation and training bpc against characters trained) as a PNG."""
    from charcomplete.evaluate.plot import write_png

    # From the first check on: the untrained weights' 8 bpc would flatten the rest of the curve.
    history = [h for h in meta.get("history", []) if h.get("by") is None and h.get("step", 0) > 0 and "chars" in h]
    series = {
        "validation": [(h["chars"], h["val_bpc"]) for h in history if h.get("val_bpc") is not None],
        "training (recent average)": [(h["chars"], h["train_bpc"]) for h in history if h.get("train_bpc")],
    }
    write_png(path, series, title="built-in model: bits per character while pretraining",
              x_label="characters trained", y_label="bpc")


def export(work: Path) -> None:
    built = model_folder(work)
    meta = json.loads((built / "meta.json").read_text())
    shutil.rmtree(PACKAGE_MODEL, ignore_errors=True)
    PACKAGE_MODEL.mkdir(parents=True)
    weights = PACKAGE_MODEL / meta["weights"]
    shutil.copyfile(built / meta["weights"], weights)
    meta.pop("optimizer", None)  # weights only: optimizer state would double the size for no user benefit
    meta.pop("optimizer_sha256", None)
    meta["sources"] = []  # paths on the build machine
    meta["exclude"] = []
    meta["training_text"] = ("pretraining corpus of 14 permissively licensed sources (held out: "
                             f"{', '.join(HELD_OUT_SOURCES)}) + til-notes training 90% (repeated: "
                             "pretrain_corpus.NOTES_REPEATS) + Python documentation topics; see data/README.md")
    heldout = general_heldout(work / "text")
    # Its figure on heldout.txt, read the way the editor's learner reads it, so that `models`
    # shows it and a learner starting from this model starts from the same number.
    meta["heldout_bpc"] = meta["heldout_baseline_bpc"] = heldout_bpc(built, heldout)
    (PACKAGE_MODEL / "meta.json").write_text(json.dumps(meta, indent=1))
    (PACKAGE_MODEL / "heldout.txt").write_bytes(heldout)
    # The online step's RMS statistics (learn/adapt.py), measured on that heldout.txt.
    from charcomplete.learn.adapt import write_statistics
    from charcomplete.storage.store import load_from_folder

    exported = load_from_folder(PACKAGE_MODEL, "default")
    write_statistics(PACKAGE_MODEL, exported.config, exported.weights)
    for path in PACKAGE_MODEL.iterdir():
        path.chmod(0o644)  # package data: readable by every user of the install
    write_curve(meta)
    print(f"default model (step {meta['steps']:,}, validation {meta['best_val_bpc']:.3f} bpc) written to "
          f"{PACKAGE_MODEL}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where the run and its text live")
    parser.add_argument("--shape", default="gru-1x512", help="cell-LAYERSxHIDDEN for a new run (BENCHMARKS.md)")
    parser.add_argument("--until-step", type=int, default=11_000,
                        help="updates in all, across sittings (4,264 per pass over the text at 64 x 128)")
    parser.add_argument("--lr", type=float, default=None,
                        help="peak learning rate: a new run's (default 2e-3), or a resumed run's new one "
                             "(default: the rate it was trained at)")
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (0: the free cores)")
    parser.add_argument("--eval-minutes", type=float, default=2.0)
    parser.add_argument("--export-only", action="store_true", help="skip training; export the run's best model")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if not args.export_only:
        try:
            train(args)
        except KeyboardInterrupt:
            pass  # train keeps the best model on Ctrl-C; export it
        except subprocess.CalledProcessError as error:
            sys.exit(f"training stopped with exit code {error.returncode} (its message is above); nothing exported")
    export(args.work)


if __name__ == "__main__":
    main()
