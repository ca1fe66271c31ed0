"""`charcomplete serve` for shells: the zsh strategy's round trip measured from zsh itself
($EPOCHREALTIME around `_zsh_autosuggest_strategy_charcomplete`, a fresh connection per
call as the plugin makes), and the server's requests per second.

    python benchmarks/shell_latency.py                # the shell model (made from the built-in one), throw-away home
    python benchmarks/shell_latency.py --learner      # with the background learner running

Target (issue 12): zsh round trip p99 <= 15 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
from machine import describe

COMMANDS = [
    "git rebase --interactive HEAD~3", "git commit --amend --no-edit", "ls -la /var/log", "cd ~/notes/2026",
    "grep -rn TODO src", "python -m pytest -x -q tests", "docker compose up -d", "ssh build@ci.example.org",
    "tail -f /var/log/syslog", "make -j4 && make install",
]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if len(values) else float("nan")


def summary(values: list[float]) -> str:
    return (f"p50 {percentile(values, 50):.2f} ms  p90 {percentile(values, 90):.2f} ms  "
            f"p99 {percentile(values, 99):.2f} ms  max {max(values):.2f} ms")


ZSH_LOOP = r"""
zmodload zsh/datetime
eval "$(%(init)s)"
local -a prefixes=(%(prefixes)s)
local p start
for p in $prefixes; do
  start=$EPOCHREALTIME
  _zsh_autosuggest_strategy_charcomplete "$p"
  print -r -- "$(( (EPOCHREALTIME - start) * 1000 )) ${#suggestion}"
done
"""


def zsh_round_trips(rounds: int) -> tuple[list[float], int]:
    import shlex

    prefixes = [command[:cut] for command in COMMANDS for cut in range(2, len(command) + 1)]
    prefixes = (prefixes * (rounds // len(prefixes) + 1))[:rounds]
    init = " ".join(shlex.quote(part) for part in (sys.executable, "-m", "charcomplete", "init", "zsh"))
    script = ZSH_LOOP % {"init": init, "prefixes": " ".join(shlex.quote(p) for p in prefixes)}
    output = subprocess.run(["zsh", "-f", "-c", script], capture_output=True, text=True, timeout=600, check=True)
    rows = [line.split() for line in output.stdout.splitlines() if line.strip()]
    return [float(ms) for ms, _ in rows], sum(int(length) > 0 for _, length in rows)


def requests_per_second(path: str, count: int, reconnect: bool) -> float:
    prefixes = [command[:cut] for command in COMMANDS for cut in range(2, len(command) + 1)]
    started = time.perf_counter()
    connection = reader = None
    for index in range(count):
        if connection is None or reconnect:
            if connection is not None:
                connection.close()
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(path)
            reader = connection.makefile("rb")
        connection.sendall(json.dumps({"text": prefixes[index % len(prefixes)]}).encode() + b"\n")
        reader.readline()
    connection.close()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=400, help="strategy calls from zsh (default 400)")
    parser.add_argument("--requests", type=int, default=1000, help="requests for the rate (default 1000)")
    parser.add_argument("--learner", action="store_true", help="run the background learner too")
    args = parser.parse_args()
    os.environ["CHARCOMPLETE_HOME"] = tempfile.mkdtemp(prefix="shell-bench-home-")
    from charcomplete.shell import server as serve

    print(describe())
    command = [sys.executable, "-m", "charcomplete", "serve", "--idle-exit", "600"]
    if not args.learner:
        command.append("--no-learner")
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while serve.request({"status": True}) is None:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start")
            time.sleep(0.1)
        for line in COMMANDS:  # a little history, as a shell would have taught it
            serve.request({"learn": line})
        print(f"server: model {serve.request({'status': True})['model']}, learner {'on' if args.learner else 'off'}")
        if shutil.which("zsh"):
            times, suggested = zsh_round_trips(args.rounds)
            print(f"zsh strategy round trip ({len(times)} calls, a connection each, timed in zsh): {summary(times)}"
                  f"  ({suggested} with a suggestion)")
        else:
            print("zsh is not installed: no zsh round trip")
        path = str(serve.socket_path())
        print(f"requests per second, one connection: {requests_per_second(path, args.requests, False):.0f}")
        print(f"requests per second, a connection per request: {requests_per_second(path, args.requests, True):.0f}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
