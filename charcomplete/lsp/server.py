"""`charcomplete lsp`: suggestions as a language server (LSP 3.18 inline completion), on stdio.

Threads: pygls reads and answers messages on its event loop (the protocol thread); open
documents are edited there (documents.py, a few microseconds a keystroke). What touches the
model runs one job at a time (model_work.py): the long jobs (opening a document, new
weights) on the model thread, so that reading messages goes on meanwhile, and a
keystroke's reading and suggestion, bounded by its 2.5 ms budget, on the protocol thread
itself when the model thread is idle (a hand-off to a sleeping thread cost milliseconds in
the slowest keystrokes).

A request is answered for the text it was asked about or not at all: the text before
the cursor is copied on the protocol thread when the request arrives (an async handler
runs up to its first `await` before pygls reads the next message), and when the
document's version moved on before the answer is ready, the answer is empty.
`$/cancelRequest` cancels the waiting handler, and pygls answers RequestCancelled.

Learning works as in the editor: each document's cache counts what is typed, and the
background learner process (charcomplete.learn.learner) fine-tunes the model on the documents
opened and saved, publishing only better weights, which are swapped in here. Excluded
files (the settings' "exclude" globs and --exclude) are not even kept in memory: no
suggestions, nothing learned."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidRequest
from pygls.lsp.server import LanguageServer
from pygls.protocol.json_rpc import RPCRequest
from pygls.protocol.language_server import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path

from charcomplete import __version__
from charcomplete.core.exclusions import Exclusions
from charcomplete.lsp.documents import UTF16, Document, Position
from charcomplete.lsp.model_work import ModelWork
from charcomplete.lsp.models import DocumentModels, Snapshot
from charcomplete.model.engine import PRIME_WINDOW
from charcomplete.suggest.policy import IN_DOCUMENTS, INTERACTIVE_BUDGET_MS

ACCEPTED = "charcomplete.accepted"  # sent back by the client when a suggestion is taken
PAUSE = "charcomplete.pauseLearning"
RESUME = "charcomplete.resumeLearning"
STATUS = "charcomplete.status"
MAX_DOCUMENT_CHARS = 32 * 1024 * 1024  # the editor's limit: a bigger file is not prose; it gets nothing
SPAN = 16 * 1024  # characters of text before the cursor handed to the Completer, at most...
MIN_SPAN = 2 * PRIME_WINDOW  # ...and at least, unless it starts at the document start
MAX_ALTERNATIVES = 4
KEYSTROKE_S = INTERACTIVE_BUDGET_MS / 1e3  # a request this soon after an edit belongs to its keystroke

logger = logging.getLogger("charcomplete.lsp")


@dataclass
class _Open:
    """An open document as the protocol thread tracks it."""

    document: Document
    anchor: Position | None = None  # where the text handed to the model starts (None: choose again)
    requests: int = 0  # inline/completion requests so far: a newer one makes an older one stale
    edited_at: float = -math.inf  # when the last edit arrived (time.perf_counter())


@dataclass
class Counters:
    shown: int = 0  # answers that carried a suggestion
    accepted: int = 0  # suggestions the client reported taken
    accepted_chars: int = 0
    excluded_documents: int = 0


@dataclass
class LspSettings:
    model: str | None = None  # None: the model in use
    learn: bool = True
    exclude: tuple[str, ...] = ()  # on top of the settings file's "exclude"
    learner_settings: object | None = None  # learner.LearnerSettings; None: its defaults
    suggest_options: dict = field(default_factory=lambda: dict(IN_DOCUMENTS))  # a document's policy fields


class _Protocol(LanguageServerProtocol):
    """pygls' protocol, with open documents kept by charcomplete (documents.py) rather than
    in pygls' workspace (which re-splits a whole document into lines for every edit), and
    a malformed request, or one after `shutdown`, answered with an error instead of left unanswered."""

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def handle_message(self, message):
        # After `shutdown` pygls drops every message but `exit`, so a client that asks again waits
        # forever; the spec says a request then gets InvalidRequest (notifications are dropped).
        if self._shutdown and isinstance(message, RPCRequest) and message.method != types.EXIT:
            self._send_response(message.id, error=_after_shutdown(message.method).to_response_error())
            return
        super().handle_message(message)

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "id" in data and "method" in data:
                after_shutdown = self._shutdown and data["method"] != types.EXIT  # whatever else is wrong with it
                answer = _after_shutdown(data["method"]) if after_shutdown else error
                self._send_response(data["id"], error=answer.to_response_error())
            return _Ignored()


def _after_shutdown(method) -> JsonRpcInvalidRequest:
    return JsonRpcInvalidRequest(f"{method} after shutdown: the server is shutting down")


class _Ignored:
    """A message that could not be read (already answered): handle_message drops it."""

    jsonrpc = "ignored"


class CharcompleteLanguageServer(LanguageServer):
    def __init__(self, engine, settings: LspSettings, exclusions: Exclusions):
        super().__init__("charcomplete", __version__, protocol_cls=_Protocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.settings = settings
        self.exclusions = exclusions
        self.documents: dict[str, _Open] = {}
        self.models = DocumentModels(engine, learn=settings.learn, suggest_options=dict(settings.suggest_options))
        self.model_work = ModelWork()
        self.counters = Counters()
        self.latencies_ms: deque[float] = deque(maxlen=1000)  # request arrival to answer, inside the server
        self.learner = None
        self.learning = "on" if settings.learn else "off"  # on, paused, off, error
        self.learner_steps = 0
        self._register()

    # ------------------------------------------------------------ features

    def _register(self) -> None:
        features = [
            (types.INITIALIZED, None, self._initialized),
            (types.TEXT_DOCUMENT_DID_OPEN, None, self._did_open),
            (types.TEXT_DOCUMENT_DID_CHANGE, None, self._did_change),
            (types.TEXT_DOCUMENT_DID_CLOSE, None, self._did_close),
            (types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=True), self._did_save),
            (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions(), self._inline_completion),
            (types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[" "]), self._completion),
        ]
        for name, options, method in features:
            self.feature(name, options)(_function(method))
        for name, method in ((ACCEPTED, self._accepted), (PAUSE, self._pause), (RESUME, self._resume),
                             (STATUS, self._status)):
            self.command(name)(_function(method))

    def _initialized(self, params: types.InitializedParams) -> None:
        if self.settings.learn:
            self._start_learner()

    def _encoding(self) -> str:
        capabilities = self.protocol.server_capabilities if hasattr(self.protocol, "server_capabilities") else None
        return str(getattr(capabilities, "position_encoding", None) or UTF16)

    def _did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        if self.exclusions.path(to_fs_path(item.uri) or item.uri):
            self.counters.excluded_documents += 1
            return  # never kept, never read by the model, never sent to the learner
        if len(item.text) > MAX_DOCUMENT_CHARS:
            logger.warning("%s is over %d characters: no suggestions there", item.uri, MAX_DOCUMENT_CHARS)
            return
        entry = self.documents[item.uri] = _Open(Document.open(item.uri, item.version, item.text, self._encoding()))
        self.model_work.later(self.models.open, item.uri, item.text)
        # Read the text as opened now, even if edits overtake it: a Completer learns only text that
        # extends what it read before, so what is typed next counts from the first keystroke on.
        snapshot = Snapshot(item.uri, item.version, self._text_before(entry, entry.document.end()))
        self.model_work.later(self.models.advance, snapshot)
        self._teach(item.text)

    def _did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        arrived = time.perf_counter()
        entry = self.documents.get(params.text_document.uri)
        if entry is None:
            return
        entry.edited_at = arrived
        document = entry.document
        cursor = None
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start = document.position(change.range.start.line, change.range.start.character)
                end = document.position(change.range.end.line, change.range.end.character)
                if entry.anchor is not None and (start.line, start.column) < (entry.anchor.line, entry.anchor.column):
                    entry.anchor = None  # the text before the cursor changed before where it was read from
                cursor = document.replace(start, end, change.text)
            else:
                entry.anchor = None
                cursor = document.replace_all(change.text)
        document.version = params.text_document.version
        if document.characters > MAX_DOCUMENT_CHARS:
            self._forget_document(document.uri)
            return
        if cursor is not None:
            # The cursor is most likely where the edit ended: read up to there now, so that the
            # request that usually follows finds the state ready (and what was typed is counted).
            snapshot = Snapshot(document.uri, document.version, self._text_before(entry, cursor))
            self.model_work.soon(self._advance, snapshot)

    def _did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        self._forget_document(params.text_document.uri)

    def _did_save(self, params: types.DidSaveTextDocumentParams) -> None:
        entry = self.documents.get(params.text_document.uri)
        if entry is not None:
            self._teach(params.text if params.text is not None else entry.document.text())

    async def _inline_completion(self, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        kind = params.context.trigger_kind if params.context is not None else None
        invoked = kind == types.InlineCompletionTriggerKind.Invoked
        found = await self._suggest(params.text_document.uri, params.position, MAX_ALTERNATIVES if invoked else 0)
        if not found:
            return types.InlineCompletionList(items=[])
        here = types.Range(params.position, params.position)
        items = [
            types.InlineCompletionItem(
                insert_text=option.text,
                range=here,
                command=types.Command("charcomplete: suggestion taken", ACCEPTED, arguments=
                                      [params.text_document.uri, len(option.text)]),
            )
            for option in found
        ]
        return types.InlineCompletionList(items=items)

    async def _completion(self, params: types.CompletionParams) -> types.CompletionList:
        """The same suggestion as one completion item, for clients without inline completion."""
        uri = params.text_document.uri
        found = await self._suggest(uri, params.position, 0)
        entry = self.documents.get(uri)
        if not found or entry is None:
            return types.CompletionList(is_incomplete=True, items=[])
        # Clients filter items by the word before the cursor: the item is that word plus the suggestion.
        line_before = entry.document.line_text_before(entry.document.position(params.position.line,
                                                                              params.position.character))
        word = _trailing_word(line_before)
        start = types.Position(params.position.line, params.position.character - _units(word, entry.document.encoding))
        text = word + found[0].text
        item = types.CompletionItem(
            label=text.strip() or text,
            kind=types.CompletionItemKind.Text,
            detail="charcomplete",
            filter_text=word + found[0].text,
            sort_text="0",
            text_edit=types.TextEdit(types.Range(start, params.position), text),
            command=types.Command("charcomplete: suggestion taken", ACCEPTED, arguments=[uri, len(found[0].text)]),
        )
        # is_incomplete: the client asks again as the user types, rather than filtering a stale item.
        return types.CompletionList(is_incomplete=True, items=[item])

    # ------------------------------------------------------------ answering

    async def _suggest(self, uri: str, position: types.Position, alternatives: int) -> list:
        entry = self.documents.get(uri)
        if entry is None:
            return []
        started = time.perf_counter()
        entry.requests += 1
        request = entry.requests
        document = entry.document
        cursor = document.position(position.line, position.character)
        # A request that follows its edit within a keystroke's budget is that keystroke's (an editor
        # sends both at once): its time budget counts from the edit, whose reading comes first (here
        # or on the model thread), as the editor's keystroke budget counts the reading of what was
        # typed. Any other request (after an open, a cursor move) is no keystroke's: its search gets
        # the whole budget from when it starts.
        keystroke = entry.edited_at if started - entry.edited_at <= KEYSTROKE_S else None
        snapshot = Snapshot(uri, document.version, self._text_before(entry, cursor), alternatives, keystroke,
                            document.at_line_end(cursor))
        # Everything above ran on the protocol thread before the next message was read. Let a
        # message that has already arrived be read first: typed faster than answered (a burst of
        # keys, a paste), a request whose text has moved on is answered empty without a search.
        # Searching each one on this thread first took a 35-key burst from 25 to 46-188 ms.
        await asyncio.sleep(0)
        if self._stale(snapshot) or entry.requests != request:
            return []
        found = await asyncio.wrap_future(self.model_work.soon(self._answer, snapshot))
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        if self._stale(snapshot) or entry.requests != request:
            return []  # the text changed, or a newer request came: this answer is for old text
        if found:
            self.counters.shown += 1
        return found

    def _answer(self, snapshot: Snapshot) -> list:
        if self._stale(snapshot):
            return []  # runs on the model thread: skip work the answer would discard
        if self.models.forgotten():
            self._forget_all()  # `forget --all` ran: nothing learned before it may answer
            return []
        return self.models.suggest(snapshot)

    def _forget_all(self) -> None:
        """On the model thread: every document's session drops what it learned, and the model in
        use now serves (the one before may have been deleted)."""
        from charcomplete.core.errors import CharcompleteError
        from charcomplete.suggest.session import load_engine, model_in_use

        try:
            engine = load_engine(model_in_use())
        except CharcompleteError as error:
            logger.error("after a forget, the model in use could not be loaded: %s", error)
            engine = self.models.engine
        self.models.forget(engine)

    def _advance(self, snapshot: Snapshot) -> None:
        if not self._stale(snapshot):  # a later edit will read further anyway
            self.models.advance(snapshot)

    def _stale(self, snapshot: Snapshot) -> bool:
        entry = self.documents.get(snapshot.uri)
        return entry is None or entry.document.version != snapshot.version

    def _text_before(self, entry: _Open, cursor: Position) -> str:
        """The text from the document's anchor to `cursor`; the anchor moves only when it must."""
        document = entry.document
        anchor = entry.anchor
        if anchor is not None and (anchor.line, anchor.column) <= (cursor.line, cursor.column) \
                and cursor.line - anchor.line <= SPAN:
            text = document.text_between(anchor, cursor)
            if len(text) <= SPAN and (len(text) >= MIN_SPAN or anchor == Position(0, 0)):
                return text
        entry.anchor = document.back(cursor, SPAN // 2)
        return document.text_between(entry.anchor, cursor)

    def _forget_document(self, uri: str) -> None:
        if self.documents.pop(uri, None) is not None:
            self.model_work.later(self.models.close, uri)

    # ------------------------------------------------------------ commands

    def _accepted(self, *args) -> None:
        self.counters.accepted += 1
        if len(args) >= 2 and isinstance(args[1], int):
            self.counters.accepted_chars += max(0, args[1])

    def _pause(self, *args) -> None:
        if self.learning == "on":
            self.learning = "paused"
            self.model_work.later(self.models.set_learning, False)
            if self.learner is not None:
                self.learner.pause()
        self._tell("Learning paused: nothing typed now is learned.")

    def _resume(self, *args) -> None:
        if self.learning == "paused":
            self.learning = "on"
            self.model_work.later(self.models.set_learning, True)
            if self.learner is not None:
                self.learner.resume()
        elif self.learning == "off":
            self._tell("Learning is off (started with --no-learn).")
            return
        self._tell("Learning resumed.")

    def _status(self, *args) -> dict:
        status = self.status()
        self._tell(
            f"charcomplete: model {status['model']}, learning {status['learning']} "
            f"({status['learner_steps']} updates), {status['documents']} documents, "
            f"{status['shown']} suggestions shown, {status['accepted']} accepted"
        )
        return status

    def status(self) -> dict:
        return {
            "model": self.models.engine.name,
            "learning": self.learning,
            "learner_steps": self.learner_steps,
            "learner_ready": bool(self.learner is not None and self.learner.ready),
            "documents": len(self.documents),
            "excluded_documents": self.counters.excluded_documents,
            "shown": self.counters.shown,
            "accepted": self.counters.accepted,
            "accepted_chars": self.counters.accepted_chars,
            "latency_ms_p50": _percentile(self.latencies_ms, 50),
            "latency_ms_p99": _percentile(self.latencies_ms, 99),  # np.percentile, as every benchmark
        }

    def _tell(self, message: str) -> None:
        self.window_show_message(types.ShowMessageParams(types.MessageType.Info, message))

    # ------------------------------------------------------------ the learner

    def _start_learner(self) -> None:
        from charcomplete.learn.learner import Learner, LearnerSettings

        try:
            loop = asyncio.get_running_loop()
            self.learner = learner = Learner(
                self.models.engine.name, self.settings.learner_settings or LearnerSettings(),
                on_message=lambda message: loop.call_soon_threadsafe(self._on_learner, message)).start()
        except (OSError, ValueError) as error:
            self.learning = "error"
            logger.error("the background learner could not start: %s", error)
            return
        from charcomplete.learn.online_remote import remote_online

        # The documents' online steps run in the learner, as the editor's and `serve`'s do.
        self.model_work.later(self.models.go_online, lambda engine: remote_online(learner, engine))

    def _online_here(self) -> None:
        """The learner stopped (or forgot): the documents' online steps run in this process from now."""
        from charcomplete.suggest.session import load_online

        if self.models.online_for is not load_online:
            self.model_work.later(self.models.go_online, load_online)

    def _teach(self, text: str) -> None:
        if self.learner is not None and self.learning == "on":
            self.learner.send_text(text)

    def _on_learner(self, message) -> None:
        """A message from the learner, on the event loop (its handle calls back as each arrives)."""
        from charcomplete.learn.learner import Exited, Failed, Forgotten, Published, Rebased

        self.learner_steps = int(getattr(message, "steps", self.learner_steps) or 0)
        if isinstance(message, (Published, Rebased)):
            self.model_work.later(self._load_weights, message.name)
        elif isinstance(message, Failed):
            self.learning = "error"
            logger.error("the background learner failed: %s", message.message)
            self._online_here()
        elif isinstance(message, Exited) and self.learner is not None and not self.learner.stopped:
            if self.learning != "error":
                self.learning = "error"
                logger.error("the background learner stopped (%s)", message.how)
            self._online_here()
        elif isinstance(message, Forgotten):
            self._online_here()  # it stops: what follows the forget is stepped here

    def _load_weights(self, name: str) -> None:
        from charcomplete.core.errors import CharcompleteError
        from charcomplete.model.engine import Engine

        try:
            self.models.swap_engine(Engine.load(name))
        except CharcompleteError as error:
            logger.error("could not load the learned weights: %s", error)

    def close(self) -> None:
        """After the client left: hand the learner over (it publishes what it learned, in the
        background, and exits; the server does not wait) and stop the model thread."""
        if self.learner is not None:
            self.learner.hand_over()
            logger.info("learner handed over (pid %s)", self.learner.pid)
        self.model_work.shutdown()
        self.models.close_all()  # no request runs now: the sessions' online steps stop


def _percentile(values, q: float) -> float | None:
    import numpy as np

    return round(float(np.percentile(list(values), q)), 2) if len(values) else None


def _function(method):
    """A plain function calling a bound method: pygls tags its handlers with attributes."""
    if asyncio.iscoroutinefunction(method):
        async def handler(*args):
            return await method(*args)
    else:
        def handler(*args):
            return method(*args)
    handler.__name__ = method.__name__
    return handler


def _trailing_word(text: str) -> str:
    end = len(text)
    start = end
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    return text[start:end]


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2
