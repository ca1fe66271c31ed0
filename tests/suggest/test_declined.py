"""A suggestion typed over is declined (suggest/declined.py): what is left of it is not offered
again, in every surface's Completer and in `eval`'s simulated typist alike."""

from __future__ import annotations

import time

import pytest

from charcomplete.evaluate.evaluation import evaluate
from charcomplete.learn.online import online_weights
from charcomplete.model.engine import Engine
from charcomplete.suggest.declined import NOTHING_DECLINED, Declined
from charcomplete.suggest.policy import IN_DOCUMENTS
from charcomplete.suggest.session import Session, SessionOptions, load_memory
from tests.helpers import remembering_tiny_model

TEXT = "a line the model has never seen; another line it keeps; " * 5


@pytest.fixture
def tiny_model() -> str:
    return remembering_tiny_model()


def test_typing_the_first_character_of_a_suggestion_declines_its_remainder():
    declined = NOTHING_DECLINED.after_typing(b"the cat ", b"t")
    assert declined == Declined((b"he cat ",))
    # Typing on along it keeps declining what is left; a shorter offer typed over adds its own remainder.
    declined = declined.after_typing(b"he", b"h")
    assert declined == Declined((b"e cat ", b"e"))
    # The text parting from a remainder, or reaching its end, drops it.
    assert declined.after_typing(b"", b"x") == NOTHING_DECLINED
    assert Declined((b"e", b"ex")).after_typing(b"", b"e") == Declined((b"x",))


def test_a_suggestion_holding_a_declined_remainder_is_cut_before_its_end():
    declined = Declined((b"he cat ",))
    assert declined.allowed_length(b"he cat sat", 10) == 6  # "he cat" may still be right: not all of it
    assert declined.allowed_length(b"he dog ", 7) == 7  # another continuation: whole
    assert declined.allowed_length(b"he ca", 5) == 5  # shorter than the remainder: whole
    assert Declined((b"he cat ", b"he")).allowed_length(b"he cat sat", 10) == 1


def typed_through_a_session(name: str, text: str) -> dict:
    """The evaluation's Tab typist played through a session, as a person types in the editor:
    at each position the session's Completer suggests, the typist takes the suggestion when the
    text goes on with it and otherwise types one character (the Completer sees only the text)."""
    engine = Engine.load(name)
    remembered, _ = load_memory(engine)
    options = SessionOptions(online=True, suggest={"budget_ms": None, **IN_DOCUMENTS}, read_s=0.0)
    session = Session(engine, "", options, remembered, online_weights(name, background=False))
    data, position = text.encode(), 0
    keys = shown = accepted = typed_over = 0
    after_typing_over: list[tuple[bytes, bytes]] = []  # (the remainder declined, the next offer)
    declined_remainder = None
    while position < len(data):
        found = session.suggest(data[:position])
        offer = found[0].text.encode() if found else b""
        if declined_remainder is not None:
            after_typing_over.append((declined_remainder, offer))
        keys += 1
        shown += bool(offer)
        if offer and data.startswith(offer, position):
            accepted += 1
            position += len(offer)
            declined_remainder = None
            continue
        typed_over += bool(offer) and data[position] == offer[0] and len(offer) > 1
        declined_remainder = offer[1:] if offer and data[position] == offer[0] and len(offer) > 1 else None
        position += 1
    session.close()
    return {"keys": keys, "shown": shown, "accepted": accepted, "typed_over": typed_over,
            "after_typing_over": after_typing_over}


def test_the_typist_in_eval_and_a_session_decline_alike(tiny_model):
    typed = typed_through_a_session(tiny_model, TEXT)
    assert typed["typed_over"] >= 1, "the text should make the typist type over a suggestion"
    # Right after typing over a suggestion, the session never offers all of what was left of it.
    assert all(not offer.startswith(rest) for rest, offer in typed["after_typing_over"])
    result = evaluate(tiny_model, [TEXT], adapt=True, ksr_bytes=len(TEXT))
    whole = result["decoders"][0]["whole"]
    assert (whole["keys"], whole["shown"], whole["accepted"]) == (typed["keys"], typed["shown"], typed["accepted"])


def test_a_suggestion_is_declined_once_it_stood_long_enough_to_be_read_and_an_edit_declines_nothing(tiny_model):
    engine = Engine.load(tiny_model)
    remembered, _ = load_memory(engine)
    text = TEXT + "a line the m"

    def opened(read_s: float) -> Session:
        return Session(engine, TEXT, SessionOptions(suggest={"budget_ms": None}, read_s=read_s), remembered)

    reading = opened(0.05)
    offer = reading.suggest(text)[0].text
    assert len(offer) > 2
    reading.suggest(text + offer[0])  # typed over at once: not read, not declined
    assert reading.completer._declined == NOTHING_DECLINED
    offer = reading.suggest(text)[0].text  # a backspace (the cache has learned what was typed)
    time.sleep(0.06)
    reading.suggest(text + offer[0])  # typed over after it stood: declined
    assert reading.completer._declined.remainders == (offer[1:].encode(),)
    assert not reading.suggest(text + offer[0])[0].text.startswith(offer[1:])
    offer = reading.suggest(text)[0].text  # a backspace drops what was declined
    assert reading.completer._declined == NOTHING_DECLINED
    time.sleep(0.06)
    reading.suggest(text + offer)  # taken whole: nothing declined
    assert reading.completer._declined == NOTHING_DECLINED
