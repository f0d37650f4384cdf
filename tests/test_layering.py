"""The Qt-free core: ``explorer.core``, ``explorer.io`` and ``explorer.lessons`` never import
Qt or pyqtgraph."""

import pkgutil
import subprocess
import sys

import explorer.core
import explorer.io
import explorer.lessons

FORBIDDEN = ("PySide6", "pyqtgraph", "shiboken6")


def _modules(package) -> list[str]:
    return [package.__name__] + [
        m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
    ]


def test_core_and_io_do_not_import_qt():
    modules = _modules(explorer.core) + _modules(explorer.io) + _modules(explorer.lessons)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"Qt imported by the core: {out.stdout}"
    assert len(modules) >= 3
