"""What a suggestion should show (issue 15): decoding policies measured the way a person uses them.

    nice python benchmarks/suggestion_policy.py                     # the old and the new policy, first 20 kB
    nice python benchmarks/suggestion_policy.py --grid --offset 100000 --bytes 12000   # the tuning grid, dev slice

A simulated typist (charcomplete.evaluate.evaluation, the editor's suggestion path: the model mixed
with the cache of the text typed so far) types the held-out notes of the notes benchmark
(data/notes_benchmark.py: the last 10% of ../shared/corpora/til-notes in sorted path
order, never trained on). Wherever it is, it looks at the suggestion the policy shows;
when the text goes on with it, it accepts it with one key (Tab), otherwise it types one
character. Two figures per policy:

- keystroke savings (KSR) = 1 - keys / characters: what suggestions save in all;
- accepted characters per suggestion shown: what a ghost text is worth to the person
  who has to read it (a wrong or empty-looking one counts as zero).

Wrong ghost text is a cost too (issue 26): of the suggestions shown, the share that was
wrong (not what the text went on with: shown and not accepted), and savings net of what
the wrong ones cost the person reading them, `--wrong-cost` keys each (0.25: a glance;
1: as much as an Esc that dismisses it). With --grid the policy worth most is the one
with the highest net savings, printed last.

Also: how many suggestions were shown, the share accepted (precision), their mean
length, how many were one character long or spaces only, savings with Ctrl+Right (first
word only), and the decoding time per suggestion.

Chinese, Japanese or Korean text (--text DIR: a folder of text typed in place of the notes,
e.g. a slice of ../shared/corpora/zh-rust-book) is typed through an input method, which
spends several keys on each CJK character: the "IME" columns count it IME_KEYS keys
(suggest/characters.py says why 2), unaided and when the typist types it, so that what a
suggestion of CJK characters saves is counted as the keys it saves (net of wrong ones, too).
For text without CJK characters they equal KSR and net.

The slice: whole documents from --offset bytes into the held-out text until --bytes
(the defaults are the notes benchmark's keystroke-savings text, the first 20 kB). The
policies were tuned on a separate slice (--offset 100000, after the text the notes
benchmark evaluates) and are reported on the first 20 kB. One thread; it says so and
skips when the corpus is absent."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "data"))
from machine import describe  # noqa: E402
from notes_benchmark import NOTES, notes_split  # noqa: E402


def policies(grid: bool) -> dict[str, object]:
    """label -> decoder.Policy: the old and the new one, and with --grid one change at a time around the new."""
    from charcomplete.suggest.decoder import DEFAULT_POLICY, Policy

    # The policy before issue 15 (one word, cut after its space or punctuation, any length shown).
    # Both count a character as one key and every non-ASCII byte as a word byte, as they did.
    ISSUE3_POLICY = Policy(min_prob=0.25, min_total=0.2, more=1.0, min_chars=0, blank_ok=True,
                           finish_typed_word=True, cut_by_savings=False, min_value=0.0, ime_keys=1.0,
                           word_chars=False)

    # Issue 15's policy (the default until issue 11): the continuation cut at its last whole
    # word (with the space or punctuation after it) and shown whatever it was worth.
    issue15 = Policy(min_prob=0.25, min_total=0.2, more=0.5, cut_by_savings=False, min_value=0.0, ime_keys=1.0,
                     word_chars=False)

    chosen = {"old (issue 3)": ISSUE3_POLICY, "issue 15": issue15, "new (the default)": DEFAULT_POLICY}
    if not grid:
        return chosen
    changes = [
        {"min_value": 0.0}, {"min_value": 0.1}, {"min_value": 0.2}, {"min_value": 0.3}, {"min_value": 0.4},
        {"min_total": 0.2}, {"min_total": 0.05}, {"min_prob": 0.25}, {"min_prob": 0.1},
        {"more": 0.35}, {"more": 0.8}, {"cut_by_savings": False}, {"beam": 1}, {"beam": 3}, {"beam": 4},
        {"beam": 8}, {"min_prob": 0.05}, {"min_total": 0.02}, {"max_chars": 80},
        {"min_chars": 3}, {"words": 2}, {"whole_words": True}, {"finish_words": True},
        {"min_value": 0.75}, {"min_value": 1.0},
        # CJK (the Chinese item of issue 26), one change at a time from the policy before it:
        # characters as one key each and non-ASCII bytes all word bytes (as before), then each
        # change alone, then a per-character min_prob on top.
        {"ime_keys": 1.0, "word_chars": False}, {"ime_keys": 1.0}, {"word_chars": False},
        {"char_prob": True}, {"ime_keys": 1.0, "word_chars": False, "char_prob": True},
        # The interactive surfaces' time budget (issue 23: what it costs, on this machine, now).
        {"budget_ms": 2.5}, {"budget_ms": 6.0},
        # A document's surfaces (policy.IN_DOCUMENTS): on past a line end (issue 23).
        {"line_ends": True},
    ]
    for change in changes:
        label = ", ".join(f"{key} {value}" for key, value in change.items())
        chosen[label] = DEFAULT_POLICY.replace(**change)
    return chosen


def net_savings(figures: dict, chars: float, wrong_cost: float, keys: str = "keys") -> float:
    """Keystroke savings less what the wrong suggestions cost: 1 - (keys + cost * wrong) / chars
    (`keys` "ime_keys" and `chars` the text's keys through an input method: the same in IME keys)."""
    wrong = figures["shown"] - figures["accepted"]
    return 1.0 - (figures[keys] + wrong_cost * wrong) / chars if chars else 0.0


def documents_slice(docs: list[bytes], offset: int, size: int) -> list[bytes]:
    """Whole documents, from the first that starts at or after `offset` bytes, until `size` bytes."""
    out, position, taken = [], 0, 0
    for doc in docs:
        if position >= offset and taken < size:
            out.append(doc)
            taken += len(doc)
        position += len(doc)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="default", help="model (default: the built-in one)")
    parser.add_argument("--notes", type=Path, default=NOTES, help="the til-notes corpus")
    parser.add_argument("--text", type=Path, help="type this folder's text (all of it, path order) instead of "
                        "the held-out notes, e.g. a few chapters of ../shared/corpora/zh-rust-book")
    parser.add_argument("--offset", type=int, default=0, help="start this many bytes into the held-out text")
    parser.add_argument("--bytes", type=int, default=20_000, help="type this much text (whole documents)")
    parser.add_argument("--grid", action="store_true", help="also one change at a time around the new policy")
    parser.add_argument("--only", help="with --grid: only these policies (labels as printed, separated by |)")
    parser.add_argument("--without-old", action="store_true",
                        help="leave out the old policies (issue 3, issue 15): the default and --only's")
    parser.add_argument("--no-cache", action="store_true", help="the model alone, without the typing cache")
    parser.add_argument("--wrong-cost", type=float, default=0.25,
                        help="keys a wrong suggestion costs the person who reads it (1: an Esc)")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()

    source = args.text or args.notes
    if not source.is_dir():
        print(f"suggestion policy benchmark skipped: the corpus is absent ({source}); "
              "it lives in ../shared/corpora")
        return
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from charcomplete.evaluate.evaluation import as_documents, evaluate
    from charcomplete.learn import corpus
    from charcomplete.model.engine import use_one_blas_thread
    from charcomplete.storage import store

    use_one_blas_thread()
    if args.text:
        held = as_documents(corpus.scan([args.text]).documents)
    else:
        _, held_files = notes_split(args.notes)
        held = as_documents(corpus.scan(held_files).documents)
    docs = documents_slice(held, args.offset, args.bytes)
    if not docs:
        raise SystemExit(f"--offset {args.offset} is past the held-out text ({sum(map(len, held)):,} bytes)")
    wanted = args.only.split("|") if args.only else []
    first = 2 if args.without_old else 0
    chosen = {label: policy for index, (label, policy) in enumerate(policies(args.grid).items())
              if first <= index < 3 or (index >= 3 and (not wanted or label in wanted))}  # old and new, and those asked
    decoders = {label: dataclasses.asdict(policy) for label, policy in chosen.items()}
    loaded = store.load_model(args.model)
    load = os.getloadavg()
    print(f"machine: {describe()}")
    print(f"model: {args.model} ({loaded.config.describe()}), {'alone' if args.no_cache else 'with the typing cache'}")
    started = time.perf_counter()
    result = evaluate(loaded, docs, adapt=not args.no_cache, dynamic=False, max_bytes=None,
                      ksr_bytes=sum(map(len, docs)), decoders=decoders)
    ksr = result["ksr"]
    print(f"text: {ksr['documents']} {'documents of ' + str(args.text) if args.text else 'held-out documents'} "
          f"from byte {args.offset:,}, {ksr['chars']:,} characters ({ksr['ime_keys']:,.0f} keys through an "
          f"input method); {time.perf_counter() - started:.0f} s")
    net_label = f"net {args.wrong_cost:g}"
    header = (f"{'policy':<36} {'KSR':>6} {'wrong':>6} {net_label:>8} {'net 1':>6} {'IME KSR':>7} {'IME net':>7} "
              f"{'chars/shown':>11} {'shown':>6} "
              f"{'precision':>9} {'mean len':>8} {'1 char':>6} {'blank':>6} {'KSR word':>8} {'ms':>5}")
    print(header)
    for entry in result["decoders"]:
        whole, word = entry["whole"], entry["word"]
        wrong = whole["shown"] - whole["accepted"]
        whole["wrong_share"] = wrong / whole["shown"] if whole["shown"] else 0.0
        whole["net_savings"] = net_savings(whole, ksr["chars"], args.wrong_cost)
        whole["net_savings_esc"] = net_savings(whole, ksr["chars"], 1.0)
        whole["ime_net_savings"] = net_savings(whole, ksr["ime_keys"], args.wrong_cost, keys="ime_keys")
        print(f"{entry['label']:<36} {whole['savings']:>6.1%} {whole['wrong_share']:>6.1%} "
              f"{whole['net_savings']:>8.1%} {whole['net_savings_esc']:>6.1%} {whole['ime_savings']:>7.1%} "
              f"{whole['ime_net_savings']:>7.1%} {whole['chars_per_shown']:>11.2f} "
              f"{whole['shown']:>6,} {whole['precision']:>9.1%} {whole['mean_shown_chars']:>8.1f} "
              f"{whole['shown_one_char']:>6,} {whole['shown_blank']:>6,} {word['savings']:>8.1%} "
              f"{whole['ms_per_suggestion']:>5.2f}")
    net = "ime_net_savings" if args.text else "net_savings"
    best = max(result["decoders"], key=lambda entry: entry["whole"][net])
    print(f"worth most net of {args.wrong_cost:g} keys per wrong suggestion{' (IME keys)' if args.text else ''}: "
          f"{best['label']} ({best['whole'][net]:.1%} net, {best['whole']['savings']:.1%} savings)")
    if args.json:
        report = {"machine": describe(), "load_average": load, "model": args.model, "offset": args.offset,
                  "text": str(args.text) if args.text else None,
                  "bytes": args.bytes, "cache": not args.no_cache, "wrong_cost": args.wrong_cost, "result": result}
        Path(args.json).write_text(json.dumps(report, indent=1))
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
