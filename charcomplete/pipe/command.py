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
from charcomplete.suggest.protocol import MAX_ALTERNATIVES

READ_CHUNK = 64 * 1024
MAX_SEED = 2**32 - 1  # what every random generator accepts
SAMPLE_CHARS = 200  # --sample without --max-chars
DESCRIPTION = "Print the most likely continuation of the text on stdin (the text before the cursor)."


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
            state = _read_state(engine, keep_newline, _remembered(engine))
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


def _remembered(engine):
    """The model's memory (the text it was trained on: its n-gram and its match index), for a
    model that has one, so that a phrase of the user's notes is suggested from a pipe too; a
    memory that cannot be read is said on stderr and the model answers alone."""
    from charcomplete.suggest.session import load_memory

    remembered, warning = load_memory(engine)
    if warning:
        print(f"charcomplete: {warning}", file=sys.stderr)
    return remembered


def _read_state(engine, keep_newline: bool, remembered=None):
    """The state after the text on stdin, of which only the last window is read (through the
    model's memory, when `remembered`); None when stdin holds no text (an empty line in a
    shell: nothing to complete)."""
    text, dropped = _read_tail(sys.stdin.buffer, PRIME_WINDOW + 2)
    text = _drop_newline(text, keep_newline)
    if not text and not dropped:
        return None
    if remembered is not None:
        from charcomplete.suggest.session import Session, SessionOptions

        # Nothing is learned from the text piped in: it is read, as a one-shot request.
        session = Session(engine, "", SessionOptions(learn=False), remembered)
        return session.completer.state_at(text[-PRIME_WINDOW:], 1 if dropped else 0)
    if not dropped:
        return engine.prime(text)  # from the document start when it fits in the window
    state = engine.zero_state()  # the text began before what was kept: no document marker
    state.feed(text[-PRIME_WINDOW:])
    return state


def _suggest_options(max_chars: int | None) -> dict:
    return {} if max_chars is None else {"max_chars": max_chars}


def _answer(engine, state, max_chars: int | None, alternatives: int) -> dict:
    """The JSON answer (the protocol's); `state` None: there was no text."""
    from charcomplete.suggest import decoder
    from charcomplete.suggest.protocol import completion_answer

    options = _suggest_options(max_chars)
    if state is None:
        return completion_answer(decoder.Suggestion("", 1.0), [], engine.name)
    best = decoder.suggest(state, **options)
    others = decoder.alternatives(state, alternatives, **options) if alternatives else []
    return completion_answer(best, others, engine.name)


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
    from charcomplete.suggest import protocol
    from charcomplete.suggest.session import Session, SessionOptions

    # The model and its memory, as one-shot `complete`; nothing is learned from the requests.
    remembered = _remembered(engine)
    options = SessionOptions(learn=False) if remembered is not None else SessionOptions(cache=False)
    session = Session(engine, options=options, remembered=remembered)
    for raw in protocol.request_lines(sys.stdin.buffer):
        try:
            request = protocol.parse(raw, max_chars=max_chars, alternatives=alternatives)
            answer = protocol.answer_complete(session, request)
        except protocol.BadRequest as error:
            answer = protocol.error_answer(error)
        _write(json.dumps(answer) + "\n")


# ------------------------------------------------------------ output


def _write(text: str) -> None:
    """Write UTF-8 whatever the locale, and flush at once (a client waits for each answer)."""
    out = sys.stdout.buffer
    out.write(text.encode("utf-8", errors="replace"))
    out.flush()
