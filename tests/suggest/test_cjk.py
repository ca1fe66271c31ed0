"""Chinese (and other CJK) suggestions: what a CJK character is worth, where a CJK word ends, and
that a suggestion is always whole characters. The models here are real byte n-grams counted on a
small Chinese text (exact, and fast to build)."""

from __future__ import annotations

import random

import pytest

from charcomplete.model.ngram import NGram, NGramEngine
from charcomplete.suggest.characters import (
    IME_KEYS,
    is_ime_char,
    is_word_char,
    last_char_length,
    typing_keys,
)
from charcomplete.suggest.decoder import DEFAULT_POLICY, alternatives, suggest

# After "他说" always "好。", then one of three clauses; after "循环神经" always "网", then one of
# six characters (none of them worth a guess).
CLAUSES = ["他说好。然后走了。", "他说好。然而不是。", "他说好。然则如何。"]
NETS = [f"循环神经网{last}。" for last in "络站页球关格"]
OLD = DEFAULT_POLICY.replace(ime_keys=1.0, word_chars=False)  # a character one key, every non-ASCII byte a word byte


@pytest.fixture(scope="module")
def chinese() -> NGramEngine:
    lines = CLAUSES * 20 + NETS * 10  # each clause a third of the time, each character a sixth
    random.Random(0).shuffle(lines)
    return NGramEngine(NGram(order=8).fit("\n".join(lines).encode()), name="chinese")


def test_a_cjk_character_costs_the_keys_an_input_method_spends():
    assert IME_KEYS == 2.0
    assert typing_keys("神经网络") == 8 and typing_keys("ab") == 2 and typing_keys("网，") == 3
    assert typing_keys("ひらがな") == 8 and typing_keys("한국") == 4 and typing_keys("é✓") == 2
    assert typing_keys("神经", ime_keys=1.0) == 2
    assert is_ime_char("网") and is_ime_char("カ") and not is_ime_char("。") and not is_ime_char("Ａ")


def test_punctuation_and_spaces_in_any_script_end_a_word():
    for mark in "，。：、；！？）（“”…　":
        assert not is_word_char(mark.encode()), mark
    for letter in "网aZ_7éЖカ한":
        assert is_word_char(letter.encode()), letter
    assert last_char_length("x网".encode()) == 3 and last_char_length(b"x") == 1 and last_char_length(b"\x80") == 1


def test_one_sure_cjk_character_is_worth_a_tab(chinese):
    # "网" is sure, what follows it a one-in-six guess. One character was never shown (it was
    # worth a key, the key that takes it); typed through an input method it is worth two.
    state = chinese.prime("\n循环神经".encode())
    got = suggest(state)
    assert got.text == "网" and got.probability > 0.95
    assert got.saves == pytest.approx(got.probability * (IME_KEYS - 1))
    assert suggest(state, OLD).text != "网"  # before: a six-way guess of a character more


def test_a_cjk_full_stop_ends_a_word_for_the_cut_rules(chinese):
    # "好。" is sure and ends the clause; which clause comes next is a three-way guess. With "。" a
    # word end, going on needs the next clause to be likely as a whole (decoder.MORE), as after an
    # English full stop; a cut past it falls only where a word ends, never inside "然后".
    state = chinese.prime("\n他说".encode())
    assert suggest(state).text == "好。"
    assert suggest(state, word_chars=False).text == "好。然"  # "。" a word byte: the cut splits 然后
    assert suggest(state, OLD).text == "好。然后走了。"  # before: a third of the time right


def test_alternatives_in_chinese_are_whole_characters_ranked_by_keys_saved(chinese):
    options = alternatives(chinese.prime("\n循环神经网".encode()), k=4, min_value=0.0)
    assert options, "six likely characters: something to list"
    for option in options:
        option.text.encode("utf-8").decode("utf-8")  # whole characters
        assert option.saves == pytest.approx(option.probability * (typing_keys(option.text) - 1))
    assert [o.saves for o in options[1:]] == sorted((o.saves for o in options[1:]), reverse=True)


def test_no_suggestion_ever_breaks_a_character(chinese):
    # Every prefix of the text, cut anywhere (inside characters too), under each policy.
    text = "\n".join(CLAUSES + NETS).encode()
    for policy in (DEFAULT_POLICY, OLD, DEFAULT_POLICY.replace(char_prob=True, min_prob=0.01, min_total=0.01)):
        for end in range(len(text)):
            state = chinese.prime(text[:end])
            for option in [suggest(state, policy), *alternatives(state, k=3, policy=policy)]:
                assert "\ufffd" not in option.text
                assert option.text.encode("utf-8").decode("utf-8") == option.text
