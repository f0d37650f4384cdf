"""The README's setup commands and the CI helpers that read them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / ".ci" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


qt_libs = _load("check_qt_libs")
blas_kernel = _load("blas_kernel")


def _block(marker: str) -> str:
    match = re.search(re.escape(marker) + r"\s*```bash\n(.*?)```", README, flags=re.DOTALL)
    assert match, f"README.md has no bash block after {marker}"
    return match.group(1).strip()


def test_launch_and_test_commands_install_the_same_packages():
    launch, test = qt_libs.apt_lines(README)
    assert launch == test
    assert len(set(launch)) == len(launch)
    # Qt's libraries load GLib (libglib-2.0, libgthread-2.0) and the Wayland client libraries
    for package in ("libglib2.0-0", "libwayland-cursor0", "libwayland-egl1", "libxcb-cursor0"):
        assert package in launch


def test_the_commands_use_the_venv_they_create():
    launch = _block("<!-- launch-command -->")
    test = _block("<!-- test-command -->")
    assert "python3 -m venv .venv" in launch and launch.endswith(".venv/bin/attention-explorer")
    assert test.endswith(".venv/bin/python -m pytest")


def test_apt_lines_parser_reads_only_package_names():
    text = (
        "<!-- launch-command -->\n```bash\nsudo apt-get install -y --no-install-recommends a b"
        " && x\n```\n<!-- test-command -->\n```bash\napt-get install -y b a && pytest\n```\n"
    )
    assert qt_libs.apt_lines(text) == [["a", "b"], ["b", "a"]]
    with pytest.raises(SystemExit, match="test-command"):
        qt_libs.apt_lines(text.split("<!-- test-command -->")[0])


AVX512 = {"avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


@pytest.mark.parametrize(
    "active,flags,machine,second",
    [
        (["SkylakeX"], AVX512, "x86_64", "Haswell"),
        (["Haswell"], {"avx", "avx2", "fma"}, "x86_64", "Sandybridge"),
        (["Haswell"], AVX512, "x86_64", "SkylakeX"),
        (["Zen"], {"avx", "avx2", "fma"}, "x86_64", "Sandybridge"),  # Zen shares Haswell's
        (["CooperLake"], AVX512, "x86_64", "Haswell"),
        (["Sandybridge"], {"avx", "sse4_2"}, "x86_64", "Nehalem"),
        (["NEOVERSEN1"], {"asimd"}, "aarch64", "ARMV8"),
        (["ARMV8"], {"asimd"}, "aarch64", ""),
        (["POWER9"], set(), "ppc64le", ""),
    ],
)
def test_second_blas_kernel_differs_and_runs_on_the_cpu(active, flags, machine, second):
    assert blas_kernel.second(active, flags, machine) == second
