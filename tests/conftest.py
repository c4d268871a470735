"""Shared test helpers: where ../shared is, and skipping cleanly without it."""

from __future__ import annotations

import json
import os
from pathlib import Path

# the same matrix kernels on every CI machine, as `mapper generate` asks for them (mapperator_cli/app.py
# DECODING_COMMANDS): set before anything imports torch
os.environ.setdefault("MKL_CBWR", "AVX2")

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = SHARED / "fixtures"


def require_shared(*parts: str) -> Path:
    """The path under ../shared, or skip the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (not present beside this checkout)")
    return path


def corpus_beatmaps() -> list[Path]:
    return sorted(CORPUS.rglob("*.osu")) if CORPUS.exists() else []


def corpus_manifest() -> dict:
    return json.loads(require_shared("corpus", "manifest.json").read_text())


@pytest.fixture(scope="session")
def random_tiny_model():
    """(model, vocabulary, samples per window): the tiny profile's architecture with random weights."""
    import torch

    from models.factory import build_config
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from tokenization.vocabulary import build_vocabulary

    profile = load_profile("tiny")
    templates = [(list(t.inputs), list(t.outputs)) for t in profile.templates]
    vocab = build_vocabulary(profile.tokenizer, templates)
    torch.manual_seed(1)
    model = Mapperatorinator(build_config(profile, vocab)).eval()
    samples = (profile.model.src_seq_len - 1) * profile.audio.hop_length
    return model, vocab, samples
