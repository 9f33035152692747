"""The store: embedded Valkey with persistence, and key templates with hash tags."""

from __future__ import annotations

from pathlib import Path

from ivr.keys import Keys
from ivr.store import EmbeddedStore, sync_client


def test_embedded_store_keeps_data_across_restart(tmp_path: Path) -> None:
    """Data written to the embedded store is still there after it is stopped and started."""
    store = EmbeddedStore(tmp_path)
    client = sync_client(store.start())
    assert client.config_get("appendonly")["appendonly"] == "yes"
    client.set("ivr:{main}:probe", "kept")
    client.close()
    store.stop()
    again = EmbeddedStore(tmp_path)
    client = sync_client(again.start())
    assert client.get("ivr:{main}:probe") == "kept"
    client.close()
    again.stop()
    assert (tmp_path / "valkey" / "appendonlydir").is_dir()


def test_every_key_template_carries_the_tenant_hash_tag() -> None:
    """All key templates put the tenant in braces so one operation's keys share a slot."""
    keys = Keys("acme")
    templates = [
        getattr(keys, name)
        for name in dir(keys)
        if not name.startswith("_") and callable(getattr(keys, name))
    ]
    assert templates
    for template in templates:
        argc = template.__code__.co_argcount - 1
        key = template(*["X"] * argc)
        assert key.startswith("ivr:{acme}:"), key
