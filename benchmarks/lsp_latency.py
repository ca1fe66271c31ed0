"""The language server's keystroke round trip, as an editor sees it: didChange for one
typed character, then textDocument/inlineCompletion at the cursor, timed from sending
the change to receiving the answer, over a few hundred keystrokes at a human pace, with
the background learner training; and the server's (and learner's) memory.

    python benchmarks/lsp_latency.py                  # built-in model, in a throw-away home
    python benchmarks/lsp_latency.py --no-learn       # without the learner

Target (issue 12): p99 <= 10 ms over 400 keystrokes with the learner running.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from editor_latency import TEXT, percentile  # the same typed text and percentile as the editor's figure
from machine import describe


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


async def run(args) -> dict:
    from lsprotocol import types
    from pytest_lsp import make_test_lsp_client

    command = [sys.executable, "-m", "charcomplete", "lsp"] + (["--model", args.model] if args.model else [])
    if args.no_learn:
        command.append("--no-learn")
    client = make_test_lsp_client()
    await client.start_io(*command)
    await client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    uri = "file:///bench/notes.md"
    opening = TEXT * 3
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="markdown", version=1, text=opening)))
    status_command = types.ExecuteCommandParams("charcomplete.status")
    if not args.no_learn:  # measure with the learner really training: wait for its first updates
        deadline = time.monotonic() + 120
        while (await client.workspace_execute_command_async(status_command))["learner_steps"] < 1:
            if time.monotonic() > deadline:
                raise SystemExit("the learner did not start training within two minutes")
            await asyncio.sleep(0.5)
    line, column, version = 0, len(opening), 1
    typed = (TEXT * 4)[: args.chars]
    times, nonempty = [], 0
    for char in typed:
        version += 1
        where = types.Position(line, column)
        started = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangePartial(range=types.Range(where, where), text=char)]))
        column += 1
        result = await client.text_document_inline_completion_async(types.InlineCompletionParams(
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, column)))
        times.append((time.perf_counter() - started) * 1000)
        nonempty += bool(result and result.items)
        await asyncio.sleep(args.delay_ms / 1000)
    status = await client.workspace_execute_command_async(status_command)
    pid = client._server.pid
    memory = {"server_rss": rss_mb(pid), "server_peak": rss_mb(pid, "VmHWM"),
              "learner_rss": sum(rss_mb(child) for child in children(pid))}
    await client.shutdown_session()
    await client.stop()
    return {"times": times, "nonempty": nonempty, "status": status, **memory}


def _frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def _read(stream) -> dict:
    length = 0
    while True:
        line = stream.readline()
        if not line:
            raise SystemExit("the server closed its output")
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return json.loads(stream.read(length))


class RawClient:
    """JSON-RPC over the server's pipes with nothing in between (what an editor's client costs is
    not charcomplete's); pytest-lsp's client checks every message and adds its own latency."""

    def __init__(self, command: list[str]):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.next_id = 0

    def notify(self, method: str, params: dict) -> None:
        self.process.stdin.write(_frame({"jsonrpc": "2.0", "method": method, "params": params}))
        self.process.stdin.flush()

    def call(self, method: str, params: dict):
        self.next_id += 1
        self.process.stdin.write(_frame({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}))
        self.process.stdin.flush()
        while True:
            message = _read(self.process.stdout)
            if message.get("id") == self.next_id and "method" not in message:
                return message.get("result")


def run_raw(args) -> dict:
    command = [sys.executable, "-m", "charcomplete", "lsp"] + (["--model", args.model] if args.model else [])
    if args.no_learn:
        command.append("--no-learn")
    client = RawClient(command)
    client.call("initialize", {"capabilities": {}})
    client.notify("initialized", {})
    uri = "file:///bench/notes.md"
    opening = TEXT * 3
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "markdown", "version": 1,
                                                            "text": opening}})
    status = {"command": "charcomplete.status"}
    if not args.no_learn:
        deadline = time.monotonic() + 120
        while client.call("workspace/executeCommand", status)["learner_steps"] < 1:
            if time.monotonic() > deadline:
                raise SystemExit("the learner did not start training within two minutes")
            time.sleep(0.5)
    column, version = len(opening), 1
    times, nonempty = [], 0
    for char in (TEXT * 4)[: args.chars]:
        version += 1
        started = time.perf_counter()
        where = {"line": 0, "character": column}
        client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                                 "contentChanges": [{"range": {"start": where, "end": where},
                                                                     "text": char}]})
        column += 1
        result = client.call("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": column},
            "context": {"triggerKind": 2}})
        times.append((time.perf_counter() - started) * 1000)
        nonempty += bool(result and result.get("items"))
        time.sleep(args.delay_ms / 1000)
    final = client.call("workspace/executeCommand", status)
    pid = client.process.pid
    memory = {"server_rss": rss_mb(pid), "server_peak": rss_mb(pid, "VmHWM"),
              "learner_rss": sum(rss_mb(child) for child in children(pid))}
    client.call("shutdown", None)
    client.notify("exit", None)
    client.process.wait(timeout=30)
    return {"times": times, "nonempty": nonempty, "status": final, **memory}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a model of yours (default: the built-in one, in a temporary home)")
    parser.add_argument("--chars", type=int, default=400, help="keystrokes (default 400)")
    parser.add_argument("--delay-ms", type=float, default=60.0, help="time between keys (default 60 ms)")
    parser.add_argument("--no-learn", action="store_true", help="without the background learner")
    parser.add_argument("--pytest-lsp", action="store_true", help="drive it with pytest-lsp's client instead of "
                        "plain JSON-RPC (that client's own checks add a few ms)")
    args = parser.parse_args()
    if not args.model:
        os.environ["CHARCOMPLETE_HOME"] = tempfile.mkdtemp(prefix="lsp-bench-home-")
    print(describe())
    result = asyncio.run(run(args)) if args.pytest_lsp else run_raw(args)
    times = result["times"]
    client = "pytest-lsp client" if args.pytest_lsp else "plain JSON-RPC client"
    print(f"lsp keystroke round trip (didChange + inlineCompletion, {client}), {len(times)} keystrokes, "
          f"model {result['status']['model']}, learner {'off' if args.no_learn else 'on'} "
          f"({result['status']['learner_steps']} updates by the end)")
    print(f"  p50 {percentile(times, 50):.2f} ms  p90 {percentile(times, 90):.2f} ms  "
          f"p99 {percentile(times, 99):.2f} ms  max {max(times):.2f} ms  mean {statistics.fmean(times):.2f} ms")
    print(f"  answers with a suggestion: {result['nonempty']}/{len(times)}")
    status = result["status"]
    print(f"  inside the server (request arrival to answer, last 1000): p50 {status['latency_ms_p50']} ms  "
          f"p99 {status['latency_ms_p99']} ms")
    print(f"  memory: server {result['server_rss']:.0f} MB (peak {result['server_peak']:.0f} MB), "
          f"learner and helpers {result['learner_rss']:.0f} MB")


if __name__ == "__main__":
    main()
