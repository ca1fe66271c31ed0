"""`charcomplete lsp`: a language server that suggests as you type (LSP 3.18 inline
completion, and a completion item for clients without it).

- documents.py: open documents as lines, edited in place (no pygls workspace)
- models.py: a Completer and a typing cache per document, used from one model thread
- server.py: the pygls wiring, requests, commands, the background learner

pygls is imported only here, when the `lsp` command runs."""

from __future__ import annotations

import logging
import sys

from charcomplete.core.paths import locations, private_dir

LOG_NAME = "lsp.log"  # under the state folder: what the servers logged (capped, no text: core.logs)


def run(settings) -> None:
    """Serve on stdin/stdout until the client says exit or goes away."""
    from charcomplete.core.exclusions import Exclusions
    from charcomplete.lsp.server import CharcompleteLanguageServer
    from charcomplete.model.engine import Engine
    from charcomplete.storage import store

    exclusions = Exclusions.of([*store.exclude_patterns(), *settings.exclude])  # a damaged list: refuse to start
    engine = Engine.load(settings.model)
    _log_to_file()
    # The model thread computes in Python most of the time; by default another thread waits up
    # to 5 ms for the GIL, which a keystroke would feel. Reading the next message needs it briefly.
    sys.setswitchinterval(0.0005)
    server = CharcompleteLanguageServer(engine, settings, exclusions)
    try:
        code = _serve_stdio(server)
    finally:
        server.close()
    if code:
        raise SystemExit(code)  # `exit` without `shutdown` first: 1, as the protocol says


def _serve_stdio(server) -> int:
    """pygls' message loop, reading stdin with the event loop's own pipe reader.

    pygls' start_io reads each header line and each body through its thread pool: three
    thread hand-offs per message, a few milliseconds a keystroke on a busy machine. The
    loop itself (pygls.io_.run_async) is the one pygls runs over TCP."""
    import asyncio
    import os
    import stat
    import threading

    if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode) and not stat.S_ISSOCK(
            os.fstat(sys.stdin.fileno()).st_mode):
        server.start_io(sys.stdin.buffer, sys.stdout.buffer)  # a file or a terminal: pygls' own reader
        return 0
    from pygls.io_ import StdoutWriter, run_async

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(limit=_MAX_HEADER_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), sys.stdin.buffer)
        server.protocol.set_writer(StdoutWriter(sys.stdout.buffer))
        await run_async(stop_event=threading.Event(), reader=_Reader(stream), protocol=server.protocol,
                        logger=logging.getLogger("pygls.io_"), error_handler=server.report_server_error)

    try:
        asyncio.run(main())
    except SystemExit as end:  # `exit` ends the loop this way
        return end.code if isinstance(end.code, int) else 0
    except (KeyboardInterrupt, BrokenPipeError):
        pass  # a vanished client
    finally:
        server.shutdown()
    return 0


_MAX_HEADER_LINE = 64 * 1024


class _Reader:
    """An asyncio StreamReader that ends the message loop (returns b"") on a cut or garbled
    stream rather than raising out of it, and that lets the handlers of the message just
    dispatched start before the next one is read, as pygls' thread reader does: a request
    copies the text it is about when it arrives, before a later edit is applied. It yields
    once a message, not once a header line: a request that yields once itself (the server's
    `_suggest`) then finds a message that had already arrived read, and its text moved on."""

    def __init__(self, stream):
        self.stream = stream
        self._message_start = True  # the next line read is a message's first

    async def readline(self) -> bytes:
        import asyncio

        if self._message_start:
            self._message_start = False
            await asyncio.sleep(0)  # without it, buffered messages are dispatched back to back
        try:
            return await self.stream.readline()
        except (ValueError, asyncio.LimitOverrunError):
            return b""  # a "header" longer than any header: not an LSP client

    async def readexactly(self, n: int) -> bytes:
        import asyncio

        self._message_start = True  # a body: the message's end
        try:
            return await self.stream.readexactly(n)
        except asyncio.IncompleteReadError:
            return b""


def _log_to_file() -> None:
    """pygls logs warnings (an unknown cancel id, a dropped message) through `logging`; stderr is
    the client's log window, so they go to a private file instead: capped, and with pygls'
    values (a malformed message's params: the user's text) left out."""
    from charcomplete.core.logs import CappedFileHandler

    path = private_dir(locations().state) / LOG_NAME
    handler = CappedFileHandler(path)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
