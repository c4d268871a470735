"""Audio, the model, decoding, generation, timing, postprocessing, the pipelines and evaluation: see
ARCHITECTURE.md for the rooms and the flow. Importing this package does not import torch."""

from __future__ import annotations


def __getattr__(name: str):
    if name == "load_model":
        from models.loading import load_model

        return load_model
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = ["load_model"]
