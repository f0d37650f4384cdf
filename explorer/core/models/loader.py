"""``load_model(folder)``: one entry point for every supported model family.

``config.json``'s ``model_type`` picks the family: ``bert`` goes to
:func:`~explorer.core.encoder.load_encoder`; ``roberta`` and ``distilbert`` are renamed to
BERT's tensors and run by the same encoder; ``gpt2``, ``llama`` and ``qwen2`` run in
:class:`~explorer.core.models.decoder.DecoderModel`. Before any weight is read, the config's
sizes are bounded (:data:`~explorer.core.models.config.LIMITS`), every safetensors header is
checked against the file's length and the shapes the config implies, and the memory the model
needs is compared with what is available. Nothing is ever downloaded, and neither torch nor
``transformers`` is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from explorer.core.encoder import Encoder, load_encoder
from explorer.core.encoder_config import parse_config
from explorer.core.encoder_files import MAX_CONFIG_BYTES, EncoderError, read_json
from explorer.core.model_discovery import model_name_for
from explorer.core.models.config import ModelConfig, ModelError, model_type_of, parse_model_config
from explorer.core.models.decoder import DecoderModel
from explorer.core.models.encoders import EncoderModel, bert_model_config
from explorer.core.models.families import (
    bert_tensors,
    encoder_config,
    expected_shapes,
    pack_decoder,
    prefix_of,
)
from explorer.core.models.tokens import ModelTokenizer
from explorer.core.models.weights import Checkpoint

_FAMILY_NAMES = {
    "gpt2": "GPT-2",
    "llama": "Llama",
    "qwen2": "Qwen2",
    "roberta": "RoBERTa",
    "distilbert": "DistilBERT",
}


def read_model_config(folder) -> ModelConfig:
    """``folder/config.json`` as a :class:`ModelConfig` (cheap: no weights are touched)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelError(f"{folder}: no config.json")
    raw = read_json(path, MAX_CONFIG_BYTES)
    if model_type_of(raw, str(path)) == "bert":
        return bert_model_config(parse_config(raw, str(path)))
    return parse_model_config(raw, str(path))


def decoder_from_tensors(
    cfg: ModelConfig, tensors: dict, tokenizer=None, *, name: str = "", prefix: str = "model."
) -> DecoderModel:
    """A decoder from weights already in memory (benchmarks, tests, conversions).

    Parameters
    ----------
    cfg : ModelConfig
        A decoder configuration (``cfg.is_decoder``).
    tensors : dict of str to ndarray
        Named and shaped as in a checkpoint (``model.layers.0.self_attn.q_proj.weight``...);
        converted to float32.
    prefix : str
        The name prefix of the model body (``"transformer."`` for GPT-2 task models).
    """
    if not cfg.is_decoder:
        raise ModelError(f"{cfg.model_type} is not a decoder")
    shapes = expected_shapes(cfg, prefix)
    t = {}
    for n, shape in shapes.items():
        if n not in tensors or tuple(tensors[n].shape) != shape:
            raise ModelError(f"tensor {n} is missing or not of shape {shape}")
        t[n] = np.array(tensors[n], dtype=np.float32, order="C")  # a copy: ours is read-only
    return DecoderModel(cfg, pack_decoder(cfg, t, prefix), tokenizer, name=name)


def load_model(folder, name: str | None = None, *, progress=None) -> DecoderModel | EncoderModel:
    """Load any supported model from a local folder.

    Parameters
    ----------
    folder : str or Path
        Holds ``config.json``, ``model.safetensors`` (or shards with
        ``model.safetensors.index.json``) and ``tokenizer.json`` (BERT also ``vocab.txt``).
    name : str, optional
        Display name; by default derived from the folder.
    progress : callable, optional
        ``progress(done_bytes, total_bytes)`` while the weights are read (not for BERT,
        which loads in one step); an exception it raises cancels the load and propagates.

    Returns
    -------
    DecoderModel or EncoderModel
        ``model.forward(text_or_ids, edits=())`` gives a
        :class:`~explorer.core.models.output.ModelOutput`.

    Raises
    ------
    EncoderError
        (:class:`ModelError` for the families added here) with one line naming the file and
        what is wrong.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a folder")
    try:
        cfg = read_model_config(folder)
        name = name or model_name_for(folder)
        if cfg.model_type == "bert":
            return EncoderModel(load_encoder(folder, name), cfg, byte_level=False)
        ckpt = Checkpoint(folder)
        prefix = prefix_of(cfg, ckpt)
        shapes = expected_shapes(cfg, prefix)
        ckpt.check(shapes, f"{cfg.n_layer}-layer {_FAMILY_NAMES[cfg.model_type]} model")
        if cfg.is_decoder:
            tok = ModelTokenizer(folder, cfg.vocab_size, cfg.max_positions)
            weights = pack_decoder(cfg, ckpt.read(shapes, progress), prefix)
            return DecoderModel(cfg, weights, tok, name=name, path=folder)
        ecfg = encoder_config(cfg)
        tok = ModelTokenizer(folder, cfg.vocab_size, ecfg.max_positions)
        tensors = bert_tensors(cfg, ckpt.read(shapes, progress), prefix)
        enc = Encoder(folder, name, ecfg, tensors, tok.raw)
        return EncoderModel(enc, cfg, byte_level=tok.byte_level)
    except EncoderError:
        raise
    except MemoryError:
        raise ModelError(f"{folder}: not enough memory to load this model") from None
    except OSError as exc:  # a file vanished or became unreadable while loading
        where = exc.filename or folder
        raise ModelError(f"{where}: cannot be read ({exc.strerror or exc})") from None
