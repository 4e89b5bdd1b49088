"""The layout keeps its promises: the core names no platform, and imports none."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO, modules_loaded_by

# A platform's name as a word of its own, or as a part of a name (``_RedditConverter``).
PLATFORM_WORDS = re.compile(
    r"(?<![a-z])(?i:twitter|tweepy|reddit|praw|prawcore|tumblr|bluesky|atproto|mastodon"
    r"|x\.com)(?![a-z])"
)
# Words of the web, not of a platform: the Twitter Card meta tags that web pages carry
# (``bot/feeds/pages.py`` reads a page's title, description and image from them).
ALLOWED = {
    ("bot/feeds/pages.py", "twitter:title"),
    ("bot/feeds/pages.py", "twitter:description"),
    ("bot/feeds/pages.py", "twitter:image"),
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _code_words(path: Path) -> Iterator[tuple[int, str]]:
    """Every name and string of ``path``'s code, without its comments and docstrings."""
    tree = ast.parse(path.read_text())
    docstrings = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docstrings:
                yield node.lineno, node.value
        elif isinstance(node, ast.Name):
            yield node.lineno, node.id
        elif isinstance(node, ast.Attribute):
            yield node.lineno, node.attr
        elif isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef | ast.alias):
            yield node.lineno, node.name


def test_the_core_names_no_platform_outside_comments_and_docstrings() -> None:
    found = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        name = str(path.relative_to(REPO))
        for line, word in _code_words(path):
            for match in PLATFORM_WORDS.finditer(word):
                if (name, word) not in ALLOWED:
                    found.append(f"{name}:{line}: {match.group()!r} in {word[:60]!r}")
    assert found == []


def test_the_command_line_imports_no_platform_library_until_a_target_is_opened() -> None:
    help_code = "from click.testing import CliRunner\nfrom bot.cli import main\n"
    assert modules_loaded_by(help_code + "CliRunner().invoke(main, ['--help'])") == []
    assert modules_loaded_by(help_code + "CliRunner().invoke(main, ['-V', '-v'])") == []
