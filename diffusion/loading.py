"""What a trained position-refinement model folder holds beside its weights (diffusion.model): the
class vocabulary it was trained with and the sampling settings it is meant to be used with. Read
by refinement (models.pipeline.output), written by training (training.diffusion) and conversion."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from diffusion.features import ClassVocabulary
from tokenization.errors import MapperInputError

VOCABULARY_NAME = "tokenizer.json"
INFERENCE_NAME = "refine.json"  # the sampling settings a trained model is meant to be used with


@dataclass(frozen=True)
class DiffusionInference:
    steps: int = 100
    eta: float | None = None  # None: ancestral sampling; a number: DDIM with that much noise
    cfg_scale: float = 1.0
    max_seq_len: int = 1024
    overlap: int = 128
    attention_radius: int = 128


def load_vocabulary(folder: Path) -> ClassVocabulary:
    from tokenization.small_files import MAX_TOKENIZER_BYTES, read_json

    path = Path(folder) / VOCABULARY_NAME
    data = read_json(path, MAX_TOKENIZER_BYTES) if os.path.lexists(path) else {}
    if not all(isinstance(data.get(key, []), list) for key in ("mappers", "descriptors")):
        raise MapperInputError(f"{path}: mappers and descriptors must be lists")
    return ClassVocabulary.from_json(data)


def load_inference(folder: Path) -> DiffusionInference:
    """The model's own sampling settings, or the published model's (100 ancestral steps); the
    folder is untrusted, so sizes are checked before anything is allocated from them."""
    from models.checkpoint_checks import size_problem
    from tokenization.small_files import read_json

    path = Path(folder) / INFERENCE_NAME
    data = read_json(path) if os.path.lexists(path) else {}
    # the published model samples 100 steps over windows of 1024 datapoints
    problem = size_problem(data, {"steps": (1, 10_000), "max_seq_len": (2, 65_536), "overlap": (0, 65_535),
                                  "attention_radius": (0, 65_536)})
    if problem or any(isinstance(data.get(k), bool | str | list | dict) for k in ("eta", "cfg_scale")):
        raise MapperInputError(f"{path}: {problem or 'eta and cfg_scale must be numbers'}")
    return DiffusionInference(**{k: v for k, v in data.items() if k in DiffusionInference.__dataclass_fields__})
