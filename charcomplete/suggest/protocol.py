"""The JSON-lines protocol: one JSON request per line, one JSON answer per line. Spoken by
`charcomplete complete --lines` (editor integrations) and by `charcomplete serve` (shells),
which answer alike: the same answers, the same error answers carrying the request's id.

    {"text": "The quick bro", "id": 7, "max_chars": 20, "alternatives": 2}
    -> {"id": 7, "completion": "wn ", "probability": 0.61, "alternatives": [...], "model": "default"}
    {"learn": "git rebase -i HEAD~3"}   (serve only) a command the user ran
    {"status": true}                     (serve only) what the server serves

Every request is read through the bounded JSON reader (`storage.jsonsafe`): deep nesting,
huge integers, NaN and 1e400 get an error answer, never an exception."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from charcomplete.storage import jsonsafe

READ_CHUNK = 64 * 1024
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # one request line; longer ones are refused, not buffered
MAX_ALTERNATIVES = 20
MAX_CHARS = 10_000
COMPLETE_FIELDS = frozenset({"text", "id", "max_chars", "alternatives"})


class BadRequest(ValueError):
    """A request that cannot be answered; its answer is an error object, which carries the
    request's id when the request was a JSON object with one."""

    def __init__(self, message: str, request: object = None):
        super().__init__(message)
        self.request = request  # the parsed request, when it parsed


@dataclass(frozen=True)
class Request:
    """One parsed request. kind: "complete", or (serve only) "learn" or "status"."""

    kind: str
    id: str | int | float | None = None
    text: str = ""  # complete: the text before the cursor; learn: the command line
    max_chars: int | None = None
    alternatives: int = 0
    has_id: bool = False


def error_answer(error: BadRequest) -> dict:
    request = error.request
    if isinstance(request, dict) and "id" in request:
        return {"id": request["id"], "error": str(error)}  # so that a client can match it to its request
    return {"error": str(error)}


def with_id(request: Request, answer: dict) -> dict:
    return {"id": request.id, **answer} if request.has_id else answer


def parse(raw: bytes | None, *, max_chars: int | None = None, alternatives: int = 0,
          server_requests: bool = False) -> Request:
    """A request line (bytes, newline stripped; None for one over MAX_REQUEST_BYTES) to a Request.
    `max_chars`, `alternatives`: the defaults a request may override. `server_requests`: learn
    and status requests are understood too (`serve`)."""
    if raw is None:
        raise BadRequest(f"the request is longer than {MAX_REQUEST_BYTES} bytes")
    if not raw.strip():
        raise BadRequest('empty request; send {"text": "..."}')
    try:
        request = jsonsafe.loads(raw)
    except jsonsafe.JSONRefused as error:  # bad JSON, deep nesting, huge integers, NaN and 1e400
        raise BadRequest(f"the request is refused: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest('a request is a JSON object with a "text" string, e.g. {"text": "The quick bro"}', request)
    request_id = request.get("id")
    if not isinstance(request_id, (str, int, float, type(None))) or isinstance(request_id, bool):
        raise BadRequest("id must be a string or a number, as in JSON-RPC", request)  # echoed, so it can be matched
    has_id = "id" in request
    if server_requests and "text" not in request:
        if "learn" in request:
            if not isinstance(request["learn"], str):
                raise BadRequest('a learn request is {"learn": "the command line"}', request)
            return Request("learn", request_id, request["learn"], has_id=has_id)
        if "status" in request:
            return Request("status", request_id, has_id=has_id)
    if not isinstance(request.get("text"), str):
        raise BadRequest('a request is a JSON object with a "text" string, e.g. {"text": "The quick bro"}', request)
    unknown = sorted(set(request) - COMPLETE_FIELDS)
    if unknown:
        known = ", ".join(sorted(COMPLETE_FIELDS))
        raise BadRequest(f"unknown request field {unknown[0]!r}; known: {known}", request)
    return Request(
        "complete", request_id, request["text"],
        max_chars=_int_field(request, "max_chars", max_chars, 0, MAX_CHARS),
        alternatives=_int_field(request, "alternatives", alternatives, 0, MAX_ALTERNATIVES),
        has_id=has_id,
    )


def _int_field(request: dict, key: str, default: int | None, low: int, high: int) -> int | None:
    value = request.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}", request)
    return value


def completion_answer(best, others, model_name: str) -> dict:
    """The answer to a complete request. "probability" (of the completion: the product of its
    characters' probabilities) and "saves" (the keys it saves on average, probability *
    (keys - 1): a key per character, characters.IME_KEYS per CJK one) are there only when the
    completion is not empty: an empty one is the model
    having nothing worth suggesting, not a prediction. Alternatives: the completion first, then
    others worth showing on their own, by "saves"; none when the completion is empty."""
    answer: dict = {"completion": best.text}
    if best.text:
        answer["probability"] = round(best.probability, 6)
        answer["saves"] = round(best.saves, 6)
    answer["alternatives"] = [
        {"completion": s.text, "probability": round(s.probability, 6), "saves": round(s.saves, 6)} for s in others
    ]
    answer["model"] = model_name
    return answer


def answer_complete(session, request: Request) -> dict:
    """A complete request answered by a `suggest.session.Session` (reads only what changed since
    the last request; an empty text has nothing to complete)."""
    from charcomplete.suggest import decoder

    if not request.text:
        return with_id(request, completion_answer(decoder.Suggestion("", 1.0), [], session.engine.name))
    policy = {"budget_ms": None} if request.max_chars is None else {"budget_ms": None, "max_chars": request.max_chars}
    # The request's policy alone, as one-shot `complete` decides: no interactive time budget. Through
    # the Completer, which declines a suggestion typed over after a pause (a shell asks at every key).
    completer = session.completer
    best = completer.complete_at(request.text, 0, **policy)
    others = completer.alternatives_at(request.text, 0, request.alternatives, **policy) if request.alternatives else []
    return with_id(request, completion_answer(best, others, session.engine.name))


def request_lines(stream: BinaryIO, max_bytes: int = MAX_REQUEST_BYTES) -> Iterator[bytes | None]:
    """Yield each line (bytes, newline stripped); an over-long line yields None, unbuffered."""
    while True:
        line = stream.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of it
                line = stream.readline(READ_CHUNK)
            yield None
            continue
        yield line.rstrip(b"\r\n")
