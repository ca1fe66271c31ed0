"""The language server's stdin reader (`charcomplete.lsp._Reader`) under pygls' own message loop:
a handler starts before the next message is read, and a handler that yields once finds a
message that had already arrived read (a burst of keys: its request is stale, answered empty
without a search)."""

from __future__ import annotations

import asyncio
import json
import threading

from pygls.io_ import run_async

from charcomplete.lsp import _Reader


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class _Recorder:
    """What run_async needs of a protocol: it records each message, and on the first starts a
    handler task, as pygls does for an async request handler."""

    def __init__(self):
        self.methods: list[str] = []
        self.seen_by_handler: dict[str, list[str]] = {}
        self.tasks: list[asyncio.Task] = []

    def structure_message(self, data):
        return data

    def handle_message(self, message):
        self.methods.append(message["method"])
        if len(self.methods) == 1:
            self.tasks.append(asyncio.ensure_future(self._handler()))

    async def _handler(self):
        self.seen_by_handler["at start"] = list(self.methods)
        await asyncio.sleep(0)  # what the server's _suggest does before it searches
        self.seen_by_handler["after one yield"] = list(self.methods)


def test_a_handler_starts_first_and_after_one_yield_sees_the_message_that_had_arrived():
    async def scenario() -> _Recorder:
        stream = asyncio.StreamReader()
        stream.feed_data(_frame({"jsonrpc": "2.0", "id": 1, "method": "textDocument/inlineCompletion"})
                         + _frame({"jsonrpc": "2.0", "method": "textDocument/didChange"}))
        stream.feed_eof()
        recorder = _Recorder()
        await run_async(stop_event=threading.Event(), reader=_Reader(stream), protocol=recorder)
        await asyncio.gather(*recorder.tasks)
        return recorder

    recorder = asyncio.run(scenario())
    assert recorder.methods == ["textDocument/inlineCompletion", "textDocument/didChange"]
    assert recorder.seen_by_handler["at start"] == ["textDocument/inlineCompletion"]  # before the edit
    assert recorder.seen_by_handler["after one yield"] == recorder.methods  # the edit was read meanwhile


def test_a_cut_stream_ends_the_loop_quietly():
    async def scenario() -> _Recorder:
        stream = asyncio.StreamReader()
        stream.feed_data(b"Content-Length: 50\r\n\r\n{\"jsonrpc\"")  # the body cut short
        stream.feed_eof()
        recorder = _Recorder()
        await run_async(stop_event=threading.Event(), reader=_Reader(stream), protocol=recorder)
        return recorder

    assert asyncio.run(scenario()).methods == []
