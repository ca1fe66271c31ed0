"""Issue 25's attack run on the surfaces, the low and save-backup findings pinned: the save
backup nobody else can read or plant (2), no control character in a suggestion (6), LSP
requests after `shutdown` (7), logs without document text, capped and forgotten (8), a
bounded `serve` (10). Item 9 (meta.json's format_version) is a case of
tests/security/test_hostile_models.py."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from charcomplete.shell import server as serve
from tests.helpers import start_server, stop
from tests.lsp.test_lsp import inline_params, open_doc, start_client

# --- item 7: requests after `shutdown` --------------------------------------------------------


async def test_requests_after_shutdown_are_answered_invalid_request(sentence_model):
    """The spec: after `shutdown`, a request other than `exit` gets InvalidRequest (-32600). The
    client used to wait forever; the test waits 20 s."""
    client, _ = await start_client()
    try:
        open_doc(client, "file:///notes/a.md", "the quick brown fox ju")
        await client.shutdown_async(None)
        for ask in (lambda: client.text_document_inline_completion_async(inline_params("file:///notes/a.md", 0, 22)),
                    lambda: client.workspace_execute_command_async(types.ExecuteCommandParams("charcomplete.status"))):
            with pytest.raises(JsonRpcException) as refused:
                await asyncio.wait_for(ask(), timeout=20)
            assert refused.value.code == -32600, refused.value
        client.exit(None)
        assert await asyncio.wait_for(client._server.wait(), timeout=30) == 0  # exit after shutdown: 0
    finally:
        if client._server.returncode is None:
            client._server.kill()  # never answered: stop() would wait for it
        await client.stop()


# --- item 6: no control character in a suggestion ---------------------------------------------

CONTROLS = [chr(code) for code in [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]]


@pytest.mark.parametrize("control", ["\u009b", "\u009d", "\x1b", "\x7f", "\u0085"], ids=["CSI", "OSC", "ESC", "DEL",
                                                                                          "NEL"])
def test_serve_never_suggests_a_control_character(charcomplete_home, control):
    """The issue's run: after two `learn`s of a line holding a control character, `serve --ask`
    asked for that line's start must stop before it (bash writes a suggestion raw to the
    terminal: a C1 CSI or OSC there is a terminal escape)."""
    line = f"printf zq{control}2J{control}0;owned done"
    process = start_server(model="shell")
    try:
        for _ in range(2):
            assert serve.request({"learn": line}) == {"learned": True}
        for asked in ("printf z", "printf zq"):
            answer = serve.request({"text": asked})
            completion = answer.get("completion", "")
            assert not any(char in CONTROLS for char in completion), (asked, completion)
        # ...and the same through the pipe, each alternative included
        answer = serve.request({"text": "printf z", "alternatives": 4})
    finally:
        stop(process)
    shown = [answer.get("completion", ""), *(option["completion"] for option in answer.get("alternatives", []))]
    assert not any(char in CONTROLS for text in shown for char in text), shown


def test_the_cut_keeps_printable_latin1_and_tabs():
    from charcomplete.suggest.decoder import printable_length

    for text in ("© 2026\u00a0€\tx", "naïve ß", ""):
        assert printable_length(text.encode()) == len(text.encode())
    assert printable_length("ab\u009bc".encode()) == 2 and printable_length(b"ab\x1bc") == 2
