"""Suggestions (decoding, the Completer) and the `charcomplete complete` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from charcomplete.core.config import ModelConfig
from charcomplete.model.cache import typing_cache
from charcomplete.model.engine import Engine
from charcomplete.storage import store
from charcomplete.suggest import search
from charcomplete.suggest.decoder import Completer, alternatives, sample, suggest, unfinished_tail
from tests.helpers import CHAIN, ISSUE3_POLICY, LINE_CHAIN, chain_weights, random_weights, save_weights

CLI = [sys.executable, "-m", "charcomplete", "complete"]


@pytest.fixture
def chain() -> Engine:
    config, weights = chain_weights(CHAIN)
    save_weights("chain", config, weights)
    return Engine.load("chain")


@pytest.fixture
def small() -> Engine:
    config = ModelConfig(cell="gru", embed=16, hidden=32)
    save_weights("small", config, random_weights(config, seed=1, scale=0.5, radius=0.9))
    return Engine.load("small")


def run_cli(*args: str, data: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)  # carries the test's CHARCOMPLETE_HOME
    return subprocess.run([*CLI, *args], input=data, capture_output=True, env=env, timeout=timeout)


# ------------------------------------------------------------ decoding


def test_completes_the_word_and_the_space_after_it(chain):
    result = suggest(chain.prime(b"the qu"))
    assert result.text == "ick "
    assert result.probability == pytest.approx(0.6 * 0.95 * 0.95 * 0.9, rel=1e-4)


def test_more_words_when_asked(chain):
    assert suggest(chain.prime(b"the qu"), words=2).text == "ick brown."


def test_after_a_space_suggests_the_next_word(chain):
    assert suggest(chain.prime(b"the quick ")).text == "brown."


def test_by_default_a_suggestion_ends_with_its_line(chain):
    assert suggest(chain.prime(b"a"), min_chars=1, min_value=0).text == "x"
    lines = Engine("lines", *chain_weights(LINE_CHAIN))
    assert suggest(lines.prime(b"o")).text == "k;"
    assert suggest(lines.prime(b"ok;")).text == ""


def test_a_documents_suggestion_runs_on_past_a_line_end():
    # Policy.line_ends (the editor's and the language server's): the line end the model is sure
    # of, and the next line's first word.
    lines = Engine("lines", *chain_weights(LINE_CHAIN))
    assert suggest(lines.prime(b"o"), line_ends=True).text == "k;\nend "
    assert suggest(lines.prime(b"ok;"), line_ends=True).text == "\nend "
    # Only line ends: a blank line is shown, as its line ends are drawn, where line ends are allowed.
    blank = Engine("blank", *chain_weights({".": {"\n": 0.95}, "\n": {"\n": 0.6}}))
    assert suggest(blank.prime(b"end."), line_ends=True).text.strip("\n") == ""
    assert suggest(blank.prime(b"end."), line_ends=True).text
    assert suggest(blank.prime(b"end.")).text == ""
    # Never another control character, line ends or not.
    escape = Engine("escape", *chain_weights({"o": {"k": 0.95}, "k": {"\x1b": 0.95}, "\x1b": {"x": 0.95}}))
    assert suggest(escape.prime(b"o"), line_ends=True, min_chars=1, min_value=0).text == "k"


def test_a_single_character_is_not_worth_showing(chain):
    # Accepting one character costs the key it saves.
    assert suggest(chain.prime(b"a")).text == ""
    assert suggest(chain.prime(b"a"), policy=ISSUE3_POLICY).text == "x"


def test_never_only_a_space_but_through_it_into_the_next_word(chain):
    # Right after a word the likeliest next byte is a space: issue 3's policy showed that
    # lone space (it looks like nothing); now the suggestion runs on into the next word.
    assert suggest(chain.prime(b"the quick"), policy=ISSUE3_POLICY).text == " "
    assert suggest(chain.prime(b"the quick")).text == " brown."
    config, weights = chain_weights({"k": {" ": 0.9}})  # after the space, anything
    engine = Engine("spaces", config, weights)
    assert suggest(engine.prime(b"ok")).text == ""
    assert suggest(engine.prime(b"ok"), min_chars=0).text == ""  # even with no minimum length
    assert suggest(engine.prime(b"ok"), policy=ISSUE3_POLICY).text == " "


def test_runs_into_a_further_word_only_when_sure_of_all_of_it():
    sure = {"q": {"u": 0.95}, "u": {"i": 0.9}, "i": {"t": 0.95}, "t": {" ": 0.95}, " ": {"g": 0.95},
            "g": {"o": 0.95}, "o": {".": 0.95}}
    config, weights = chain_weights(sure)
    engine = Engine("sure", config, weights)
    assert suggest(engine.prime(b"qu")).text == "it go."  # "go." given "it ": 0.86
    assert suggest(engine.prime(b"qu"), more=0.9).text == "it "
    assert suggest(engine.prime(b"qu"), more=1.0).text == "it "
    # A further word the model loses track of halfway is dropped whole, not shown in part.
    config, weights = chain_weights({**sure, " ": {"b": 0.95}, "b": {"r": 0.95}})
    engine = Engine("halfway", config, weights)
    assert suggest(engine.prime(b"qu")).text == "it "


def test_past_its_time_budget_a_suggestion_stops_after_its_first_word(monkeypatch):
    sure = {"q": {"u": 0.95}, "u": {"i": 0.9}, "i": {"t": 0.95}, "t": {" ": 0.95}, " ": {"g": 0.95},
            "g": {"o": 0.95}, "o": {".": 0.95}}
    config, weights = chain_weights(sure)
    engine = Engine("sure", config, weights)
    assert suggest(engine.prime(b"qu"), budget_ms=None).text == "it go."
    # Past half the budget (a clock that jumps 0.7 s at once; budget 1 s) the first word is
    # still finished and nothing further is looked at; past the budget nothing is grown.
    for jump, expected in ((0.7, "it "), (1.5, "")):
        clock = iter([0.0, *[jump] * 100])
        monkeypatch.setattr(search.time, "perf_counter", lambda clock=clock: next(clock))
        assert suggest(engine.prime(b"qu"), budget_ms=1000).text == expected
    monkeypatch.undo()
    # Interactive surfaces (the Completer) carry a budget unless told otherwise.
    assert Completer(engine).options["budget_ms"] > 0 and Completer(engine, budget_ms=None).options["budget_ms"] is None


def test_a_keystrokes_budget_counts_the_reading_of_what_was_typed(monkeypatch):
    sure = {"q": {"u": 0.95}, "u": {"i": 0.9}, "i": {"t": 0.95}, "t": {" ": 0.95}, " ": {"g": 0.95},
            "g": {"o": 0.95}, "o": {".": 0.95}}
    config, weights = chain_weights(sure)
    engine = Engine("sure", config, weights)
    # The clock: the call starts at 0, reading "qu" ends at 0.7 s, the search then sees 1.0 s.
    # Budget 1 s: 0.3 s are left, floored at half the budget (0.5 s), so the search's soft
    # deadline is 0.95 s and its hard one 1.2 s: it finishes the first word and stops there.
    # Were the reading not counted, 1.0 s would be inside the search's first half: "it go.".
    clock = iter([0.0, 0.7, 0.7, *[1.0] * 100])
    monkeypatch.setattr(search.time, "perf_counter", lambda: next(clock))
    assert Completer(engine, budget_ms=1000).complete("qu").text == "it "


def test_a_request_that_waited_counts_its_budget_from_its_arrival(monkeypatch):
    # A language server's request waits on the model thread behind the reading of the edit before
    # it: the keystroke's budget counts from when the request arrived (`since`), as the editor's
    # counts the reading. The clock reads 0 for the call and the reading, then 0.5 s in the search.
    sure = {"q": {"u": 0.95}, "u": {"i": 0.9}, "i": {"t": 0.95}, "t": {" ": 0.95}, " ": {"g": 0.95},
            "g": {"o": 0.95}, "o": {".": 0.95}}
    config, weights = chain_weights(sure)
    engine = Engine("sure", config, weights)
    for since, expected in ((None, "it go."), (-0.7, "it ")):
        # Budget 1 s. Counted from the call: the soft deadline is 0.5 s, not yet passed. Counted from
        # an arrival 0.7 s earlier: 0.3 s left, floored at half the budget, so the soft deadline is
        # 0.25 s: the first word is finished and nothing further looked at.
        clock = iter([0.0, 0.0, 0.0, *[0.5] * 100])
        monkeypatch.setattr(search.time, "perf_counter", lambda clock=clock: next(clock))
        assert Completer(engine, budget_ms=1000).complete_at("qu", 0, since).text == expected


def test_an_unsure_last_space_is_left_to_the_next_suggestion():
    # The word is sure but what ends it is not (a line wrapped there, a full stop): showing
    # "ick " would cost the whole suggestion half the time to win one key, so it stops at "ick".
    config, weights = chain_weights({**CHAIN, "k": {" ": 0.5, ".": 0.3}})
    engine = Engine("unsure-space", config, weights)
    shown = suggest(engine.prime(b"the qu"))
    assert shown.text == "ick" and shown.probability == pytest.approx(0.6 * 0.95 * 0.95, rel=1e-4)
    assert suggest(engine.prime(b"the qu"), cut_by_savings=False).text == "ick "  # issue 15's cut
    # A sure space stays (the chain's 0.9): "ick " saves more on average than "ick".
    config, weights = chain_weights(CHAIN)
    assert suggest(Engine("sure-space", config, weights).prime(b"the qu")).text == "ick "


def test_a_further_word_is_cut_only_where_it_ends():
    # "it a" would save the most on average (0.77 * 3 keys against "it ab."'s 0.44 * 5), but it
    # would show half of a word the model went on into: past the first word a suggestion ends
    # only at a word's end.
    config, weights = chain_weights({"q": {"u": 0.95}, "u": {"i": 0.9}, "i": {"t": 0.95}, "t": {" ": 0.95},
                                     " ": {"a": 0.95}, "a": {"b": 0.6}, "b": {".": 0.95}})
    engine = Engine("halves", config, weights)
    assert suggest(engine.prime(b"qu")).text == "it ab."


def test_what_saves_too_little_on_average_is_not_shown():
    config, weights = chain_weights({"m": {"o": 0.3}, "o": {"p": 0.95}})
    engine = Engine("little", config, weights)
    # "op": probability 0.285, one key saved when taken: 0.285 keys on average.
    assert suggest(engine.prime(b"m"), min_value=0.2).text == "op"
    assert suggest(engine.prime(b"m"), min_value=0.3).text == ""


def test_low_confidence_gives_an_empty_suggestion(chain):
    result = suggest(chain.prime(b"m"))  # anything may follow "m"
    assert result.text == "" and result.probability == 1.0


def test_thresholds_and_cap(chain):
    state = chain.prime(b"the qu")
    assert suggest(state, min_prob=0.7).text == ""  # "i" has only 0.6
    assert suggest(state, min_total=0.58, min_chars=1, min_value=0).text == "i"  # 0.6, then 0.57 would be below
    assert suggest(state, max_chars=2).text == "ic"
    assert suggest(state, max_chars=0).text == ""


def test_never_ends_inside_a_utf8_character(chain):
    # After "f" the model is sure of the lead byte C5 but not of the byte that ends the
    # character: the suggestion must not show half of it.
    result = suggest(chain.prime(b"f"))
    assert result.text == ""
    assert result.probability == 1.0
    # A cap that falls inside a character keeps whole characters only.
    assert suggest(chain.prime(b"h"), max_chars=3).text == "✓✓✓"
    assert suggest(chain.prime("zé"), max_chars=4).text == "éééé"
    for text in ("f", "h", "zé", "the qu"):
        for cap in range(6):
            got = suggest(chain.prime(text.encode()), max_chars=cap, min_prob=0.0, min_total=0.0)
            assert "\ufffd" not in got.text and len(got.text) <= cap


def test_a_text_ending_mid_character_gets_no_suggestion(chain):
    assert suggest(chain.prime(b"z\xc3")).text == ""
    assert unfinished_tail(b"z\xc3") == 1 and unfinished_tail(b"z\xe2\x9c") == 2 and unfinished_tail("é✓".encode()) == 0


def test_beam_finds_the_likelier_whole_word():
    # After "c": greedy takes "a" (0.5), then "t" (0.4); "o" (0.4) leads to a sure "ol ".
    config, weights = chain_weights(
        {"c": {"a": 0.5, "o": 0.4}, "a": {"t": 0.4, "r": 0.3}, "o": {"l": 0.99}, "l": {" ": 0.99}, "t": {" ": 0.9}}
    )
    engine = Engine("b", config, weights)
    state = engine.prime(b" c")
    assert suggest(state, beam=1, min_prob=0.3, min_total=0.01, min_value=0.2).text == "at "
    assert suggest(state, beam=3, min_prob=0.3, min_total=0.01, min_value=0.2).text == "ol "


def test_suggest_leaves_the_state_alone(chain):
    state = chain.prime(b"the qu")
    before = state.logits()
    suggest(state, beam=3)
    alternatives(state, 3)
    sample(state, 20, rng=np.random.default_rng(0))
    assert np.array_equal(state.logits(), before)


def test_alternatives_are_distinct_and_ranked(chain):
    options = alternatives(chain.prime(b"the qu"), 3)
    assert [o.text for o in options] == ["ick ", "est "]  # nothing else is likely enough
    assert options[0].probability > options[1].probability
    assert alternatives(chain.prime(b"the qu"), 1)[0].text == "ick "
    assert alternatives(chain.prime(b"the qu"), 0) == []


def test_alternatives_follow_one_rule_and_are_ranked_by_what_they_save():
    # Issue 26: -k 1 listed what plain `complete` did not show, --json -k 3 listed others
    # after an empty completion, and "best first" put one of probability 0.260 before one of
    # 0.293. Now every option listed would be shown on its own, the suggestion first, and the
    # others follow by the keys they save on average, the figure the suggestion is chosen by.
    config, weights = chain_weights({
        "x": {"a": 0.4, "b": 0.25, "c": 0.2, "d": 0.1},
        "a": {"m": 0.95}, "m": {"o": 0.95}, "o": {"k": 0.95}, "k": {" ": 0.95},
        "b": {"e": 0.9}, "e": {" ": 0.9},
        "c": {"u": 0.9}, "u": {"r": 0.9}, "r": {"t": 0.9}, "t": {" ": 0.9},
        "d": {"i": 0.9}, "i": {"g": 0.9},
    })
    engine = Engine("ranks", config, weights)
    state = engine.prime(b"x")
    bar = {"min_value": 0.2}  # the bar every option must pass (the default's)
    main = suggest(state, **bar)
    ranked = alternatives(state, 6, **bar)
    assert main.text == "amok " and ranked[0] == main
    # "curt " is less likely than "be " but saves more; "dig" saves 0.16 keys: not worth showing.
    assert [o.text for o in alternatives(state, 6, min_value=0.5)] == ["amok ", "curt "]  # a higher bar: "be " goes
    assert [o.text for o in ranked] == ["amok ", "curt ", "be "]
    assert ranked[2].probability > ranked[1].probability
    saves = [o.saves for o in ranked]
    assert saves == sorted(saves, reverse=True)
    for k in range(7):
        assert alternatives(state, k, **bar) == ranked[:k]
    # Nothing worth showing: no list either (-k 1 is plain `complete`).
    assert suggest(state, min_value=1.5).text == "" and alternatives(state, 3, min_value=1.5) == []


def test_sample_is_repeatable_and_bounded(small):
    state = small.prime(b"hello")
    one = sample(state, 30, temperature=0.8, top_k=20, rng=np.random.default_rng(5))
    two = sample(state, 30, temperature=0.8, top_k=20, rng=np.random.default_rng(5))
    assert one == two and len(one) <= 30
    assert sample(state, 0, rng=np.random.default_rng(1)) == ""


def test_sample_at_temperature_zero_is_greedy(chain):
    assert sample(chain.prime(b"the qu"), 9, temperature=0) == "ick brown"


# ------------------------------------------------------------ the completer


def _states_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.h + a.c, b.h + b.c, strict=True))


def test_completer_typing_and_editing_equals_fresh_priming(small):
    completer = Completer(small, checkpoint_every=4)
    typed = ""
    script = "Déjà vu: the quick brown fox ✓ jumps"
    rng = np.random.default_rng(0)
    for char in script:
        typed += char
        if rng.random() < 0.2:
            typed = typed[: max(0, len(typed) - int(rng.integers(1, 6)))]  # backspaces
        incremental = completer.state_for(typed)
        assert _states_equal(incremental, small.prime(typed.encode()))
        assert completer.complete(typed) == suggest(small.prime(typed.encode()))
    jumped = "something else entirely"
    assert _states_equal(completer.state_for(jumped), small.prime(jumped.encode()))
    assert _states_equal(completer.state_for(b""), small.start())


def test_completer_past_the_window_matches_a_windowed_prime(small):
    completer = Completer(small, window=64)
    long_a = "a" * 10 + "x" * 200
    long_b = "b" * 300
    completer.state_for(long_a)
    assert _states_equal(completer.state_for(long_b), small.prime(long_b.encode(), window=64))


def test_a_completer_given_only_the_tail_matches_one_given_the_whole_text(small):
    """complete_at(tail, offset) is what the editor and a language server call per keystroke:
    the last lines before the cursor and where they start, never the whole document."""
    whole = Completer(small, window=64, checkpoint_every=4)
    tails = Completer(small, window=64, checkpoint_every=4)
    script = "Déjà vu: the quick brown fox ✓ jumps over the lazy dog, again and again, " * 4
    rng = np.random.default_rng(1)
    typed = ""
    for char in script:
        typed += char
        if rng.random() < 0.15:
            typed = typed[: max(0, len(typed) - int(rng.integers(1, 6)))]  # backspaces
        tail = typed[-72:]  # at least a window's worth (64 bytes) of characters
        offset = len(typed) - len(tail)
        assert _states_equal(tails.state_at(tail, offset), whole.state_for(typed))
        assert tails.complete_at(tail, offset) == whole.complete(typed)
        if len(typed.encode()) <= 64:
            assert _states_equal(tails.state_at(tail, offset), small.prime(typed.encode()))
    assert tails.alternatives_at(typed[-72:], len(typed) - 72, 3) == whole.alternatives(typed, 3)
    # An edit further back than the usual tail: the caller hands the text from the edit on.
    edited = typed[:100] + "Zorblax" + typed[104:]
    start = min(100, len(edited) - 72)
    assert _states_equal(tails.state_at(edited[start:], start), whole.state_for(edited))
    # A jump elsewhere (an offset it cannot place) starts over as the whole text would.
    elsewhere = "something else entirely, and more of it here, enough to fill a window"
    far = "y" * 10_000 + elsewhere
    assert _states_equal(tails.state_at(elsewhere, 10_000), small.prime(far.encode(), window=64))
    # Bytes: the offset counts bytes.
    data = typed.encode()
    assert _states_equal(tails.state_at(data[-70:], len(data) - 70), small.prime(data, window=64))
    typed_on = small.prime(data, window=64)
    typed_on.feed(b"!")  # one byte typed: read on from there, not primed again
    assert _states_equal(tails.state_at(data[-69:] + b"!", len(data) - 69), typed_on)


def test_a_learning_completer_given_tails_counts_what_is_typed_once(small):
    whole = Completer(typing_cache(small), learn=True)
    tails = Completer(typing_cache(small), learn=True)
    typed = ""
    for char in "Zorblax said hello. Zorblax said goodbye. " * 3:
        typed += char
        tail = typed[-1100:]
        tails.complete_at(tail, len(typed) - len(tail))
        whole.complete(typed)
    assert tails.engine.caches[0].observed_bytes == whole.engine.caches[0].observed_bytes == len(typed) - 1


def test_completer_reads_only_new_bytes(small, monkeypatch):
    completer = Completer(small)
    text = "hello world, this is a longer line of text"  # 42 bytes: checkpoints at 16 and 32
    completer.complete(text)
    fed = []
    state_class = type(completer.state_for(text))
    original = state_class.feed

    def counting_feed(self, data):
        fed.append(len(data))
        return original(self, data)

    monkeypatch.setattr(state_class, "feed", counting_feed)
    completer.state_for(text + "!")
    assert fed == [1]
    fed.clear()
    completer.state_for(text[:-1])  # a backspace resumes from the checkpoint at 32
    assert sum(fed) == 41 - 32


class _NewWeightsOnce:
    """An online source (cache.OnlineSource) that hands over `fresh` at the first `latest()` after `ready`."""

    def __init__(self, fresh: Engine):
        self.fresh, self.ready = fresh, False

    def feed(self, data: bytes) -> None:
        pass

    def start_document(self) -> None:
        pass

    def latest(self) -> Engine | None:
        fresh, self.fresh = (self.fresh, None) if self.ready else (None, self.fresh)
        return fresh


def test_a_backspace_after_new_online_weights_resumes_under_them():
    """New online weights carry the state read so far, and the checkpoints move to them in
    place: none keeps the old weights alive, and the state after a backspace is what the new
    weights make of the checkpoint's hidden state."""
    config = ModelConfig(cell="gru", embed=16, hidden=32)
    save_weights("before", config, random_weights(config, seed=1, scale=0.5, radius=0.9))
    save_weights("after", config, random_weights(config, seed=2, scale=0.5, radius=0.9))
    before, after = Engine.load("before"), Engine.load("after")
    online = _NewWeightsOnce(after)
    completer = Completer(typing_cache(before, "", online=online))
    text = "hello world, this is a longer line of text"  # checkpoints at 16 and 32
    completer.state_for(text)
    position, checkpoint = completer._checkpoints[-1]
    assert position == 32
    checkpoint = checkpoint.fork()
    online.ready = True
    assert completer.state_for(text + "!").engine.base is after  # the new weights read the next key
    assert all(state.engine is completer.engine for _, state in completer._checkpoints)
    resumed = completer.state_for(text[:-1])  # a backspace: from the checkpoint at 32
    assert resumed.engine is completer.engine and resumed.engine.base is after
    expected = checkpoint.carried_to(completer.engine)
    expected.feed(text[32:-1].encode())
    assert _states_equal(resumed.inner, expected.inner)
    assert np.allclose(resumed.probs(), expected.probs())
    # Under the old weights the same bytes give another state: the test can tell them apart.
    stale = checkpoint.fork()
    stale.feed(text[32:-1].encode())
    assert not _states_equal(resumed.inner, stale.inner)


