"""What the surfaces gave before issue 23: the pre-wave code's `eval --adapt --no-dynamic` (the
typing cache and the model's memory, no gradient steps: how its editor, language server and
shells adapted) on each held-out set, for the new-user protocol's keystroke-savings baseline.

Run it inside a checkout of the pre-wave code (91fe71a; its module layout is flat), on a
model this checkout's `generalise.py --new-user-minutes 10` trained (its folder):

    git worktree add ../before 91fe71a && cd ../before
    PYTHONPATH=. python ../charcomplete/benchmarks/surfaces_before.py MODEL_FOLDER

First 100 kB of each set, keystroke savings on the first 20 kB, as generalise.py scores them.
Prints one JSON line per set."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path.cwd()  # the pre-wave checkout
sys.path.insert(0, str(ROOT / "data"))
from pretrain_corpus import held_out_sets  # noqa: E402

from charcomplete import store  # noqa: E402  (the pre-wave layout)
from charcomplete.evaluate import evaluate  # noqa: E402


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: surfaces_before.py MODEL_FOLDER (run inside the pre-wave checkout)")
    folder = Path(sys.argv[1]).resolve()
    model = store.load_from_folder(folder, folder.name)
    for name, files in held_out_sets().items():
        started = time.time()
        result = evaluate(model, [path.read_bytes() for path in files], adapt=True, dynamic=False,
                          max_bytes=100_000, ksr_bytes=20_000)
        ksr = result.get("ksr") or {}
        print(json.dumps({"set": name, "bpc": result["bpc"], "ksr": ksr.get("whole"), "ksr_both": ksr.get("both"),
                          "seconds": round(time.time() - started)}), flush=True)


if __name__ == "__main__":
    main()
