"""Build the default model that ships inside the package (charcomplete/default_model/).

    python data/build_default_model.py [--minutes 20] [--hidden 512]

Training text (sources and licenses in data/README.md):
  1. the notes benchmark's training 90% (til-notes, MIT), never its held-out 10%;
  2. Python's own documentation topics, bundled with CPython as `pydoc_data.topics` (PSF license).
The model is trained with `charcomplete train` itself, in a throw-away CHARCOMPLETE_HOME,
then its files are copied into the package."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notes_benchmark import NOTES, ROOT, link_tree, notes_split  # noqa: E402

PACKAGE_MODEL = ROOT / "charcomplete" / "default_model"


def write_python_docs(target: Path) -> int:
    import pydoc_data.topics

    target.mkdir(parents=True, exist_ok=True)
    for name, text in sorted(pydoc_data.topics.topics.items()):
        (target / f"{name}.txt").write_text(text, encoding="utf-8")
    return len(pydoc_data.topics.topics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--arch", default="gru")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--continue", dest="resume", action="store_true",
                        help="start from the packaged default model's weights instead of from scratch")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--dropout", type=float, default=None, help="dropout while training (default: none)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: the free cores)")
    args = parser.parse_args()
    if not NOTES.is_dir():
        sys.exit(f"the notes corpus is absent ({NOTES}); it lives in ../shared/corpora beside the checkout")
    train_files, held_out = notes_split()
    with tempfile.TemporaryDirectory() as work:
        text = Path(work) / "text"
        link_tree(train_files, NOTES, text / "notes")
        topics = write_python_docs(text / "python-docs")
        print(f"training text: {len(train_files)} notes (held out: {len(held_out)}), {topics} Python doc topics")
        home = Path(work) / "home"
        command = [sys.executable, "-m", "charcomplete", "train", str(text), "--model", "default",
                   "--minutes", str(args.minutes), "--precision", args.precision]
        if args.resume:  # the packaged model is what "default" means in an empty home
            command += ["--from", "default"]
        else:
            command += ["--arch", args.arch, "--hidden", str(args.hidden), "--layers", str(args.layers)]
        for option, value in (("--lr", args.lr), ("--dropout", args.dropout), ("--threads", args.threads)):
            if value is not None:
                command += [option, str(value)]
        subprocess.run(command, check=True, env={**os.environ, "CHARCOMPLETE_HOME": str(home)})
        built = home / "data" / "models" / "default"
        shutil.rmtree(PACKAGE_MODEL, ignore_errors=True)
        PACKAGE_MODEL.mkdir(parents=True)
        for path in built.iterdir():
            if path.suffix in (".json", ".safetensors") and not path.name.startswith("optim-"):
                shutil.copy2(path, PACKAGE_MODEL / path.name)
                (PACKAGE_MODEL / path.name).chmod(0o644)  # package data: readable by every user of the install
    _drop_optimizer_reference(PACKAGE_MODEL / "meta.json")
    print(f"default model written to {PACKAGE_MODEL}")


def _drop_optimizer_reference(meta_path: Path) -> None:
    """The package ships weights only: optimizer state would double the size for no user benefit,
    and the sources recorded are paths on the build machine."""
    import json

    meta = json.loads(meta_path.read_text())
    meta.pop("optimizer", None)
    meta.pop("optimizer_sha256", None)
    meta["sources"] = []
    meta["training_text"] = "til-notes training 90% (MIT) + Python documentation topics (PSF); see data/README.md"
    meta_path.write_text(json.dumps(meta, indent=1))
    meta_path.chmod(0o644)


if __name__ == "__main__":
    main()