def test_set_engine_drops_the_cache(chain, small):
    completer = Completer(small)
    completer.complete("the qu")
    completer.set_engine(chain)
    assert completer.complete("the qu").text == "ick "


def test_a_learning_completer_picks_up_a_name_the_writer_repeats(small):
    """With a cache, a made-up name typed twice is suggested the third time; the model alone cannot."""
    text = ""
    learning = Completer(typing_cache(small), learn=True)
    for line in ("I met Zorblax today. ", "Zorblax likes tea. ", "Later Zorblax left. "):
        for char in line:
            text += char
            learning.complete(text)
    # Every typed byte was counted but the first, which the Completer read as the document's start.
    assert learning.engine.caches[0].observed_bytes == len(text) - 1
    assert learning.complete(text + "Zor").text == "blax "
    assert Completer(small).complete(text + "Zor").text != "blax "


def test_a_learning_completer_counts_text_once(small):
    """Re-reading after an edit or a jump reads the text; only typing counts it."""
    completer = Completer(typing_cache(small, "the opened document. "), learn=True)
    cache = completer.engine.caches[0]
    opened = cache.observed_bytes
    completer.complete("hello world")  # first read: the text was there, not typed
    assert cache.observed_bytes == opened
    completer.complete("hello world!")  # one typed byte
    assert cache.observed_bytes == opened + 1
    completer.complete("hello")  # a deletion: resumes from a checkpoint, re-reads "hello", counts nothing
    assert cache.observed_bytes == opened + 1
    completer.complete("hello world!")  # typed again after the deletion: counted again
    assert cache.observed_bytes == opened + 8


