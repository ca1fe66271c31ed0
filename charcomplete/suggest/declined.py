"""Suggestions the user typed over: what is left of them is not offered again.

A suggestion shown at the cursor and not taken, the user typing its first character instead of
Tab, says the text does not go on with all of it (a person takes a suggestion that fits: one
key). Without this, the next suggestion after that character is most often the same one less
that character (the model saw nothing new), wrong again, and so on until the text parts from
it: a wrong long suggestion stuck to the cursor. With it, the next suggestion may be a shorter
part of the same (which may still be right: the user may want its first words) or another
continuation, never the whole remainder.

Measured with the simulated typist (`evaluate.evaluation`, who reads every suggestion; the new
user's model, dev documents of each held-out set, Tab savings): notes 39.1 -> 40.6%, rust-book
44.6 -> 46.3%, cheat sheets 37.6 -> 38.5% (BENCHMARKS.md, "Declining"). The surfaces decline a
suggestion only when a pause long enough to read it came before it was typed over
(`completer.READ_S`): a person typing on without looking keeps it."""

from __future__ import annotations

from dataclasses import dataclass

MAX_DECLINED = 4  # remainders kept: typing over a suggestion declines one more each character


@dataclass(frozen=True)
class Declined:
    """Continuations of the text at the cursor that the user has declined (UTF-8 bytes): a
    suggestion must not start with any of them."""

    remainders: tuple[bytes, ...] = ()

    def after_typing(self, offered: bytes, typed: bytes) -> Declined:
        """What is still declined after the user typed `typed` where `offered` was shown and
        read (b"": nothing was, or not long enough to be read): the remainders of those that go
        on with what was typed. A suggestion typed to its end, or one the typing parted from,
        says nothing more."""
        candidates = (*self.remainders, offered) if offered else self.remainders
        kept = tuple(rest[len(typed):] for rest in candidates if len(rest) > len(typed) and rest.startswith(typed))
        return Declined(kept[-MAX_DECLINED:])

    def allowed_length(self, data: bytes, length: int) -> int:
        """The most of `data[:length]` a suggestion may show: less than all of any declined
        remainder it holds (a cut the caller makes whole characters of)."""
        for rest in self.remainders:
            if len(rest) <= length and data.startswith(rest):
                length = len(rest) - 1
        return length


NOTHING_DECLINED = Declined()
