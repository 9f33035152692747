"""Hot reload: edits go live, broken edits do not, and old versions stay retrievable."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
import structlog.testing

from ivr.config.loader import load
from ivr.config.reload import ConfigRegistry, fingerprint
from ivr.core.errors import ConfigError

MINIMAL = Path(__file__).parent / "fixtures" / "config" / "minimal"
BROKEN_NODE = "nodes:\n  extra:\n    then: {goto: nowhere}\n"
GOOD_NODE = "nodes:\n  extra:\n    then: {goto: main}\n"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """A copy of the minimal valid config that a test may edit."""
    directory = tmp_path / "config"
    shutil.copytree(MINIMAL, directory)
    return directory


def write(path: Path, text: str) -> None:
    """Write a file and move its mtime on by a second.

    File times come from a coarse kernel clock, so two quick writes of the same
    size can leave the same mtime; a real editor's saves are further apart.
    """
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
    os.utime(path, ns=(later, later))


def test_initial_load(config_dir: Path) -> None:
    """The registry serves the directory's config as soon as it is made."""
    registry = ConfigRegistry(config_dir)
    assert registry.version == load(config_dir).version
    assert registry.current.version == registry.version
    assert registry.get(registry.version) is registry.current
    assert registry.last_error is None


def test_initial_config_must_be_valid(config_dir: Path) -> None:
    """A registry cannot start from a broken config."""
    (config_dir / "extra.yaml").write_text(BROKEN_NODE)
    with pytest.raises(ConfigError):
        ConfigRegistry(config_dir)


def test_reload_without_change(config_dir: Path) -> None:
    """Reloading unchanged files does nothing."""
    registry = ConfigRegistry(config_dir)
    assert registry.reload() is False


def test_touch_without_change(config_dir: Path) -> None:
    """A file saved with the same content keeps the same version live."""
    registry = ConfigRegistry(config_dir)
    menu = config_dir / "menu.yaml"
    write(menu, menu.read_text())
    assert registry.reload() is False


def test_edit_goes_live(config_dir: Path) -> None:
    """An edit becomes the current config; the old version can still be fetched."""
    registry = ConfigRegistry(config_dir)
    old = registry.current
    write(config_dir / "extra.yaml", GOOD_NODE)
    assert registry.reload() is True
    assert "extra" in registry.current.nodes
    assert registry.version != old.version
    assert registry.get(old.version) is old


def test_broken_edit_keeps_last_good(config_dir: Path) -> None:
    """A broken edit leaves the last good config live, and says where the error is."""
    registry = ConfigRegistry(config_dir)
    good = registry.version
    write(config_dir / "extra.yaml", BROKEN_NODE)
    with structlog.testing.capture_logs() as logged:
        assert registry.reload() is False
    assert registry.version == good
    where = f"{config_dir / 'extra.yaml'}:3:12: error: goto names an unknown node 'nowhere'"
    assert registry.last_error is not None
    assert registry.last_error.startswith(where.removeprefix(f"{config_dir}/")), "no server path"
    assert [entry["log_level"] for entry in logged] == ["error"]
    assert where in logged[0]["errors"] and logged[0]["version"] == good


def test_fix_clears_last_error(config_dir: Path) -> None:
    """Fixing the broken file puts the fix live and clears the error."""
    registry = ConfigRegistry(config_dir)
    write(config_dir / "extra.yaml", BROKEN_NODE)
    registry.reload()
    write(config_dir / "extra.yaml", GOOD_NODE)
    assert registry.reload() is True
    assert registry.last_error is None
    assert "extra" in registry.current.nodes


def test_broken_edit_is_not_reparsed(config_dir: Path) -> None:
    """A broken config is parsed once; polling again before the next edit changes nothing."""
    registry = ConfigRegistry(config_dir)
    write(config_dir / "extra.yaml", BROKEN_NODE)
    registry.reload()
    error = registry.last_error
    assert registry.reload() is False
    assert registry.last_error == error


def test_edit_back_gives_earlier_version(config_dir: Path) -> None:
    """Editing a file back to earlier content brings back the earlier version."""
    registry = ConfigRegistry(config_dir)
    first = registry.current
    extra = config_dir / "extra.yaml"
    write(extra, GOOD_NODE)
    registry.reload()
    extra.unlink()
    assert registry.reload() is True
    assert registry.current is first


def test_keeps_only_recent_versions(config_dir: Path) -> None:
    """Only the last `keep` good versions stay retrievable."""
    registry = ConfigRegistry(config_dir, keep=2)
    first = registry.version
    versions = [first]
    for n in range(2):
        write(config_dir / "extra.yaml", GOOD_NODE + f"# edit {n}\n")
        registry.reload()
        versions.append(registry.version)
    assert registry.get(first) is None
    assert [registry.get(v) is not None for v in versions[1:]] == [True, True]


def test_fingerprint_sees_new_files(config_dir: Path) -> None:
    """Adding a config file changes the fingerprint; other files do not."""
    before = fingerprint(config_dir)
    (config_dir / "notes.txt").write_text("not config")
    assert fingerprint(config_dir) == before
    (config_dir / "extra.yml").write_text(GOOD_NODE)
    assert fingerprint(config_dir) != before


@pytest.mark.anyio
async def test_watch_picks_up_edits(config_dir: Path) -> None:
    """The watcher puts an edit live without being asked, and stops when told."""
    registry = ConfigRegistry(config_dir)
    stop = asyncio.Event()
    watcher = asyncio.create_task(registry.watch(0.01, stop))
    write(config_dir / "extra.yaml", GOOD_NODE)
    async with asyncio.timeout(5):
        while "extra" not in registry.current.nodes:
            await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(watcher, 5)
