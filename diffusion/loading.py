"""What a trained position-refinement model folder holds beside its weights (diffusion.model): the
class vocabulary it was trained with and the sampling settings it is meant to be used with. Read
by refinement (models.pipeline.output), written by training (training.diffusion) and conversion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from diffusion.features import ClassVocabulary

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
    path = Path(folder) / VOCABULARY_NAME
    if not path.is_file():
        return ClassVocabulary()
    return ClassVocabulary.from_json(json.loads(path.read_text(encoding="utf-8")))


def load_inference(folder: Path) -> DiffusionInference:
    """The model's own sampling settings, or the published model's (100 ancestral steps)."""
    path = Path(folder) / INFERENCE_NAME
    if not path.is_file():
        return DiffusionInference()
    data = json.loads(path.read_text(encoding="utf-8"))
    return DiffusionInference(**{k: v for k, v in data.items() if k in DiffusionInference.__dataclass_fields__})
