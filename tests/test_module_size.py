"""No module in wsmon_tui/ is over 600 lines: a module that grows past it is split into
parts named for what they hold (see alerts/engine.py, rollback/controller.py, tui/app.py)."""

from __future__ import annotations

from pathlib import Path

import wsmon_tui

MAX_LINES = 600


def oversized(root: Path, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(path relative to ``root``'s parent, line count) of every module over ``limit``, largest first."""
    found = []
    for path in sorted(root.rglob("*.py")):
        with path.open("rb") as fh:
            lines = sum(1 for _ in fh)
        if lines > limit:
            found.append((path.relative_to(root.parent).as_posix(), lines))
    return sorted(found, key=lambda item: -item[1])


def test_no_module_over_600_lines():
    root = Path(wsmon_tui.__file__).parent
    offenders = oversized(root)
    assert not offenders, (f"modules over {MAX_LINES} lines (split them by what they hold): "
                           + ", ".join(f"{path} ({n})" for path, n in offenders))


def test_the_check_sees_an_oversized_module(tmp_path: Path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "small.py").write_text("x = 1\n" * MAX_LINES)
    (pkg / "sub" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1))
    assert oversized(pkg) == [("pkg/sub/big.py", MAX_LINES + 1)]
