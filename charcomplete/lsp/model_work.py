"""The language server's model work: one job at a time, in the order it was asked for.

Long jobs (opening a document, which reads it through the model; new weights) run
on a worker thread, the model thread, so the protocol thread goes on reading messages
meanwhile. A keystroke's jobs (reading the edit, the suggestion) are bounded by the
keystroke's 2.5 ms budget, and they run on the asking thread itself when the model thread has
nothing queued or running: every hand-off to another thread wakes a sleeping one, and on this
project's two-core virtual machine a woken thread sometimes got a core only 3-5 ms later (in
the slowest keystrokes the model thread started a request 3.8 ms after it was handed over,
with nothing else to do). Six alternating runs of benchmarks/lsp_latency.py: round-trip p99
5.1-6.7 ms with the keystroke's jobs inline against 7.0-8.1 ms handed over (BENCHMARKS.md).

Only one thread may ask (the server's event loop): a job runs inline only while no other job
is queued or running, and nothing can be queued meanwhile because the one thread that queues
is the one running it, so the sessions never run on two threads at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor


class ModelWork:
    """Runs the model's jobs one at a time in submission order (see the module's docstring)."""

    def __init__(self, name: str = "charcomplete-model"):
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._queued = 0  # jobs handed to the model thread and not finished
        self._owner: int | None = None  # the one thread that may submit

    def later(self, function: Callable, *args) -> Future:
        """Run `function(*args)` on the model thread, after every job asked for before it."""
        self._check_owner()
        with self._lock:
            self._queued += 1
        future = self._pool.submit(function, *args)
        future.add_done_callback(self._finished)
        return future

    def soon(self, function: Callable, *args) -> Future:
        """Run `function(*args)` now on this thread when the model thread is idle (the future is
        then done when this returns), else after the jobs it has, as `later` does. For short
        jobs only: the protocol thread reads no message while it runs."""
        self._check_owner()
        with self._lock:
            idle = self._queued == 0
        if not idle:
            return self.later(function, *args)
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except BaseException as error:  # the caller's await raises it, as a worker's failure would
            future.set_exception(error)
        return future

    def shutdown(self) -> None:
        """Drop the jobs not started, wait for the one running."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _finished(self, _future: Future) -> None:
        with self._lock:
            self._queued -= 1

    def _check_owner(self) -> None:
        me = threading.get_ident()
        if self._owner is None:
            self._owner = me
        elif self._owner != me:
            raise RuntimeError("model work is asked for from one thread only (the server's event loop)")
