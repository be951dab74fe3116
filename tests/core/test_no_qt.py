import re
import subprocess
import sys
from pathlib import Path

import studio.core

CORE = Path(studio.core.__file__).parent
QT = re.compile(r"^\s*(from|import)\s+(PySide6|PyQt\d|pyqtgraph|studio\.gui)\b", re.M)


def test_core_sources_never_import_qt():
    offenders = [p.name for p in CORE.rglob("*.py") if QT.search(p.read_text())]
    assert offenders == []


def test_importing_every_core_module_loads_no_qt():
    modules = ["studio.core." + ".".join(p.relative_to(CORE).with_suffix("").parts) for p in CORE.rglob("*.py")]
    modules = [m.removesuffix(".__init__") for m in modules]
    assert len(modules) > 40
    code = "import sys, importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules)
    code += "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'pyqtgraph', 'studio.gui'))]\nprint(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
