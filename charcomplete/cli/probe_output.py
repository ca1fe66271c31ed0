"""The probes' tables and plots (evaluate/probes.py), shown by `compare` for each cell and by
`eval --context` for one model: one module both commands use, so neither imports the other."""

from __future__ import annotations

import sys


def draw_probes(context_axes, distance_axes, probes: dict[str, dict]) -> None:
    """The context curve and the closers-by-distance plot, one line per model."""
    from charcomplete.evaluate.plot import category_panel

    first = next(iter(probes.values()))
    labels = [point["label"] for point in first["context"]["curve"]]
    category_panel(context_axes, labels,
                   {name: [point["bpc"] for point in p["context"]["curve"]] for name, p in probes.items()},
                   "held-out bpc, state reset every K bytes", "K (bytes the model may use)", "bpc")
    buckets = first["distance"]["buckets"]
    category_panel(distance_axes, [f"{b['bucket']}\n({b['count']:,})" for b in buckets],
                   {name: [b["mean_p"] for b in p["distance"]["buckets"]] for name, p in probes.items()},
                   "closing a bracket, quote, fence, tag or name", "bytes back to what it closes (count)",
                   "mean probability of the right byte")


def print_probes(probes: dict[str, dict], console=None) -> None:
    """The context curve and the distance table, a column per model."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    names = list(probes)
    first = probes[names[0]]
    console.print("bits per character with the state reset every K bytes (the context the model may use):")
    context = Table(box=None, pad_edge=False)
    context.add_column("K", justify="right")
    for name in names:
        context.add_column(name, justify="right")
    for index, point in enumerate(first["context"]["curve"]):
        context.add_row(point["label"], *(f"{probes[n]['context']['curve'][index]['bpc']:.3f}" for n in names))
    gains = [probes[n]["context"]["gain_beyond_128"] for n in names]
    if all(gain is not None for gain in gains):
        context.add_row("gain 128 -> never", *(f"{gain:+.3f}" for gain in gains))
    console.print(context)
    console.print()
    console.print("long-range closers (bracket, quote, code fence, tag, repeated name): mean probability of the "
                  "right byte, by bytes back to what it closes:")
    distance = Table(box=None, pad_edge=False)
    distance.add_column("distance", justify="right")
    distance.add_column("count", justify="right")
    for name in names:
        distance.add_column(name, justify="right")
    for index, bucket in enumerate(first["distance"]["buckets"]):
        values = [probes[n]["distance"]["buckets"][index]["mean_p"] for n in names]
        distance.add_row(bucket["bucket"], f"{bucket['count']:,}",
                         *("-" if value is None else f"{value:.3f}" for value in values))
    console.print(distance)
    seconds = sum(p["seconds"] for p in probes.values())
    console.print(f"(weights fixed; {first['context']['bytes']:,} held-out bytes; the probes took {seconds:.1f} s)")