def test_a_completer_without_a_cache_cannot_learn(small):
    with pytest.raises(ValueError, match="cannot learn"):
        Completer(small, learn=True)


def test_a_rebased_cache_keeps_what_it_learned(small, chain):
    engine = typing_cache(small, "Zorblax Zorblax Zorblax ")
    twin = engine.rebased(chain)
    assert twin.caches[0] is engine.caches[0] and twin.mixer is engine.mixer
    assert twin.base is chain and engine.base is small
    assert twin.name == "chain+cache"


# ------------------------------------------------------------ the command


def test_plain_completion(chain):
    result = run_cli("--model", "chain", data=b"the qu")
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ick \n"
    assert result.stderr == b""


def test_a_pipes_completion_is_one_line():
    # A shell or a script reads one line: `complete` never runs on past a line end.
    save_weights("lines", *chain_weights(LINE_CHAIN))
    assert run_cli("--model", "lines", data=b"o").stdout == b"k;\n"
    answer = json.loads(run_cli("--model", "lines", "--json", data=b"o").stdout)
    assert answer["completion"] == "k;"


def test_echo_newline_is_dropped_unless_kept(chain):
    assert run_cli("--model", "chain", data=b"the qu\n").stdout == b"ick \n"
    assert run_cli("--model", "chain", "--keep-newline", data=b"the qu\n").stdout == b"\n"


