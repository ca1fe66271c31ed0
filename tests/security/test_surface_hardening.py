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
