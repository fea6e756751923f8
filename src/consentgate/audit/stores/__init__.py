"""Audit stores, chosen by URL. Drivers are imported only when used (PostgreSQL is optional)."""

from __future__ import annotations

from consentgate.audit.stores.base import Query, Record, Row, Store, StoreError, redact

__all__ = ["Query", "Record", "Row", "Store", "StoreError", "open_existing_store", "open_store"]


def _path_of(url: str, scheme: str) -> str:
    # SQLAlchemy's convention: three slashes then a relative path, four for an absolute one.
    rest = url[len(scheme) + 3 :]
    if not rest.startswith("/") or len(rest) < 2:
        raise StoreError(
            f"audit store URL {url!r}: expected {scheme}:///relative/path or {scheme}:////abs/path"
        )
    return rest[1:]


def open_store(url: str) -> Store:
    """A store for ``url`` (not yet opened: ``await store.open()``, or hand it to the writer).

    >>> open_store("sqlite:///var/consent.db").kind
    'sqlite'

    ``sqlite:///path`` (default), ``postgresql://user@host/db`` and ``jsonl:///path``; a plain
    path ending in ``.jsonl`` or ``.db``/``.sqlite``/``.sqlite3`` works too.
    """
    lowered = url.lower()
    if lowered.startswith(("postgresql://", "postgres://")):
        try:
            from consentgate.audit.stores.postgres import PostgresStore
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise StoreError(
                f"audit store {redact(url)!r} needs psycopg: pip install 'consentgate[postgres]'"
            ) from exc
        return PostgresStore(url)
    if lowered.startswith("sqlite://"):
        from consentgate.audit.stores.sqlite import SQLiteStore

        return SQLiteStore(_path_of(url, "sqlite"))
    if lowered.startswith("jsonl://"):
        from consentgate.audit.stores.jsonl import JsonlStore

        return JsonlStore(_path_of(url, "jsonl"))
    if "://" not in url and lowered.endswith(".jsonl"):
        from consentgate.audit.stores.jsonl import JsonlStore

        return JsonlStore(url)
    if "://" not in url and lowered.endswith((".db", ".sqlite", ".sqlite3")):
        from consentgate.audit.stores.sqlite import SQLiteStore

        return SQLiteStore(url)
    raise StoreError(
        f"audit store URL {redact(url)!r} is not sqlite:///path, postgresql://user@host/db or jsonl:///path"
    )


def open_existing_store(url: str) -> Store:
    """:func:`open_store` for a command that reads or prunes a log: a SQLite or JSON Lines
    path where there is no file is an error, not a new empty log (a mistyped path, or a
    relative ``sqlite:///var/...`` read from another directory, would otherwise "verify" an
    empty log and report it sound)."""
    store = open_store(url)
    path = getattr(store, "path", None)
    if path is not None and not path.is_file():
        where = path if path.is_absolute() else f"{path} (relative to {path.cwd()})"
        raise StoreError(f"no audit log at {where}: check --store (sqlite:////abs/path has four slashes)")
    return store
