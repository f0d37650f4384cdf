"""Check that README's apt line installs every system library Qt loads.

Runs ``ldd`` on PySide6's Qt libraries (``Qt/lib/*.so*``), its Python modules, the xcb
platform plugin with its GL integrations, and the offscreen plugin. Every library that
resolves outside the wheel must belong to a package that the apt line installs (or pulls in
through ``apt-cache depends --recurse``), or to the base system: installed packages of
Priority required or important, Essential packages, and their dependencies. A library
that does not resolve at all is reported too.

Usage (Debian or Ubuntu, after the README's install)::

    .venv/bin/python .ci/check_qt_libs.py [README.md]

Exit 0 when everything is covered; 1 with one line per problem otherwise.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def apt_lines(readme: str) -> list[list[str]]:
    """The packages of the ``apt-get install`` in each marked command block of the README."""
    lines = []
    for marker in ("<!-- launch-command -->", "<!-- test-command -->"):
        block = re.search(re.escape(marker) + r"\s*```bash\n(.*?)```", readme, flags=re.DOTALL)
        install = block and re.search(r"apt-get install ([^&\n]*)", block.group(1))
        if not install:
            raise SystemExit(f"check_qt_libs: no apt-get install after {marker} in the README")
        lines.append([w for w in shlex.split(install.group(1)) if not w.startswith("-")])
    return lines


def qt_files() -> tuple[Path, list[Path]]:
    """PySide6's folder, and its Qt libraries, Python modules and platform plugins."""
    spec = importlib.util.find_spec("PySide6")  # no import: that would load Qt itself
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("check_qt_libs: PySide6 is not installed in this Python")
    pyside = Path(next(iter(spec.submodule_search_locations)))
    plugins = pyside / "Qt" / "plugins"
    files = sorted((pyside / "Qt" / "lib").glob("*.so*")) + sorted(pyside.glob("*.so"))
    files += [plugins / "platforms" / "libqxcb.so", plugins / "platforms" / "libqoffscreen.so"]
    files += sorted((plugins / "xcbglintegrations").glob("*.so"))
    missing = [f for f in files if not f.is_file()]
    if missing or len(files) < 4:
        raise SystemExit(f"check_qt_libs: PySide6 files missing: {missing or 'Qt/lib'}")
    return pyside, files


def ldd(path: Path) -> list[tuple[str, str | None]]:
    """(soname, resolved path or None) of every library ``path`` loads, recursively."""
    out = subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=False)
    deps = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            name, target = (s.strip() for s in line.split("=>", 1))
            if target.startswith("not found"):
                deps.append((name, None))
            elif target.startswith("/"):
                deps.append((name, target.split(" (")[0]))
        elif line.startswith("/"):  # the dynamic loader itself
            deps.append((Path(line.split(" (")[0]).name, line.split(" (")[0]))
    return deps


def owners(paths: set[str]) -> dict[str, set[str]]:
    """Map each file to the installed packages that ship it (``dpkg -S``)."""

    def candidates(path: str) -> list[str]:
        # merged /usr: ldd may report /lib/... while dpkg recorded /usr/lib/... or the reverse
        real = str(Path(path).resolve())
        alt = [p[4:] if p.startswith("/usr/") else "/usr" + p for p in (path, real)]
        return list(dict.fromkeys([path, real, *alt]))

    found: dict[str, set[str]] = defaultdict(set)
    queries = {c: p for p in paths for c in candidates(p)}
    out = subprocess.run(
        ["dpkg", "-S", *queries], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        pkgs, _, file = line.partition(": ")
        if file in queries and not line.startswith("diversion"):
            found[queries[file]].update(p.split(":")[0].strip() for p in pkgs.split(","))
    return found


_DEPENDS = ["--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks"]
_DEPENDS += ["--no-replaces", "--no-enhances"]


def _apt_cache(*args: str) -> str:
    return subprocess.run(["apt-cache", *args], capture_output=True, text=True, check=False).stdout


def providers(virtual: str) -> set[str]:
    """Packages that provide ``virtual`` (``apt-cache showpkg``'s Reverse Provides)."""
    out = _apt_cache("showpkg", virtual).split("Reverse Provides:", 1)
    lines = out[1].splitlines()[1:] if len(out) == 2 else []
    return {line.split()[0].split(":")[0] for line in lines if line.strip()}


def closure(packages: list[str]) -> set[str]:
    """``packages`` and everything they depend on (``apt-cache depends --recurse``).

    A virtual package (``<libglib2.0-0>`` on Ubuntu 24.04, where libglib2.0-0t64 provides
    it) counts through its providers, which apt installs in its place.
    """
    names: set[str] = set()
    todo = list(packages)
    while todo:
        virtual = set()
        out = _apt_cache("depends", "--recurse", *_DEPENDS, *todo)
        for line in out.splitlines():
            word = line.strip().removeprefix("|")
            if not word or (line.startswith(" ") and word.split()[0].endswith(":")):
                continue  # a "Depends: x" line: x is listed at the top level as well
            name = word.strip("<>").split(":")[0]
            names.add(name)
            if word.startswith("<"):
                virtual.add(name)
        found = set().union(*(providers(v) for v in virtual)) if virtual else set()
        todo = sorted(found - names)
    return names


def base_system() -> list[str]:
    """Installed packages every Debian has: Priority required or important, or Essential."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${Priority}\t${Essential}\t${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    base = []
    for line in out.splitlines():
        name, priority, essential, status = [*line.split("\t"), "", "", ""][:4]
        if status == "installed" and (priority in ("required", "important") or essential == "yes"):
            base.append(name)
    return base


def main(argv: list[str]) -> int:
    readme = Path(argv[0]) if argv else ROOT / "README.md"
    lines = apt_lines(readme.read_text(encoding="utf-8"))
    if not lines:
        print(f"check_qt_libs: {readme} has no apt-get install line", file=sys.stderr)
        return 1
    if any(sorted(line) != sorted(lines[0]) for line in lines):
        print(f"check_qt_libs: the apt lines in {readme} list different packages", file=sys.stderr)
        return 1
    apt = lines[0]

    needed_by: dict[tuple[str, str | None], set[str]] = defaultdict(set)
    pyside, files = qt_files()
    wheel = pyside.parent.resolve()  # site-packages: libraries shipped inside the wheels
    for f in files:
        for name, target in ldd(f):
            if target is None or not Path(target).resolve().is_relative_to(wheel):
                needed_by[(name, target)].add(f.name)

    package_of = owners({t for _, t in needed_by if t})
    covered = closure(apt) | closure(base_system())
    problems = []
    for (name, target), users in sorted(needed_by.items(), key=lambda kv: kv[0][0]):
        who = ", ".join(sorted(users, key=str.lower)[:3]) + (
            f" and {len(users) - 3} more" if len(users) > 3 else ""
        )
        if target is None:
            problems.append(f"{name}: not found on this system (needed by {who})")
        elif target not in package_of:
            problems.append(f"{name}: {target} belongs to no package (needed by {who})")
        elif not package_of[target] & covered:
            package = " or ".join(sorted(package_of[target]))
            problems.append(
                f"{name}: from package {package}, which the apt line does not install "
                f"(needed by {who})"
            )
    libs = len(needed_by)
    if problems:
        print(f"Qt needs system libraries that README's apt line does not cover ({readme}):")
        for p in problems:
            print(f"  {p}")
        return 1
    print(
        f"Qt system libraries: all {libs} loaded by {len(files)} files are covered by the apt line"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
