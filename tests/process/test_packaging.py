"""FeedRelay as a user installs it: a wheel and an sdist built from a clean copy of the
source, each installed into an empty venv (with its dependencies, from the package index),
run from outside the source tree so that nothing of the working copy can be imported.

The editable install every other test uses imports from the source tree, so it cannot see a
module that the package leaves out (``adapters.twitter`` was, once: the wheel installed, and
``feedrelay`` failed with ``ModuleNotFoundError``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO

# What a clean checkout does not hold (.gitignore), and the repository itself.
NOT_IN_A_CHECKOUT = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "build",
    "dist",
    "*.sqlite",
    "*.sqlite-*",
    ".env",
)
PLATFORMS = ("twitter", "reddit", "tumblr", "webhook", "bluesky", "mastodon")


def _environment(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without what would reach the source tree or the test venv."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not key.startswith("X_")
    }
    environment["FEEDRELAY_DATABASE"] = str(tmp_path / "dry-run.sqlite")
    environment.pop("FEEDRELAY_CONFIG", None)
    return environment


def _run(*argv: str | Path, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(
        [str(arg) for arg in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"{argv} exited {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def _source_files(source: Path) -> set[str]:
    """Every module and type marker of the packages, as paths inside the wheel."""
    return {
        path.relative_to(source).as_posix()
        for package in ("bot", "adapters")
        for path in (source / package).rglob("*")
        if path.suffix == ".py" or path.name == "py.typed"
    }


def _works(venv: Path, source: Path, outside: Path, env: dict[str, str]) -> None:
    """The installed feedrelay imports from the venv, loads every platform, and runs the
    README's first dry run on the bundled example."""
    where = _run(
        venv / "bin" / "python",
        "-c",
        "import bot, adapters.twitter; print(bot.__file__); print(adapters.twitter.__file__)",
        cwd=outside,
        env=env,
    )
    for line in where.split():
        assert Path(line).resolve().is_relative_to(venv.resolve()), where
    listed = _run(venv / "bin" / "feedrelay", "-V", "-v", cwd=outside, env=env)
    for platform in PLATFORMS:
        assert any(
            line.split()[:1] == [platform] and line.rstrip().endswith("ok")
            for line in listed.splitlines()
        ), listed
    dry_run = _run(
        venv / "bin" / "feedrelay",
        "--config",
        source / "config.example.toml",
        "run",
        "--once",
        "--dry-run",
        cwd=outside,
        env=env,
    )
    assert "would go out now (nothing was sent or stored)" in dry_run, dry_run
    assert "── x (twitter) · Rewriting the sensor daemon in Rust" in dry_run, dry_run


def test_a_wheel_and_an_sdist_install_into_an_empty_venv_and_run(tmp_path: Path) -> None:
    source = tmp_path / "checkout"
    shutil.copytree(REPO, source, ignore=NOT_IN_A_CHECKOUT)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = _environment(tmp_path)
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "build", "--outdir", dist, source, cwd=outside, env=env)
    (wheel,) = dist.glob("feedrelay-*.whl")
    (sdist,) = dist.glob("feedrelay-*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        packaged = set(archive.namelist())
    assert _source_files(source) <= packaged, sorted(_source_files(source) - packaged)

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=outside, env=env)
    _run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, cwd=outside, env=env)
    _works(venv, source, outside, env)

    # The sdist, built into a wheel by pip as `pip install feedrelay-0.1.0.tar.gz` would,
    # replaces the wheel's files; the dependencies are already there.
    _run(
        venv / "bin" / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--force-reinstall",
        "--no-deps",
        sdist,
        cwd=outside,
        env=env,
    )
    _works(venv, source, outside, env)
