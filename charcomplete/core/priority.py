"""Background work that must never delay a keystroke: Linux's idle scheduling class.

A thread or process in SCHED_IDLE runs only on CPU time nothing else wants, so a suggestion
never waits behind a training step. Niceness alone is not enough: nice 10 still weighs a tenth
of a normal thread, and on the quiet 2-core machine the language server's keystroke p99 was
8.2 ms without its learner and 11.5 ms with it at nice 10; with its online-weights thread at
normal priority (dynamic evaluation, a torch step every 32 typed bytes) 7.8-7.9 ms, in
SCHED_IDLE 6.0 ms (BENCHMARKS.md, "Language server and shell")."""

from __future__ import annotations

import os
import threading


def run_when_idle(whole_process: bool = False) -> bool:
    """Put the calling thread (or, with `whole_process`, the process: threads it starts later
    inherit the class) in the idle scheduling class; False where the platform has none or
    refuses (the work then runs at its priority as before)."""
    if not (hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")):
        return False
    target = 0 if whole_process else threading.get_native_id()  # Linux schedules threads by their id
    try:
        os.sched_setscheduler(target, os.SCHED_IDLE, os.sched_param(0))
    except OSError:
        return False
    return True
