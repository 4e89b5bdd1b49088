"""``bot.setup.update_env``: the new secrets of ``auth --write-env`` in the env file beside
the config (issue 19, item 3)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot import setup
from bot.errors import SetupError


def test_a_variables_line_is_replaced_and_everything_else_kept(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# The secrets feedrelay.toml reads.\n"
        "X_CONSUMER_KEY=ck\n"
        "# the posting account's token: feedrelay auth twitter\n"
        "X_ACCESS_TOKEN=\n"
        "export X_ACCESS_TOKEN_SECRET=old\n"
        "X_ACCESS_TOKEN=a-later-duplicate\n"
        "# X_ACCESS_TOKEN=a comment stays\n"
    )
    env.chmod(0o600)
    update = setup.update_env(
        tmp_path / "feedrelay.toml", ["X_ACCESS_TOKEN=tok-1", "X_ACCESS_TOKEN_SECRET=sec-1"]
    )
    assert update == setup.EnvUpdate(
        path=env,
        created=False,
        replaced=("X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"),
        added=(),
    )
    assert env.read_text() == (
        "# The secrets feedrelay.toml reads.\n"
        "X_CONSUMER_KEY=ck\n"
        "# the posting account's token: feedrelay auth twitter\n"
        "X_ACCESS_TOKEN=tok-1\n"
        "export X_ACCESS_TOKEN_SECRET=sec-1\n"
        "# X_ACCESS_TOKEN=a comment stays\n"
    )
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_a_variable_not_there_is_added_and_a_loose_mode_is_tightened(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("X_CONSUMER_KEY=ck")
    env.chmod(0o644)
    update = setup.update_env(tmp_path / "feedrelay.toml", ["MASTODON_ACCESS_TOKEN=m-1"])
    assert update.added == ("MASTODON_ACCESS_TOKEN",) and update.replaced == ()
    assert env.read_text() == "X_CONSUMER_KEY=ck\n\nMASTODON_ACCESS_TOKEN=m-1\n"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_a_missing_file_is_made_readable_by_its_owner_only(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "feedrelay.toml"
    umask = os.umask(0o022)
    try:
        update = setup.update_env(config, ["REDDIT_REFRESH_TOKEN=r-1"])
    finally:
        os.umask(umask)
    assert update.created and update.path == tmp_path / "etc" / ".env"
    assert update.path.read_text() == "REDDIT_REFRESH_TOKEN=r-1\n"
    assert stat.S_IMODE(update.path.stat().st_mode) == 0o600
    assert [p.name for p in update.path.parent.iterdir()] == [".env"]  # no temporary left


def test_never_through_a_symbolic_link(tmp_path: Path) -> None:
    target = tmp_path / "secrets"
    target.write_text("KEEP=me\n")
    (tmp_path / ".env").symlink_to(target)
    with pytest.raises(SetupError, match=r"\.env is a symbolic link: auth --write-env writes"):
        setup.update_env(tmp_path / "feedrelay.toml", ["X_ACCESS_TOKEN=tok"])
    assert target.read_text() == "KEEP=me\n"
    assert (tmp_path / ".env").is_symlink()
