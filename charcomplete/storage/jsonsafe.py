"""JSON from files and requests charcomplete did not write itself, parsed with bounds.

Python's parser accepts what breaks its callers later: nesting deep enough to raise
RecursionError (not a ValueError), integers of thousands of digits (converting one raises
ValueError past 4,300 digits, and arithmetic on them is slow), and `NaN`, `Infinity` and
`1e400` (a float that `json.dumps` writes back as `Infinity`, which is not JSON). `loads`
refuses all of them with `JSONRefused`, a ValueError whose message is a short reason, so
every reader catches one exception type and says one sentence."""

from __future__ import annotations

import json
import math

MAX_DEPTH = 32  # ours nest three levels at most (meta.json's history: object > list > object)
MAX_INT_DIGITS = 19  # up to 2^63: counts of steps and characters, never more


class JSONRefused(ValueError):
    """The text is not JSON, or is JSON outside the bounds charcomplete accepts."""


def _refuse_constant(name: str) -> None:
    raise JSONRefused(f"{name} is not a number JSON allows")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JSONRefused(f"an integer of {len(text)} digits is too large")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JSONRefused(f"{text[:20]} is too large a number")
    return value


def loads(data: bytes | str, max_depth: int = MAX_DEPTH) -> object:
    """Parse `data` like `json.loads`, refusing (JSONRefused) anything nested deeper than
    `max_depth`, integers beyond 19 digits and non-finite numbers."""
    try:
        value = json.loads(data, parse_constant=_refuse_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except JSONRefused:
        raise
    except RecursionError:
        raise JSONRefused("it is nested too deeply") from None
    except UnicodeDecodeError:
        raise JSONRefused("it is not UTF-8") from None
    except ValueError as error:  # JSONDecodeError: says where
        raise JSONRefused(f"it is not valid JSON ({str(error)[:60]})") from None
    _check_depth(value, max_depth)
    return value


def _check_depth(value: object, max_depth: int) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise JSONRefused(f"it is nested more than {max_depth} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def read_file(path, max_bytes: int) -> object:
    """Parse the JSON file at `path`: a regular file of at most `max_bytes`, read once.

    A FIFO in its place is never waited on and a huge (or sparse) file is refused by its
    size before it is read: both raise JSONRefused. FileNotFoundError and other OSErrors pass."""
    import os
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise JSONRefused("it is not a regular file")
        if info.st_size > max_bytes:
            raise JSONRefused(f"it is implausibly large (over {max_bytes // 1024} KiB)")
        chunks, remaining = [], max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise JSONRefused(f"it is implausibly large (over {max_bytes // 1024} KiB)")
    return loads(data)


def finite(value: object) -> object:
    """`value` with every NaN or infinite float replaced by None: what charcomplete writes,
    its own readers must accept (they refuse non-finite numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value
