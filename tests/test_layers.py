"""The import contracts of ``.importlinter``: phoneservice -> ivr -> models, the
layers inside models/ (services -> storage -> tables -> rules), and no import
cycle between the modules of any package. CI runs import-linter through this
test; the second test shows the contract fails on one bad import."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "PYTHONSAFEPATH": "1"}
    return subprocess.run([str(LINT), str(root / ".importlinter"), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_import_contracts_are_kept():
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 3 kept, 0 broken." in done.stdout


def test_one_import_against_the_layers_breaks_the_contract(tmp_path):
    for name in ("models", "ivr", "phoneservice"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.wav"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    rule = tmp_path / "models" / "rules" / "plan.py"
    rule.write_text(rule.read_text() + "\nfrom models.storage import database  # noqa: E402,F401\n")
    done = lint(tmp_path)
    assert done.returncode == 1
    assert "models.rules.plan -> models.storage.database" in done.stdout