def test_model_in_use_is_the_default(chain):
    store.update_settings(model="chain")
    assert run_cli(data=b"the qu").stdout == b"ick \n"


def test_json_answer(chain):
    result = run_cli("--model", "chain", "--json", "--max-chars", "3", data=b"the qu")
    answer = json.loads(result.stdout)
    assert answer["completion"] == "ick"
    assert answer["probability"] == pytest.approx(0.6 * 0.95 * 0.95, rel=1e-3)
    assert answer["alternatives"] == [] and answer["model"] == "chain"


def test_alternatives(chain):
    plain = run_cli("--model", "chain", "--alternatives", "3", data=b"the qu")
    assert plain.stdout.decode().splitlines() == ["ick ", "est "]
    answer = json.loads(run_cli("--model", "chain", "--alternatives", "3", "--json", data=b"the qu").stdout)
    assert [a["completion"] for a in answer["alternatives"]] == ["ick ", "est "]
    assert answer["completion"] == "ick "


def test_empty_input_gets_an_empty_completion(chain):
    # A shell widget on an empty line must not insert what documents start with.
    for data in (b"", b"\n"):
        plain = run_cli("--model", "chain", data=data)
        assert plain.returncode == 0 and plain.stdout == b"\n", plain.stderr
        answer = json.loads(run_cli("--model", "chain", "--json", "-k", "3", data=data).stdout)
        assert answer == {"completion": "", "alternatives": [], "model": "chain"}


