"""The learner process's log lines: `learner.log` in the state folder is its stderr (capped and
without document text: `core.logs`), one stamped line per event, flushed as written so that a
process killed mid-session leaves a log that says how far it got."""

from __future__ import annotations

import os
import sys
import time


def log(text: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} [{os.getpid()}] {text}", file=sys.stderr, flush=True)
