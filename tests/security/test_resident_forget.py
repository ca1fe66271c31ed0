"""Issue 25, items 4 and 5: `forget --all` reaches a running `serve` before its next answer,
and a hostile request never kills it (every request goes through the bounded JSON reader)."""

from __future__ import annotations

import socket

import pytest

from charcomplete.shell import server as serve
from tests.helpers import CHAIN, chain_weights, run, save_weights, start_server, stop

SECRET = "mysql -u admin -pHunter2zebra"


@pytest.fixture
def server():
    config, weights = chain_weights(CHAIN)
    save_weights("chain", config, weights)
    process = start_server()
    yield process
    stop(process)


def test_forget_all_reaches_a_running_server_before_its_next_answer(server):
    for _ in range(3):
        assert serve.request({"learn": SECRET}) == {"learned": True}
    before = serve.request({"text": "mysql -u admin -pHun"})
    assert "ter2" in before["completion"], before  # learned: the secret is suggested
    forgot = run("forget", "--all", "--yes")
    assert forgot.returncode == 0, forgot.stderr
    after = serve.request({"text": "mysql -u admin -pHun"})
    assert "ter2" not in after["completion"], after
    assert serve.request({"learn": "echo still-learning"}) == {"learned": True}  # and it still answers learns


@pytest.mark.parametrize("line", [
    b'{"learn": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"status": ' + b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000 + b"}",
    b'{"learn": 1e400}',
    b'{"learn": "x", "id": [1]}',
], ids=["deep-list", "deep-object", "overflowing-number", "list-id"])
def test_a_hostile_learn_or_status_request_gets_an_error_answer(server, line):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(30)
        connection.connect(str(serve.socket_path()))
        connection.sendall(line + b"\n" + b'{"status": true, "id": 9}\n')
        reader = connection.makefile("rb")
        first, second = reader.readline(), reader.readline()
    assert b'"error"' in first, first
    assert b'"id": 9' in second and b'"pid"' in second  # still serving, on the same connection


async def test_forget_all_reaches_a_running_language_server(sentence_model):
    from tests.lsp.test_lsp import inline, open_doc, start_client

    client, _ = await start_client()
    try:
        uri = "file:///notes/vault.md"
        line = "vault code: qwzebrakite\n"
        open_doc(client, uri, line * 3 + "vault code: qwz")
        before = await inline(client, uri, 3, 15)
        assert before and before[0].startswith("ebrak"), before  # learned from the document
        assert run("forget", "--all", "--yes").returncode == 0
        after = await inline(client, uri, 3, 15)
        assert not after or not after[0].startswith("ebrak"), after
    finally:
        await client.shutdown_session()
        await client.stop()