def test_an_empty_completion_has_no_probability(chain):
    answer = json.loads(run_cli("--model", "chain", "--json", data=b"m").stdout)  # anything may follow "m"
    assert answer["completion"] == "" and "probability" not in answer
    answer = json.loads(run_cli("--model", "chain", "--json", data=b"the qu").stdout)
    assert answer["completion"] == "ick " and answer["probability"] > 0


def test_alternatives_on_the_command_line_are_a_prefix_of_longer_lists(chain):
    lists = [run_cli("--model", "chain", "-k", str(k), data=b"the qu").stdout.decode().splitlines() for k in (1, 2, 3)]
    assert lists == [["ick "], ["ick ", "est "], ["ick ", "est "]]


def test_sample(chain, small):
    greedy = run_cli("--model", "chain", "--sample", "--temperature", "0", "--max-chars", "9", data=b"the qu")
    assert greedy.stdout == b"ick brown\n"
    one = run_cli("--model", "small", "--sample", "--seed", "3", "--top-k", "5", "--max-chars", "25", data=b"x")
    two = run_cli("--model", "small", "--sample", "--seed", "3", "--top-k", "5", "--max-chars", "25", data=b"x")
    assert one.returncode == 0 and one.stdout == two.stdout
    assert len(one.stdout.decode()) <= 26


