"""The pipe: complete the text piped on stdin, or serve requests line by line.

This is the path shells and other editors call for every suggestion, so it starts fast:
numpy only (the engine), never torch, textual or typer. `charcomplete complete` is routed
here by `charcomplete.launcher` before the typer application is even imported (typer and
its option validation cost about half of this path's start-up)."""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import textwrap
from typing import BinaryIO

from charcomplete.core.errors import CharcompleteError
from charcomplete.core.exits import reader_gone
from charcomplete.model.engine import PRIME_WINDOW

READ_CHUNK = 64 * 1024
MAX_REQUEST_BYTES = 16 * 1024 * 1024  # one --lines request; longer lines are refused, not buffered
MAX_ALTERNATIVES = 20
MAX_SEED = 2**32 - 1  # what every random generator accepts
SAMPLE_CHARS = 200  # --sample without --max-chars
REQUEST_OPTIONS = {"text", "id", "max_chars", "alternatives"}
DESCRIPTION = "Print the most likely continuation of the text on stdin (the text before the cursor)."


class BadRequest(ValueError):
    """A --lines request that cannot be answered; the answer is an error object, which
    carries the request's id when the request was a JSON object with one."""

    def __init__(self, message: str, request: object = None):
        super().__init__(message)
        self.request = request  # the parsed request, when it parsed


def _error_answer(error: BadRequest) -> dict:
    request = error.request
    if isinstance(request, dict) and "id" in request:
        return {"id": request["id"], "error": str(error)}  # so that a client can match it to its request
    return {"error": str(error)}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one sentence, like every other charcomplete error
        raise CharcompleteError(f"complete: {message}")


