#!/usr/bin/env bash
# Quit time as a person sees it (issue 15): the editor in tmux on the built-in model with
# learning on, Ctrl+Q sent with send-keys, timed to the shell running its next command.
#     bash benchmarks/quit_time.sh [runs]        (needs tmux and bc; charcomplete on PATH)
set -euo pipefail
runs="${1:-5}"
work="$(mktemp -d)"
export CHARCOMPLETE_HOME="$work/home"
trap 'tmux kill-session -t quit-time 2>/dev/null || true; rm -rf "$work"' EXIT
echo "load average $(cut -d' ' -f1 /proc/loadavg) at start"
for i in $(seq 1 "$runs"); do
  rm -f "$work/done"
  printf '# notes\n\nsome text to learn from, a line or two.\n' > "$work/x.md"
  tmux new -d -s quit-time -x 120 -y 40 "charcomplete edit $work/x.md; date +%s.%N > $work/done"
  sleep 8  # the editor up, the learner started and reading
  start=$(date +%s.%N)
  tmux send-keys -t quit-time C-q
  for _ in $(seq 1 250); do [ -f "$work/done" ] && break; sleep 0.02; done
  echo "quit $i: $(echo "$(cat "$work/done") - $start" | bc) s"
done
