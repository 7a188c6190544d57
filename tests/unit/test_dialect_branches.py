"""Where PostgreSQL and SQLite need different SQL, the difference lives in the package's
``queries.py`` (one function per statement); services carry no dialect branch.

Found the way a reader would: a line naming ``dialect``, ``is_postgres`` or ``pg`` outside
``db.py``, the migrations and the ``queries.py`` modules.
"""

from __future__ import annotations

import re
from pathlib import Path

import tillpoint

ROOT = Path(tillpoint.__file__).parent
BRANCH = re.compile(r"dialect|is_postgres|\bpg\b")

# file -> why it still branches (each entry is work still to do, not a licence).
NOT_YET: dict[str, str] = {}


def _branching(root: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel == "db.py" or rel.startswith("migrations/") or path.name == "queries.py":
            continue
        hits = sum(1 for line in path.read_text().splitlines() if BRANCH.search(line))
        if hits:
            found[rel] = hits
    return found


def test_dialect_branches_live_in_queries_modules() -> None:
    assert sorted(_branching(ROOT)) == sorted(NOT_YET)


def test_the_check_finds_a_branch_in_a_service(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "queries.py").write_text("if s.get_bind().dialect.name == 'x': pass\n")
    (tmp_path / "shop" / "service.py").write_text("import x\nif rt.db.is_postgres:\n    pg = 1\n")
    (tmp_path / "db.py").write_text("dialect = 1\n")
    assert _branching(tmp_path) == {"shop/service.py": 2}