def _bounded_int(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            limit = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range; use a number {limit}")
        return value

    return parse


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:  # NaN compares false with everything: check it by name
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 0 up")
    return value


class _HelpFormatter(argparse.HelpFormatter):
    """`--help` laid out as the other commands' (typer's) help: "Usage: ... [OPTIONS]", the
    description indented, an "Options:" list of "-m, --model NAME  Help." rows."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=28, width=min(shutil.get_terminal_size().columns, 80))

    def _format_usage(self, usage, actions, groups, prefix) -> str:
        return f"Usage: {self._prog} [OPTIONS]\n\n"

    def _format_text(self, text: str) -> str:
        return textwrap.fill(text, self._width, initial_indent="  ", subsequent_indent="  ") + "\n\n"

    def start_section(self, heading: str | None) -> None:
        super().start_section((heading or "").capitalize())

    def _format_action_invocation(self, action: argparse.Action) -> str:
        names = sorted(action.option_strings, key=len)  # the short name first, as typer lists them
        value = f" {action.metavar}" if action.nargs != 0 and action.metavar else ""
        return ", ".join(names) + value


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="charcomplete complete", description=DESCRIPTION, formatter_class=_HelpFormatter,
                add_help=False)
    p.add_argument("--model", "-m", metavar="NAME", help="Model to use (default: the one in use).")
    p.add_argument("--max-chars", metavar="N", type=_bounded_int(0),
                   help="Longest completion (or sample), in characters.")
    p.add_argument("--alternatives", "-k", metavar="K", type=_bounded_int(0, MAX_ALTERNATIVES), default=0,
                   help="List the completion and others worth showing, K at most, a line each, "
                        "by the keys they save on average.")
    p.add_argument("--json", dest="as_json", action="store_true", help="Answer with a JSON object.")
    p.add_argument("--sample", action="store_true", help="Generate free text instead of one completion.")
    p.add_argument("--temperature", metavar="NUMBER", type=_non_negative_float, default=1.0,
                   help="With --sample: randomness (0 = greedy).  [default: 1]")
    p.add_argument("--top-k", metavar="K", type=_bounded_int(1),
                   help="With --sample: draw from the K likeliest bytes only.")
    p.add_argument("--seed", metavar="N", type=_bounded_int(0, MAX_SEED),
                   help="With --sample: random seed, for repeatable output.")
    p.add_argument("--lines", action="store_true",
                   help="Resident mode: a JSON request per line, a JSON answer per line.")
    p.add_argument("--keep-newline", action="store_true",
                   help="Keep a final newline of the input (echo adds one; it is dropped).")
    p.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    return p


def main(argv: list[str]) -> None:
    """`charcomplete complete ARGS...`."""
    options = parser().parse_args(argv)
    run(options.model, options.max_chars, options.alternatives, options.as_json, options.sample,
        options.temperature, options.top_k, options.seed, options.lines, options.keep_newline)


def run(model, max_chars, alternatives, as_json, sample, temperature, top_k, seed, lines, keep_newline) -> None:
    from charcomplete.model.engine import Engine

    if lines and sample:
        raise CharcompleteError("--lines and --sample do not go together")
    if not lines and sys.stdin.isatty():
        raise CharcompleteError(
            "pipe the text before the cursor into it, e.g. printf 'The quick bro' | charcomplete complete"
        )
    engine = Engine.load(model)
    try:
        if lines:
            _serve_lines(engine, max_chars, alternatives)
        elif sample:
            state = _read_state(engine, keep_newline)
            state = engine.start() if state is None else state  # free text from nothing is fine
            _print_sample(engine, state, max_chars, temperature, top_k, seed, as_json)
        else:
            state = _read_state(engine, keep_newline)
            _print_completion(engine, state, max_chars, alternatives, as_json)
    except BrokenPipeError:
        reader_gone()


# ------------------------------------------------------------ one completion


def _read_tail(stream: BinaryIO, keep: int) -> tuple[bytes, bool]:
    """The last `keep` bytes of `stream` and whether anything came before them; memory stays bounded."""
    tail = bytearray()
    dropped = False
    while True:
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            break
        tail += chunk
        if len(tail) > keep + READ_CHUNK:  # trim now and then, not on every chunk
            del tail[: len(tail) - keep]
            dropped = True
    if len(tail) > keep:
        del tail[: len(tail) - keep]
        dropped = True
    return bytes(tail), dropped


def _drop_newline(text: bytes, keep: bool) -> bytes:
    """`echo` ends its text with a newline that is not part of what the user typed."""
    if keep:
        return text
    if text.endswith(b"\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(b"\n") else text


def _read_state(engine, keep_newline: bool):
    """The engine state after the text on stdin, of which only the last window is read;
    None when stdin holds no text (an empty line in a shell: nothing to complete)."""
    text, dropped = _read_tail(sys.stdin.buffer, PRIME_WINDOW + 2)
    text = _drop_newline(text, keep_newline)
    if not text and not dropped:
        return None
    if not dropped:
        return engine.prime(text)  # from the document start when it fits in the window
    state = engine.zero_state()  # the text began before what was kept: no document marker
    state.feed(text[-PRIME_WINDOW:])
    return state


def _suggest_options(max_chars: int | None) -> dict:
    return {} if max_chars is None else {"max_chars": max_chars}


def _answer(engine, state, max_chars: int | None, alternatives: int) -> dict:
    """The JSON answer. "probability" (of the completion: the product of its characters'
    probabilities) and "saves" (the keys it saves on average, probability * (characters - 1))
    are there only when the completion is not empty: an empty one is the model having nothing
    worth suggesting, not a prediction. Alternatives: the completion first, then others worth
    showing on their own, by "saves"; none when the completion is empty. `state` None: there
    was no text."""
    from charcomplete.suggest import decoder

    options = _suggest_options(max_chars)
    if state is None:
        best, others = decoder.Suggestion("", 1.0), []
    else:
        best = decoder.suggest(state, **options)
        others = decoder.alternatives(state, alternatives, **options) if alternatives else []
    answer: dict = {"completion": best.text}
    if best.text:
        answer["probability"] = round(best.probability, 6)
        answer["saves"] = round(best.saves, 6)
    answer["alternatives"] = [
        {"completion": s.text, "probability": round(s.probability, 6), "saves": round(s.saves, 6)} for s in others
    ]
    answer["model"] = engine.name
    return answer


def _print_completion(engine, state, max_chars: int | None, alternatives: int, as_json: bool) -> None:
    answer = _answer(engine, state, max_chars, alternatives)
    if as_json:
        _write(json.dumps(answer) + "\n")
    elif alternatives:
        # One per line, best first; a completion never holds a newline.
        _write("".join(option["completion"] + "\n" for option in answer["alternatives"]))
    else:
        _write(answer["completion"] + "\n")


def _print_sample(engine, state, max_chars, temperature, top_k, seed, as_json: bool) -> None:
    import numpy as np

    from charcomplete.suggest.decoder import iter_sample

    length = SAMPLE_CHARS if max_chars is None else max_chars
    pieces = iter_sample(state, length, temperature, top_k, np.random.default_rng(seed))
    if as_json:
        _write(json.dumps({"sample": "".join(pieces), "model": engine.name}) + "\n")
        return
    # Show the text as it comes, a line or a few dozen characters at a time.
    pending: list[str] = []
    for piece in pieces:
        pending.append(piece)
        if len(pending) >= 64 or piece == "\n":
            _write("".join(pending))
            pending.clear()
    _write("".join(pending) + "\n")


# ------------------------------------------------------------ resident mode


def _serve_lines(engine, max_chars: int | None, alternatives: int) -> None:
    """Answer one JSON request per line until EOF; a bad request gets an error answer."""
    from charcomplete.suggest.decoder import Completer

    completer = Completer(engine)
    for raw in _request_lines(sys.stdin.buffer):
        try:
            answer = _answer_request(completer, raw, max_chars, alternatives)
        except BadRequest as error:
            answer = _error_answer(error)
        _write(json.dumps(answer) + "\n")


def answer_line(completer, raw: bytes | None, max_chars: int | None = None, alternatives: int = 0) -> dict:
    """One --lines request (a line's bytes; None for an over-long one) to its answer, an
    {"error": ...} for a bad one: the protocol, for servers that speak it (`serve`)."""
    try:
        return _answer_request(completer, raw, max_chars, alternatives)
    except BadRequest as error:
        return {"error": str(error)}


def _request_lines(stream: BinaryIO):
    """Yield each line (bytes, newline stripped); an over-long line yields None, unbuffered."""
    while True:
        line = stream.readline(MAX_REQUEST_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_REQUEST_BYTES and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of it
                line = stream.readline(READ_CHUNK)
            yield None
            continue
        yield line.rstrip(b"\r\n")


def _answer_request(completer, raw: bytes | None, max_chars: int | None, alternatives: int) -> dict:
    request = _parse_request(raw)
    max_chars = _int_option(request, "max_chars", max_chars, 0, 10_000)
    alternatives = _int_option(request, "alternatives", alternatives, 0, MAX_ALTERNATIVES)
    # Reads only what changed since the last request; an empty text has nothing to complete.
    state = completer.state_for(request["text"]) if request["text"] else None
    answer = _answer(completer.engine, state, max_chars, alternatives)
    if "id" in request:
        answer = {"id": request["id"], **answer}  # lets a client match answers to requests
    return answer


def _parse_request(raw: bytes | None) -> dict:
    if raw is None:
        raise BadRequest(f"the request is longer than {MAX_REQUEST_BYTES} bytes")
    if not raw.strip():
        raise BadRequest('empty request; send {"text": "..."}')
    from charcomplete.storage import jsonsafe

    try:
        request = jsonsafe.loads(raw)
    except jsonsafe.JSONRefused as error:  # bad JSON, deep nesting, huge integers, NaN and 1e400
        raise BadRequest(f"the request is refused: {error}") from None
    if not isinstance(request, dict) or not isinstance(request.get("text"), str):
        raise BadRequest('a request is a JSON object with a "text" string, e.g. {"text": "The quick bro"}', request)
    if not isinstance(request.get("id"), (str, int, float, type(None))) or isinstance(request.get("id"), bool):
        raise BadRequest("id must be a string or a number, as in JSON-RPC", request)  # echoed, so it can be matched
    unknown = sorted(set(request) - REQUEST_OPTIONS)
    if unknown:
        raise BadRequest(f"unknown request field {unknown[0]!r}; known: {', '.join(sorted(REQUEST_OPTIONS))}", request)
    return request


def _int_option(request: dict, key: str, default: int | None, low: int, high: int) -> int | None:
    value = request.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} must be a whole number from {low} to {high}", request)
    return value


# ------------------------------------------------------------ output


def _write(text: str) -> None:
    """Write UTF-8 whatever the locale, and flush at once (a client waits for each answer)."""
    out = sys.stdout.buffer
    out.write(text.encode("utf-8", errors="replace"))
    out.flush()
