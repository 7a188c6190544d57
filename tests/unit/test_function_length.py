"""Functions fit on a screen: no body over 60 lines outside data tables.

A function's body is counted from its first statement to its last line (the signature
and decorators are not); a module-level table is not a function and is not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import tillpoint

LIMIT = 60
ROOT = Path(tillpoint.__file__).parent


def _long_functions(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # generated revision scripts
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = (node.end_lineno or node.lineno) - node.body[0].lineno + 1
                if body > LIMIT:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({body})")
    return found


def test_no_function_body_is_longer_than_a_screen() -> None:
    assert _long_functions(ROOT) == []


def test_the_measure_counts_the_body_not_the_signature(tmp_path: Path) -> None:
    def module(body_lines: int) -> str:
        body = "\n".join(f"    x{n} = {n}" for n in range(body_lines))
        return f"@decorated\nasync def f(\n    a: int,\n    b: int,\n) -> None:\n{body}\n"

    (tmp_path / "fits.py").write_text(module(LIMIT))
    (tmp_path / "long.py").write_text(module(LIMIT + 1))
    assert _long_functions(tmp_path) == [f"long.py:2 f ({LIMIT + 1})"]
