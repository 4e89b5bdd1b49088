"""Counted nouns, the same in every message and log line: ``1 feed``, ``2 feeds``."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 feed"``, ``"2 feeds"``, ``"5,000 entries"``; ``nouns`` where adding ``s`` (or
    ``y`` to ``ies``) is wrong."""
    many = nouns or (noun[:-1] + "ies" if noun.endswith("y") else noun + "s")
    return f"{count:,} {noun if count == 1 else many}"
