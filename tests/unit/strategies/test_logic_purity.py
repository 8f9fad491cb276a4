"""strategies/logic stays pure: no engine, broker or database imports, no wall clock."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
LOGIC = ROOT / "strategies" / "logic"
FORBIDDEN = ("backtrader", "dhanhq", "sqlalchemy", "hydra", "omegaconf")


def test_importing_every_logic_module_pulls_in_no_forbidden_package() -> None:
    modules = sorted(p.stem for p in LOGIC.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys\n"
        + "".join(f"import strategies.logic.{m}\n" for m in modules)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
    assert len(modules) >= 9


def test_logic_never_reads_the_wall_clock() -> None:
    pattern = re.compile(r"datetime\.now\(|time\.time\(|date\.today\(|uuid4\(")
    offenders = [p.name for p in LOGIC.glob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