def test_invalid_utf8_input(chain):
    result = run_cli("--model", "chain", "--json", data=b"\xff\xfe\x80 the qu")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["completion"] == "ick "
    ends_mid_character = run_cli("--model", "chain", data=b"abc\xc3")
    assert ends_mid_character.returncode == 0 and ends_mid_character.stdout == b"\n"


def test_missing_model_is_one_sentence():
    result = run_cli("--model", "nope", data=b"x")
    assert result.returncode != 0
    message = result.stderr.decode().strip()
    assert "nope" in message and "\n" not in message and "Traceback" not in message


def test_lines_mode_serves_many_requests_and_survives_bad_ones(chain):
    requests, expected = [], []
    texts = ["the qu", "the quick ", "a", "m", "the q", "zé"]
    for index in range(1000):
        kind = index % 10
        if kind == 3:
            requests.append(b"this is not json")
            expected.append("error")
        elif kind == 5:
            requests.append(b'{"text": "\xff\xfe bad bytes"}')
            expected.append("error")
        elif kind == 7:
            requests.append(json.dumps({"text": 42}).encode())
            expected.append("error")
        elif kind == 8:
            requests.append(json.dumps({"text": "x", "max_chars": -1}).encode())
            expected.append("error")
        else:
            text = texts[index % len(texts)]
            requests.append(json.dumps({"text": text, "id": index, "alternatives": index % 3}).encode())
            expected.append(suggest(chain.prime(text.encode())).text)
    result = run_cli("--model", "chain", "--lines", data=b"\n".join(requests) + b"\n", timeout=120)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(answers) == 1000
    for index, (answer, want) in enumerate(zip(answers, expected, strict=True)):
        if want == "error":
            assert set(answer) == {"error"}, answer
        else:
            assert answer["id"] == index and answer["completion"] == want
            assert len(answer["alternatives"]) <= index % 3
    assert b"Traceback" not in result.stderr


