"""Write the corpus of bad session files in ``bad/`` and ``bad_expected.json``.

Each bad file is the kept valid sample ``session_v1.attn.json`` with one thing broken (or a
file that is not a session at all). ``bad_expected.json`` maps each file name to a fragment the
refusal message must contain, so a file refused for the wrong reason fails the test.

Run from the repository root: ``python tests/io/data/make_bad_corpus.py``.
"""

from __future__ import annotations

import base64
import copy
import json
import random
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
BAD = HERE / "bad"


def _json(doc) -> bytes:
    return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")


def _mutant(base: dict, edit) -> bytes:
    doc = copy.deepcopy(base)
    edit(doc)
    return _json(doc)


def _set(*path_and_value):
    *path, value = path_and_value

    def edit(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _delete(*path):
    def edit(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return edit


def _compact(rows, dtype: str = "<f8") -> dict:
    """A matrix in the compact form of format version 2: base64 of little-endian float64."""
    a = np.array(rows, dtype=dtype)
    return {"dtype": dtype, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode()}


def _compact_mutants(base: dict) -> dict[str, tuple[bytes, str]]:
    """Version-2 files whose heads[0].w_q is in the compact form, with one thing broken."""
    v2 = copy.deepcopy(base)
    v2["version"] = 2
    w_q = v2["heads"][0]["w_q"]  # 3 × 2
    good = _compact(w_q)
    nan = np.array(w_q)
    nan[1, 0] = np.nan

    def compact(**changes):
        return _mutant(v2, _set("heads", 0, "w_q", {**good, **changes}))

    at = "heads[0].w_q"
    return {
        "compact_in_version_1.attn.json": (
            _mutant(base, _set("heads", 0, "w_q", good)),
            f"{at}: expected a matrix (array of rows), got object",
        ),
        "compact_bad_base64.attn.json": (
            compact(data="!" + good["data"][1:]),
            f"{at}.data: not valid base64",
        ),
        "compact_padding_inside.attn.json": (
            compact(data=good["data"][:-4] + "===="),
            f"{at}.data: not valid base64",
        ),
        "compact_non_ascii.attn.json": (compact(data="é" + good["data"][1:]), "not valid base64"),
        "compact_wrong_length.attn.json": (
            compact(data=good["data"][:-4]),
            "60 base64 characters, but 3 × 2 float64 numbers take 64",
        ),
        "compact_float32.attn.json": (compact(dtype="<f4"), f"{at}.dtype: '<f4' is not"),
        "compact_shape_one_number.attn.json": (compact(shape=[6]), "expected [rows, columns]"),
        "compact_shape_float.attn.json": (compact(shape=[3.0, 2]), "expected [rows, columns]"),
        "compact_no_rows.attn.json": (compact(shape=[0, 2], data=""), "matrix has no rows"),
        "compact_too_many_rows.attn.json": (
            compact(shape=[8193, 2]),
            f"{at}.shape: matrix has more than 8192 rows",
        ),
        "compact_transposed.attn.json": (
            compact(shape=[2, 3]),
            "w_k has shape (3, 2), w_q has (2, 3)",
        ),
        "compact_nan.attn.json": (
            _mutant(v2, _set("heads", 0, "w_q", _compact(nan))),
            f"{at}[1][0]: nan is not a finite number",
        ),
        "compact_data_number.attn.json": (compact(data=5), "expected a base64 string"),
        "compact_unknown_key.attn.json": (compact(order="C"), f"{at}: unknown key"),
        "compact_missing_data.attn.json": (
            _mutant(v2, _set("heads", 0, "w_q", {k: v for k, v in good.items() if k != "data"})),
            f"{at}: missing key 'data'",
        ),
    }


def corpus() -> dict[str, tuple[bytes, str]]:
    """Map file name → (content, expected message fragment)."""
    raw = (HERE / "session_v1.attn.json").read_bytes()
    base = json.loads(raw)
    text = raw.decode("utf-8")
    rng = random.Random(5)
    third_head = copy.deepcopy(base["heads"][0])
    third_head["w_q"] = [[*row, 0.5] for row in third_head["w_q"]]
    third_head["w_k"] = [[*row, 0.5] for row in third_head["w_k"]]
    out = {
        # Not JSON, not UTF-8, not a session.
        "empty.attn.json": (b"", "empty"),
        "whitespace_only.attn.json": (b"  \n\t\n", "empty"),
        "truncated.attn.json": (raw[: len(raw) // 2], "not valid JSON"),
        "plain_text.attn.json": (b"The dog chased the cat.\n", "not valid JSON"),
        "binary_garbage.attn.json": (bytes(rng.randrange(256) for _ in range(4096)), "UTF-8"),
        "pickle.attn.json": (b"\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\x02os", "UTF-8"),
        "utf16.attn.json": (text.encode("utf-16"), "UTF-16"),
        "utf16_no_bom.attn.json": (text.encode("utf-16-le"), "UTF-16"),
        "latin1_text.attn.json": (text.encode("latin-1", "replace"), "not UTF-8"),
        "utf32.attn.json": (text.encode("utf-32"), "looks like UTF-32"),
        "utf32_le_no_bom.attn.json": (text.encode("utf-32-le"), "looks like UTF-32"),
        "utf32_be_no_bom.attn.json": (text.encode("utf-32-be"), "looks like UTF-32"),
        "utf16_be_no_bom.attn.json": (text.encode("utf-16-be"), "looks like UTF-16"),
        "top_level_array.attn.json": (b"[1, 2, 3]", "top level is an array"),
        "top_level_string.attn.json": (b'"attention-explorer-session"', "top level is a string"),
        "no_format.attn.json": (b'{"name": "package", "version": 1}', '"format"'),
        "wrong_format.attn.json": (_mutant(base, _set("format", "glue-session")), "format"),
        "format_not_string.attn.json": (_mutant(base, _set("format", 1)), "format"),
        "deep_nesting.attn.json": (b"[" * 50_000 + b"]" * 50_000, "nesting"),
        "deep_nesting_in_field.attn.json": (
            raw.replace(
                b'"text": "',
                b'"x": ' + b'{"a": ' * 20_000 + b"1" + b"}" * 20_000 + b', "text": "',
                1,
            ),
            "nesting",
        ),
        "duplicate_key.attn.json": (
            raw.replace(b'"causal": true', b'"causal": true, "causal": false'),
            "duplicate key",
        ),
        "huge_integer.attn.json": (
            raw.replace(b'"embedding_seed": 42', b'"embedding_seed": ' + b"9" * 5000),
            "too many digits",
        ),
        # Versions.
        "future_version.attn.json": (_mutant(base, _set("version", 1000)), "newer"),
        "version_zero.attn.json": (_mutant(base, _set("version", 0)), "version"),
        "version_string.attn.json": (_mutant(base, _set("version", "1")), "integer"),
        "version_float.attn.json": (_mutant(base, _set("version", 1.0)), "integer"),
        "version_bool.attn.json": (_mutant(base, _set("version", True)), "integer"),
        "version_missing.attn.json": (_mutant(base, _delete("version")), "integer"),
        # Keys.
        "missing_heads.attn.json": (_mutant(base, _delete("heads")), "missing key 'heads'"),
        "missing_view_key.attn.json": (
            _mutant(base, _delete("view", "colormap")),
            "view: missing key 'colormap'",
        ),
        "unknown_key.attn.json": (_mutant(base, _set("temprature", 1.0)), "unknown key"),
        "unknown_head_key.attn.json": (
            _mutant(base, _set("heads", 0, "w_o", [[1.0]])),
            "heads[0]: unknown key",
        ),
        # Non-finite numbers.
        "nan_weight.attn.json": (raw.replace(b"5e-324", b"NaN"), "NaN"),
        "infinity_weight.attn.json": (raw.replace(b"5e-324", b"Infinity"), "Infinity"),
        "minus_infinity_weight.attn.json": (raw.replace(b"5e-324", b"-Infinity"), "-Infinity"),
        "overflow_weight.attn.json": (raw.replace(b"1e+300", b"1e999"), "not a finite number"),
        "overflow_int_weight.attn.json": (
            raw.replace(b"1e+300", b"1" + b"0" * 400),
            "heads[1].w_q[2][0]: 1000",
        ),
        "nan_temperature.attn.json": (
            raw.replace(b'"temperature": 0.7', b'"temperature": NaN'),
            "NaN",
        ),
        # Wrong types.
        "string_weight.attn.json": (
            _mutant(base, _set("heads", 0, "w_q", 1, 0, "0.5")),
            "heads[0].w_q[1][0]: expected a number, got string",
        ),
        "bool_weight.attn.json": (
            _mutant(base, _set("heads", 0, "w_k", 0, 1, True)),
            "heads[0].w_k[0][1]: expected a number, got boolean",
        ),
        "null_weight.attn.json": (
            _mutant(base, _set("heads", 1, "w_v", 2, 2, None)),
            "heads[1].w_v[2][2]: expected a number, got null",
        ),
        "matrix_is_string.attn.json": (
            _mutant(base, _set("heads", 0, "w_q", "eye(3)")),
            "heads[0].w_q: expected a matrix",
        ),
        "matrix_1d.attn.json": (
            _mutant(base, _set("heads", 0, "w_q", [1.0, 2.0, 3.0])),
            "expected a row",
        ),
        "matrix_3d.attn.json": (
            _mutant(base, _set("heads", 0, "w_q", [[[1.0]]] * 3)),
            "expected a number, got array",
        ),
        "matrix_empty.attn.json": (_mutant(base, _set("heads", 0, "w_q", [])), "no rows"),
        "head_not_object.attn.json": (
            _mutant(base, _set("heads", 0, [1, 2, 3])),
            "expected a head object",
        ),
        "heads_not_list.attn.json": (_mutant(base, _set("heads", {"0": 1})), "array of heads"),
        "text_number.attn.json": (_mutant(base, _set("text", 42)), "text: expected a string"),
        "lone_surrogate_text.attn.json": (
            raw.replace(b"The na", b"The \\ud800na"),
            "lone surrogate",
        ),
        "d_model_string.attn.json": (_mutant(base, _set("d_model", "3")), "d_model: expected"),
        "d_model_bool.attn.json": (_mutant(base, _set("d_model", True)), "d_model: expected"),
        "d_model_float.attn.json": (_mutant(base, _set("d_model", 3.0)), "d_model: expected"),
        "causal_int.attn.json": (_mutant(base, _set("causal", 1)), "causal: expected true"),
        "temperature_string.attn.json": (
            _mutant(base, _set("temperature", "0.7")),
            "temperature: expected a number",
        ),
        "temperature_bool.attn.json": (
            _mutant(base, _set("temperature", True)),
            "temperature: expected a number",
        ),
        "selected_query_float.attn.json": (
            _mutant(base, _set("selected_query", 2.0)),
            "selected_query: expected an integer",
        ),
        "blocked_triple.attn.json": (
            _mutant(base, _set("blocked", [[1, 2, 3]])),
            "blocked[0]: expected 2 items",
        ),
        "blocked_string.attn.json": (
            _mutant(base, _set("blocked", [["1", 0]])),
            "blocked[0][0]: expected an integer",
        ),
        "view_not_object.attn.json": (_mutant(base, _set("view", "dark")), "view: expected"),
        "model_no_name.attn.json": (_mutant(base, _delete("model", "name")), "model: missing"),
        # Out of range.
        "d_model_zero.attn.json": (_mutant(base, _set("d_model", 0)), "out of range"),
        "d_model_negative.attn.json": (_mutant(base, _set("d_model", -3)), "out of range"),
        "temperature_zero.attn.json": (_mutant(base, _set("temperature", 0.0)), "out of range"),
        "temperature_huge.attn.json": (_mutant(base, _set("temperature", 1e6)), "out of range"),
        "selected_head_beyond.attn.json": (
            _mutant(base, _set("selected_head", 2)),
            "selected_head: 2 but there are 2 head(s)",
        ),
        "selected_head_negative.attn.json": (
            _mutant(base, _set("selected_head", -1)),
            "selected_head: -1 is out of range",
        ),
        "selected_query_negative.attn.json": (
            _mutant(base, _set("selected_query", -1)),
            "out of range",
        ),
        "seed_negative.attn.json": (_mutant(base, _set("embedding_seed", -1)), "out of range"),
        "seed_too_large.attn.json": (_mutant(base, _set("preset_seed", 2**64)), "out of range"),
        "blocked_negative.attn.json": (_mutant(base, _set("blocked", [[0, -1]])), "out of range"),
        "embedding_unknown.attn.json": (_mutant(base, _set("embedding", "glove")), "not one of"),
        "colormap_unknown.attn.json": (
            _mutant(base, _set("view", "colormap", "jet")),
            "view.colormap",
        ),
        "sha256_bad.attn.json": (_mutant(base, _set("model", "sha256", "xyz")), "hex digits"),
        "model_embedding_without_model.attn.json": (
            _mutant(base, lambda d: d.update(embedding="model", model=None)),
            "needs a model reference",
        ),
        "builtin_d_model_too_big.attn.json": (
            _mutant(base, lambda d: d.update(embedding="builtin", d_model=65)),
            "d_model 2..64",
        ),
        # Shapes.
        "ragged_matrix.attn.json": (
            _mutant(base, lambda d: d["heads"][0]["w_v"][1].pop()),
            "ragged",
        ),
        "wrong_rows.attn.json": (
            _mutant(
                base, lambda d: [h[k].pop() for h in d["heads"] for k in ("w_q", "w_k", "w_v")]
            ),
            "2 rows, the heads read 3",
        ),
        "concat_needs_double_rows.attn.json": (
            _mutant(base, _set("positional_mode", "concat")),
            "the heads read 6",
        ),
        "wk_shape_mismatch.attn.json": (
            _mutant(base, lambda d: [r.append(0.0) for r in d["heads"][0]["w_k"]]),
            "w_k has shape (3, 3), w_q has (3, 2)",
        ),
        "wv_rows_mismatch.attn.json": (
            _mutant(base, lambda d: d["heads"][0]["w_v"].pop()),
            "w_v has 2 rows",
        ),
        "heads_inconsistent.attn.json": (
            _mutant(base, lambda d: d["heads"].append(third_head)),
            "head shapes differ",
        ),
        "no_heads.attn.json": (_mutant(base, _set("heads", [])), "1 to 12 heads, got 0"),
        "too_many_heads.attn.json": (
            _mutant(base, _set("heads", base["heads"] * 7)),
            "1 to 12 heads, got 14",
        ),
    }
    out.update(_compact_mutants(base))
    return out


def main() -> None:
    BAD.mkdir(exist_ok=True)
    for old in BAD.iterdir():
        old.unlink()
    expected = {}
    for name, (content, fragment) in sorted(corpus().items()):
        (BAD / name).write_bytes(content)
        expected[name] = fragment
    (HERE / "bad_expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {len(expected)} bad files to {BAD}")


if __name__ == "__main__":
    main()
