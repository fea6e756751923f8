"""The notice archive: each version once, resolvable from an event, provable by its digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentgate.audit.notices import archive_notice, notice_digest, notices_document, self_verifying
from consentgate.audit.stores.base import Store
from consentgate.cli import main

NOTICE_V1 = {"texts": {"en": {"title": "We use cookies"}}, "categories": ["analytics"], "cookies": []}
NOTICE_V2 = {"texts": {"en": {"title": "We use cookies!"}}, "categories": ["analytics"], "cookies": []}


def test_the_digest_ignores_key_order_but_not_content() -> None:
    assert notice_digest({"a": 1, "b": [1, 2]}) == notice_digest({"b": [1, 2], "a": 1})
    assert notice_digest(NOTICE_V1) != notice_digest(NOTICE_V2)


async def test_each_version_is_archived_once_and_resolves(store: Store) -> None:
    first = await archive_notice(store, NOTICE_V1, now_ms=1000)
    again = await archive_notice(store, NOTICE_V1, now_ms=5000)
    second = await archive_notice(store, NOTICE_V2, now_ms=6000)
    assert first == again != second
    documents = await notices_document(store, [first, second, "missing"])
    assert documents["missing"] is None
    old = documents[first]
    assert isinstance(old, dict) and old["doc"] == NOTICE_V1 and old["first_seen"] == 1000
    assert old["self_verifying"] is True
    stored = await store.get_notice(second)
    assert stored is not None and self_verifying(stored)


def test_the_cli_prints_an_archived_notice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from consentgate.audit.stores import open_store

    url = f"sqlite:///{tmp_path}/a.db"

    async def seed() -> str:
        store = open_store(url)
        await store.open()
        digest = await archive_notice(store, NOTICE_V1)
        await store.close()
        return digest

    digest = asyncio.run(seed())
    assert main(["audit", "notice", "--store", url, digest]) == 0
    assert "We use cookies" in capsys.readouterr().out
    assert main(["audit", "notice", "--store", url, "0" * 64]) == 1
