"""The limits a newcomer relies on: no class over 350 lines, no function over 80, in the
project's own code (tests, benchmarks and migrations aside)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = (
    "bot",
    "channels",
    "delivery",
    "storage",
    "scheduler",
    "reporting",
    "web",
    "complaintbot",
)
MAX_CLASS = 350
MAX_FUNCTION = 80


def _too_long() -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    limit = MAX_CLASS
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    limit = MAX_FUNCTION
                else:
                    continue
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    where = path.relative_to(ROOT)
                    found.append(f"{where}:{node.lineno} {node.name} has {length} lines")
    return found


def test_no_class_or_function_is_longer_than_a_newcomer_can_follow() -> None:
    assert _too_long() == []
