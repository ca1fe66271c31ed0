"""The language server's model work (lsp/model_work.py), with real threads: a keystroke's job
runs on the asking thread when the model thread is idle, and after the queued jobs, in order,
on the model thread when it is not; one thread asks."""

from __future__ import annotations

import threading

import pytest

from charcomplete.lsp.model_work import ModelWork


@pytest.fixture
def work():
    work = ModelWork()
    yield work
    work.shutdown()


def test_a_short_job_runs_here_when_the_model_thread_is_idle(work):
    future = work.soon(threading.get_ident)
    assert future.done() and future.result() == threading.get_ident()


def test_a_short_job_waits_behind_a_long_one_in_order(work):
    release, ran = threading.Event(), []

    def long_job():
        release.wait(10)
        ran.append(("long", threading.get_ident()))

    first = work.later(long_job)
    second = work.soon(lambda: ran.append(("short", threading.get_ident())))
    assert not second.done()  # queued behind the long job, not run here
    release.set()
    second.result(10)
    assert first.done()
    assert [name for name, _ in ran] == ["long", "short"]
    assert {thread for _, thread in ran} != {threading.get_ident()}  # both on the model thread
    # Once the model thread is idle again, a short job runs here again.
    assert work.soon(threading.get_ident).result() == threading.get_ident()


def test_a_failure_reaches_the_caller_through_the_future(work):
    def fail():
        raise ValueError("no such document")

    future = work.soon(fail)
    with pytest.raises(ValueError, match="no such document"):
        future.result()


def test_only_one_thread_may_ask(work):
    work.soon(lambda: None)
    errors = []

    def other():
        try:
            work.soon(lambda: None)
        except RuntimeError as error:
            errors.append(str(error))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(10)
    assert errors and "one thread" in errors[0]
