"""`ivr init`: a new site from the sample, in the source tree and from an installed wheel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.config import command
from ivr.core.settings import Settings
from tests.conftest import ROOT, SAMPLE_CONFIG

ENV_EXAMPLE = ROOT / ".env.example"
DOCUMENTED = re.compile(r"^# ([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)
"""A setting in `.env.example`: commented out, with its default."""
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", ".env.example")
WHEEL_PACKAGES = ("ivr", "queues", "callbacks", "config")
BUILD_TIMEOUT_S = 120
RUN_TIMEOUT_S = 60


class Recording(Mapping[str, str]):
    """An empty environment that remembers each name asked of it."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __contains__(self, key: object) -> bool:
        self.asked.add(str(key))
        return False

    def __getitem__(self, key: str) -> str:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def documented() -> dict[str, str]:
    """Each setting `.env.example` names, with the default it shows."""
    return dict(DOCUMENTED.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))


def test_init_writes_the_sample_and_the_env_example(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr init DIR` writes the sample config and `.env.example` as the repository has them,
    the config passes `ivr check`, and the output says what to run next."""
    site = tmp_path / "site"
    assert main(["init", str(site)]) == 0
    samples = sorted(p.name for p in SAMPLE_CONFIG.glob("*.yaml"))
    assert sorted(p.name for p in (site / "config").iterdir()) == samples
    for name in samples:
        assert (site / "config" / name).read_bytes() == (SAMPLE_CONFIG / name).read_bytes()
    assert (site / ".env.example").read_bytes() == ENV_EXAMPLE.read_bytes()
    out = capsys.readouterr().out
    assert f"cd {site}" in out
    assert "ivr demo" in out
    assert command.run(site / "config", sys.stdout) == 0


def test_init_without_a_directory_writes_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bare `ivr init` makes the current directory the site, and asks for no `cd`."""
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "config" / "menu.yaml").is_file()
    assert (tmp_path / ".env.example").is_file()
    assert "cd " not in capsys.readouterr().out


def test_init_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A site that already has one of the files is left as it was, and the command names
    the file and exits 1."""
    mine = tmp_path / "config" / "menu.yaml"
    mine.parent.mkdir()
    mine.write_text("mine", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 1
    assert mine.read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["config", "menu.yaml"]
    assert str(mine) in capsys.readouterr().err


def test_env_example_names_every_setting() -> None:
    """`.env.example` documents exactly the names `Settings.from_env` reads."""
    environ = Recording()
    Settings.from_env(environ, env_file=None)
    assert sorted(documented()) == sorted(environ.asked)


def test_env_example_shows_the_defaults(tmp_path: Path) -> None:
    """Uncommented as a whole, `.env.example` changes nothing: each line shows the default."""
    dotenv = tmp_path / ".env"
    lines = [f"{name}={value}" for name, value in documented().items()]
    dotenv.write_text("\n".join(lines), encoding="utf-8")
    assert Settings.from_env({}, env_file=dotenv) == Settings()


def test_env_example_says_what_is_required() -> None:
    """The token and the metrics guard are explained where an operator sets them."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert "REQUIRED: without it `ivr serve` refuses to start, unless" in text
    assert "IVR_VALIDATE_SIGNATURES=false" in text
    assert "Unset: /metrics answers 401 to everyone." in text


@pytest.mark.parametrize("name", ["call", "demo", "report"])
def test_a_command_without_config_says_so(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where there is no `config/` (and no IVR_CONFIG_DIR), a command that needs one prints
    where it looked and how to get one, and exits 2 without a traceback."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVR_CONFIG_DIR", raising=False)
    assert main([name]) == 2
    said = capsys.readouterr()
    message = said.err or said.out  # `ivr demo` reports on its transcript
    assert f"ivr {name}: " in message
    assert f"there is no config directory {tmp_path / 'config'}" in message
    assert "`ivr init`" in message


def test_simulate_without_config_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr simulate`, which copies the config, says the same instead of a copy error."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IVR_CONFIG_DIR", raising=False)
    args = ["simulate", "--arrivals-per-hour", "10", "--agents", "1", "--aht", "60"]
    assert main(args) == 2
    assert "there is no config directory" in capsys.readouterr().err


# -- from the wheel, far from the repository ------------------------------------------


@pytest.fixture(name="wheel", scope="module")
def fixture_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `pip wheel` builds from a copy of the source tree (so that no build/ or
    egg-info lands in the checkout)."""
    source = tmp_path_factory.mktemp("source")
    for name in WHEEL_SOURCES:
        shutil.copy2(ROOT / name, source / name)
    for name in WHEEL_PACKAGES:  # symlinks=True: sample/ and env.example stay links to copy
        skip = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=skip)
    dist = tmp_path_factory.mktemp("dist")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)]
    subprocess.run(build, check=True, timeout=BUILD_TIMEOUT_S)
    [built] = dist.glob("*.whl")
    return built


def fresh_venv(where: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed, and its bin directory.

    Only the wheel provides `ivr`, `queues` and `callbacks`. Their third-party dependencies
    are this interpreter's, through a `.pth` line, so that the test needs no download; the
    line adds a plain path, so the source tree's editable-install hook there never runs.
    """
    venv.create(where, with_pip=False)
    python = where / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    borrowed = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site, "borrowed.pth").write_text("\n".join(sorted(borrowed)) + "\n", encoding="utf-8")
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run([*install, "-q", str(wheel)], check=True, timeout=RUN_TIMEOUT_S)
    return where / "bin"


def shell(bin_dir: Path) -> dict[str, str]:
    """A new terminal's environment: the venv first on PATH, and none of the test run's
    settings or source path."""
    ours = ("IVR_", "TWILIO_", "REDIS_URL", "PUBLIC_BASE_URL", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_init_then_demo_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    """From a fresh venv outside the repository, `pip install <wheel> && ivr init site &&
    cd site && ivr check && ivr demo` works, on files that all come from the wheel."""
    assert not tmp_path.resolve().is_relative_to(ROOT)
    bin_dir = fresh_venv(tmp_path / "venv", wheel)
    env = shell(bin_dir)

    def ivr(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        command = [str(bin_dir / "ivr"), *args]
        return subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )

    where = (
        "import ivr, queues, callbacks; print(ivr.__file__, queues.__file__, callbacks.__file__)"
    )
    found = subprocess.run(
        [bin_dir / "python", "-c", where], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr
    for path in found.stdout.split():
        assert Path(path).is_relative_to(tmp_path / "venv"), path

    made = ivr("init", "site", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    site = tmp_path / "site"
    checked = ivr("check", cwd=site)
    assert checked.returncode == 0, checked.stdout
    assert "config OK" in checked.stdout
    demo = ivr("demo", cwd=site)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Traceback" not in demo.stderr
    assert "Emulator errors: 0." in demo.stdout
