"""Launching without a display: one clear line and exit 2, never Qt's abort (exit 134)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import __version__
from explorer.cli import missing_display

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "resources" / "examples" / "dog-cat-table.attn.json"

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="display servers are checked on Linux"
)


def _run(*args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """``python -m explorer ARGS`` with no display and ``env`` added to the environment."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    return subprocess.run(
        [sys.executable, "-m", "explorer", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("platform", [None, "xcb", "wayland", "wayland-egl;xcb", " XCB:dpi=96"])
def test_launch_without_a_display_says_so_in_one_line_and_exits_2(platform):
    env = {} if platform is None else {"QT_QPA_PLATFORM": platform}
    out = _run(**env)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "no display was found" in lines[0]
    assert "set DISPLAY" in lines[0] and "attention-explorer render" in lines[0]
    assert "xcb-cursor" not in out.stderr and "Traceback" not in out.stderr


def test_opening_a_file_without_a_display_gives_the_same_line():
    out = _run(str(EXAMPLE))
    assert out.returncode == 2 and "no display was found" in out.stderr


def test_version_help_and_render_need_no_display(tmp_path):
    out = _run("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"attention-explorer {__version__}"
    out = _run("--help")
    assert out.returncode == 0 and "render" in out.stdout
    png = tmp_path / "fig.png"
    out = _run("render", str(EXAMPLE), "-o", str(png), "--width", "400")
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_offscreen_platform_opens_the_window_without_a_display():
    out = _run("--smoke-test", timeout=180, QT_QPA_PLATFORM="offscreen")
    assert out.returncode == 0, out.stderr
    line = re.search(r"^first paint after (\d+) ms; first result after (\d+) ms$", out.stdout, re.M)
    assert line, out.stdout
    assert int(line[1]) <= int(line[2])  # a Result is on screen no earlier than the window
    assert re.search(r"^attention kernels ready after \d+ ms$", out.stdout, re.M), out.stdout


@pytest.mark.parametrize(
    "environ,expected",
    [
        ({}, True),
        ({"DISPLAY": ""}, True),  # set but empty is no display
        ({"DISPLAY": ":0"}, False),
        ({"WAYLAND_DISPLAY": "wayland-0"}, False),
        ({"QT_QPA_PLATFORM": "offscreen"}, False),
        ({"QT_QPA_PLATFORM": "minimal"}, False),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, False),
        ({"QT_QPA_PLATFORM": "xcb"}, True),
        ({"QT_QPA_PLATFORM": "wayland;xcb"}, True),
        ({"QT_QPA_PLATFORM": "xcb;offscreen"}, False),  # Qt falls back to offscreen
        ({"QT_QPA_PLATFORM": ""}, True),
    ],
)
def test_missing_display_reads_the_environment(environ, expected):
    assert missing_display(environ, "linux") is expected


def test_other_systems_always_have_a_display():
    assert missing_display({}, "darwin") is False
    assert missing_display({}, "win32") is False