def test_lines_mode_errors_carry_the_request_id(chain):
    requests = [
        {"id": 7, "text": 42},
        {"id": "seven", "text": "x", "max_chars": -1},
        {"id": [1, 2], "text": "x", "colour": "red"},
        {"id": 8, "text": ""},
        {"text": 42},
    ]
    data = b"".join(json.dumps(r).encode() + b"\n" for r in requests) + b"not json\n"
    result = run_cli("--model", "chain", "--lines", data=data)
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a.get("id") for a in answers] == [7, "seven", [1, 2], 8, None, None]
    assert all("error" in a for a in answers[:3] + answers[4:])
    assert answers[3] == {"id": 8, "completion": "", "alternatives": [], "model": "chain"}


def test_lines_mode_answers_each_line_at_once(chain):
    process = subprocess.Popen(
        [*CLI, "--model", "chain", "--lines"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for text in ("the qu", "the quick "):
            process.stdin.write(json.dumps({"text": text}).encode() + b"\n")
            process.stdin.flush()
            answer = json.loads(process.stdout.readline())  # would hang if answers were buffered
            assert answer["completion"] == {"the qu": "ick ", "the quick ": "brown."}[text]
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    assert process.returncode == 0


def test_closed_pipe_gives_no_traceback(chain):
    # The reader takes one byte and leaves, as `| head -c 1` does.
    process = subprocess.Popen(
        [*CLI, "--model", "chain", "--lines"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    writer = threading.Thread(target=_write_requests, args=(process.stdin, 20_000), daemon=True)
    writer.start()
    assert len(process.stdout.read(1)) == 1
    process.stdout.close()
    writer.join(timeout=60)
    _, stderr = process.communicate(timeout=60)
    assert b"Traceback" not in stderr and b"Error" not in stderr

    # A long answer into `head -c 1`: "z" is followed by "é" forever.
    command = f"{' '.join(CLI)} --model chain --sample --temperature 0 --max-chars 100000"
    result = subprocess.run(
        ["sh", "-c", f"printf z | {command} | head -c 1"], capture_output=True, timeout=60, env=dict(os.environ)
    )
    assert result.stdout == b"\xc3" and b"Traceback" not in result.stderr, result.stderr


def _write_requests(stream, count: int) -> None:
    try:
        for _ in range(count):
            stream.write(b'{"text": "the qu"}\n')
        stream.close()
    except (BrokenPipeError, OSError):
        pass  # the command may stop reading once its reader is gone


def _peak_memory_kb(megabytes: int) -> tuple[bytes, int]:
    """Run the command on `megabytes` MB of text ending in "the qu"; (stdout, peak RSS in kB)."""
    script = (
        "import resource, sys\n"
        "from charcomplete.cli import main\n"
        "sys.argv = ['charcomplete', 'complete', '--model', 'chain']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    block = b"lorem ipsum dolor sit amet " * 4000  # ~108 kB

    def feed() -> None:
        for _ in range(megabytes * 1024 * 1024 // len(block)):
            process.stdin.write(block)
        process.stdin.write(b"the qu")
        process.stdin.close()

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    stdout = process.stdout.read()  # not communicate(): it would close stdin under the writer
    writer.join(timeout=120)
    stderr = process.stderr.read()
    process.wait(timeout=60)
    return stdout, int(stderr.decode().strip().splitlines()[-1])


def test_huge_input_uses_bounded_memory(chain):
    # 100 MB of text before the cursor: only the tail matters, and only the tail is kept.
    small_out, small_peak = _peak_memory_kb(0)
    big_out, big_peak = _peak_memory_kb(100)
    assert small_out == big_out == b"ick \n"
    assert big_peak - small_peak < 30 * 1024, f"peak memory grew by {big_peak - small_peak} kB: the input was buffered"


def test_complete_path_never_imports_torch_or_textual(chain):
    script = (
        "import sys\n"
        "from charcomplete.cli import main\n"
        "sys.argv = ['charcomplete', 'complete', '--model', 'chain', '--json', '--alternatives', '2']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(repr(sorted(m for m in ('torch', 'textual') if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], input=b"the qu", capture_output=True, timeout=60, env=dict(os.environ)
    )
    assert json.loads(result.stdout)["completion"] == "ick "
    assert result.stderr.decode().strip().endswith("[]"), result.stderr


def test_sampling_never_breaks_a_character(small):
    # Issue 26: `complete --sample` after Chinese text printed U+FFFD, the model having drawn
    # a character's first byte and then no continuation (or one where none was due). A model
    # of random weights draws any byte anywhere, so every seed here tries it.
    for prompt in ("今天我们讨论循环神经".encode(), b"x", "caf\u00e9".encode()[:-1]):
        state = small.prime(prompt)
        for seed in range(20):
            text = sample(state, 12, temperature=1.5, rng=np.random.default_rng(seed))
            assert "\ufffd" not in text, (prompt, seed, text)
            assert len(text) == 12 or text == text.encode("utf-8").decode("utf-8")


def test_sample_on_the_command_line_is_whole_characters():
    # The issue's command, with the built-in model: it printed e8 af 94 ef bf bd ef bf bd.
    result = run_cli("--sample", "--seed", "23", "--max-chars", "3", data="今天我们讨论循环神经".encode())
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode("utf-8")  # strict: a broken character fails here
    assert "\ufffd" not in text and 1 <= len(text.rstrip("\n")) <= 3


def test_json_alternatives_print_what_they_are_ranked_by(chain):
    answer = json.loads(run_cli("--model", "chain", "--json", "-k", "3", data=b"the qu").stdout)
    figures = [option["saves"] for option in answer["alternatives"]]
    assert answer["saves"] == figures[0] and figures == sorted(figures, reverse=True)
    one = run_cli("--model", "chain", "-k", "1", data=b"the qu").stdout
    assert one == run_cli("--model", "chain", data=b"the qu").stdout


@pytest.mark.parametrize("typed, wanted", [
    ("we use docker compose here.\nlater: docker co", "mpo"),
    ("run the tests with pytest.\nrun the te", "sts"),
])
def test_a_phrase_typed_once_beats_the_models_prior(typed, wanted):
    # Issue 26: `docker co` -> `mmit` right after `docker compose` was typed in the same document.
    # The built-in model with the editor's typing cache, fed one keystroke at a time.
    completer = Completer(typing_cache(Engine.load("default"), ""), learn=True, budget_ms=None)  # load-free
    for end in range(1, len(typed) + 1):
        shown = completer.complete(typed[:end])
    assert shown.text.startswith(wanted), shown
