"""Which profile a checkpoint was trained with, from its own files.

Our checkpoints record the profile name in config.json (`mapper_profile`). For the original's
checkpoints, the vocabulary's shape tells the versions apart: split or joint positions,
refinement, distances, timing-point ticks, interleaved timing and sustain tokens.
"""

from __future__ import annotations

import json
from pathlib import Path

from profiles.settings import Profile, load_profile
from tokenization.errors import MapperInputError
from tokenization.events import ContextType, EventType
from tokenization.settings import TokenizerSettings
from tokenization.vocabulary import Vocabulary

PUBLISHED_VERSIONS = ("v29", "v30", "v31", "v32")


def vocabulary_signature(vocab: Vocabulary) -> tuple:
    return (vocab.has(EventType.POS_X), vocab.has(EventType.POS_REFINE), vocab.has(EventType.DISTANCE),
            vocab.has(EventType.TIMING_POINT), ContextType.TIMING not in vocab.context_sos,
            vocab.has(EventType.SLIDER_SUSTAIN))


def settings_signature(s: TokenizerSettings) -> tuple:
    return (s.position_split_axes, bool(s.position_refinement), s.add_distances, s.add_timing_points, s.add_timing,
            bool(s.sustain_interval))


def detect_profile(checkpoint: str | Path, vocab: Vocabulary | None = None) -> Profile:
    checkpoint = Path(checkpoint)
    config_path = checkpoint / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    if config.get("mapper_profile"):
        return load_profile(config["mapper_profile"])
    vocab = vocab or Vocabulary.load(checkpoint)
    signature = vocabulary_signature(vocab)
    for name in PUBLISHED_VERSIONS:
        profile = load_profile(name)
        if settings_signature(profile.tokenizer) == signature:
            return _with_checkpoint_window(profile, config)
    raise MapperInputError(f"{checkpoint}: cannot tell which model version this is; pass --profile")


def _with_checkpoint_window(profile: Profile, config: dict) -> Profile:
    """The window length follows the checkpoint (its encoder sees src_seq_len / 2 positions)."""
    positions = config.get("max_source_positions")
    if positions and positions * 2 != profile.model.src_seq_len:
        return profile.with_overrides({"model.src_seq_len": int(positions) * 2})
    return profile
