"""Drive ``python -m bot`` in a pseudo-terminal, as a person would (pexpect).

``Terminal`` spawns the command in ``cwd`` with only the environment it is given (plus what
Python needs), records everything it printed (``screen``), and fails with that screen when
an expected line does not come.
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

import pexpect

# What the child may inherit: enough to run Python, none of the user's secrets.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")


class Terminal:
    def __init__(
        self,
        *args: str,
        cwd: Path,
        env: dict[str, str],
        timeout: float = 30,
        program: str | None = None,
    ) -> None:
        """``python -m bot ARGS`` (or ``program ARGS``) in a pseudo-terminal."""
        environment = {k: v for k, v in os.environ.items() if k in _KEEP}
        environment.update({"TERM": "dumb", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", **env})
        self._log = io.StringIO()
        self.child = pexpect.spawn(
            program or sys.executable,
            list(args) if program else ["-m", "bot", *args],
            cwd=str(cwd),
            env=environment,
            encoding="utf-8",
            timeout=timeout,
            dimensions=(50, 250),
        )
        self.child.logfile_read = self._log

    @classmethod
    def shell(cls, *, cwd: Path, env: dict[str, str], timeout: float = 30) -> Shell:
        """An interactive bash, as a person types into: ``feedrelay`` on its ``PATH`` is
        this Python's (the test venv's) command."""
        path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
        environment = {"PATH": path, "PS1": Shell.PROMPT, "HISTFILE": "/dev/null", **env}
        return Shell(
            "--norc", "--noprofile", "-i",
            cwd=cwd, env=environment, timeout=timeout, program="/bin/bash",
        )  # fmt: skip

    @property
    def screen(self) -> str:
        """Everything printed so far (and what was typed, as a terminal echoes it)."""
        return self._log.getvalue().replace("\r\n", "\n")

    def expect(self, pattern: str) -> re.Match[str]:
        """Wait for ``pattern`` (a regular expression); return its match."""
        try:
            self.child.expect(pattern)
        except (pexpect.TIMEOUT, pexpect.EOF):
            raise AssertionError(f"never saw {pattern!r}; the screen:\n{self.screen}") from None
        match = self.child.match
        assert isinstance(match, re.Match)
        return match

    def answer(self, prompt: str, text: str) -> None:
        """Wait for ``prompt`` and type ``text`` and Enter."""
        self.expect(prompt)
        self.child.sendline(text)

    def finish(self) -> int:
        """Wait for the command to end; its exit status."""
        try:
            self.child.expect(pexpect.EOF)
        except pexpect.TIMEOUT:
            raise AssertionError(f"did not end; the screen:\n{self.screen}") from None
        self.child.close()
        status = self.child.exitstatus
        assert status is not None, f"killed by signal {self.child.signalstatus}:\n{self.screen}"
        assert "Traceback" not in self.screen, self.screen
        return int(status)


class Shell(Terminal):
    """An interactive bash in a pseudo-terminal (``Terminal.shell``): lines typed one at a
    time, as copied from what a command printed or from the README."""

    PROMPT = "feedrelay-test$ "

    def type(self, line: str) -> None:
        """Wait for the prompt, then type ``line`` and Enter."""
        self.expect(re.escape(self.PROMPT))
        self.child.sendline(line)

    def status(self) -> int:
        """The exit status of the last command (once it has ended)."""
        self.type('echo "[exit $?]"')
        return int(self.expect(r"\[exit (\d+)\]").group(1))

    def run(self, line: str) -> int:
        """Type ``line``, let it finish, and return its exit status."""
        self.type(line)
        return self.status()

    def close(self) -> None:
        self.type("exit")
        assert self.finish() == 0
