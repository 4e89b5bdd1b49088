"""The deployment files: the systemd unit, the Dockerfile and compose.yaml.

Docker is not run here; what can be checked without it is: the unit passes
``systemd-analyze verify`` (where systemd is installed), and every feedrelay command line in
these files parses with the real CLI.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bot.cli import main
from tests.conftest import REPO

UNIT = REPO / "contrib" / "feedrelay.service"
DOCKERFILE = REPO / "Dockerfile"


def _parses(argv: list[str]) -> click.Context:
    """The subcommand's context for a ``feedrelay ...`` command line, as click parses it
    (a wrong option or command raises ``click.UsageError``)."""
    assert Path(argv[0]).name == "feedrelay", argv
    group = main.make_context("feedrelay", argv[1:])
    protected = getattr(group, "_protected_args", None)  # click >= 8.2; before: protected_args
    name, *rest = [*(group.protected_args if protected is None else protected), *group.args]
    command = main.get_command(group, name)
    assert command is not None, f"no command {name!r}"
    return command.make_context(name, rest, parent=group)


def _unit() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_is_hardened_and_runs_the_daemon() -> None:
    unit = _unit()
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "feedrelay",
        "EnvironmentFile": "/etc/feedrelay/feedrelay.env",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectControlGroups": "yes",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter": "@system-service",
        "Restart": "on-failure",
        "ExecReload": "/bin/kill -HUP $MAINPID",
    }.items():
        assert value in unit.get(key, []), f"{key}={value}"
    assert "FEEDRELAY_DATABASE=/var/lib/feedrelay/feedrelay.sqlite" in unit["Environment"]
    (exec_start,) = unit["ExecStart"]
    context = _parses(shlex.split(exec_start))
    assert context.command.name == "run" and not context.params["once"]
    assert context.parent is not None
    assert context.parent.params["config_option"] == "/etc/feedrelay/feedrelay.toml"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify checks that ExecStart's program exists: point it at this venv's feedrelay.
    feedrelay = Path(sys.executable).with_name("feedrelay")
    unit = tmp_path / "feedrelay.service"
    unit.write_text(UNIT.read_text().replace("/opt/feedrelay/.venv/bin/feedrelay", str(feedrelay)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    about_ours = [line for line in result.stderr.splitlines() if "feedrelay" in line]
    assert result.returncode == 0 and about_ours == [], result.stderr


def _instruction(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    (line,) = [ln for ln in text.splitlines() if ln.startswith(name + " ")]
    return line[len(name) + 1 :].strip()


def test_the_dockerfile_runs_the_daemon_as_a_user_with_the_store_on_a_volume() -> None:
    assert _instruction("FROM") == "python:3.11-slim"
    assert _instruction("USER") not in ("root", "0")
    assert _instruction("VOLUME") == "/data"
    assert "FEEDRELAY_DATABASE=/data/feedrelay.sqlite" in _instruction("ENV")
    command = json.loads(_instruction("CMD"))
    assert command == ["feedrelay", "--config", "/config/feedrelay.toml", "run"]
    assert _parses(command).command.name == "run"
    health = json.loads(re.sub(r"^.*?CMD\s+", "", _instruction("HEALTHCHECK")))
    assert _parses(health).command.name == "health"


def test_compose_mounts_the_config_and_the_store() -> None:
    yaml = pytest.importorskip("yaml")
    service = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["feedrelay"]
    assert "./feedrelay.toml:/config/feedrelay.toml:ro" in service["volumes"]
    assert any(volume.endswith(":/data") for volume in service["volumes"])
    assert service["env_file"] == "feedrelay.env"
    test = service["healthcheck"]["test"]
    assert test[0] == "CMD" and _parses(test[1:]).command.name == "health"


def test_a_wrong_command_line_would_be_caught() -> None:
    with pytest.raises(click.UsageError):
        _parses(["feedrelay", "--config", "/x", "run", "--onse"])
