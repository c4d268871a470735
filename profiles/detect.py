"""Which profile a checkpoint was trained with, from its own files.

Our checkpoints carry the whole profile they were trained with (`profile.json`, so a model trained
from a custom YAML file needs nothing else) and its name in config.json (`mapper_profile`). For the original's
checkpoints, the vocabulary's shape tells the versions apart: split or joint positions,
refinement, distances, timing-point ticks, interleaved timing and sustain tokens.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from profiles.settings import Profile, load_profile
from tokenization.errors import MapperInputError
from tokenization.events import ContextType, EventType
from tokenization.settings import TokenizerSettings
from tokenization.small_files import read_json
from tokenization.vocabulary import Vocabulary

PUBLISHED_VERSIONS = ("v29", "v30", "v31", "v32")
PROFILE_FILE = "profile.json"  # the full profile of a checkpoint we trained


def save_profile(profile: Profile, folder: Path) -> None:
    """Write `profile` into a checkpoint folder (atomically: a reader never sees half a file)."""
    from profiles.settings import profile_to_dict

    tmp = folder / f".{PROFILE_FILE}.partial"
    tmp.write_text(json.dumps(profile_to_dict(profile), indent=1) + "\n", encoding="utf-8")
    tmp.replace(folder / PROFILE_FILE)


def saved_profile(checkpoint: Path) -> Profile | None:
    """The profile a checkpoint we trained carries, or None when it has none (published checkpoints)."""
    from profiles.settings import profile_from_dict

    path = checkpoint / PROFILE_FILE
    if not os.path.lexists(path):
        return None
    return profile_from_dict(read_json(path), source=str(path))


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
    config = read_json(config_path) if os.path.lexists(config_path) else {}
    if vocab is not None:
        check_vocabulary_fits(vocab, config, checkpoint)
    if (profile := saved_profile(checkpoint)) is not None:
        return profile
    if config.get("mapper_profile"):
        if not isinstance(config["mapper_profile"], str):
            raise MapperInputError(f"{config_path}: mapper_profile is not a profile name")
        try:
            return load_profile(config["mapper_profile"])
        except MapperInputError:
            raise MapperInputError(f"{checkpoint}: trained with profile {config['mapper_profile']!r}, which is not "
                                   f"shipped and not saved beside it ({PROFILE_FILE}); pass --profile FILE") from None
    vocab = vocab or Vocabulary.load(checkpoint)
    signature = vocabulary_signature(vocab)
    for name in PUBLISHED_VERSIONS:
        profile = load_profile(name)
        if settings_signature(profile.tokenizer) == signature:
            try:
                return _with_checkpoint_window(profile, config)
            except MapperInputError as exc:  # the window the config asks for is not one a profile allows
                raise MapperInputError(f"{config_path}: max_source_positions: {exc}") from None
    raise MapperInputError(f"{checkpoint}: cannot tell which model version this is; pass --profile")


def check_vocabulary_fits(vocab: Vocabulary, config: dict, checkpoint: Path) -> None:
    """A tokenizer with more ids than the model's embeddings would fail at the first such token,
    deep in decoding; say so at once, naming both files."""
    for size, key, what in ((vocab.vocab_size_out, "vocab_size", "output"), (vocab.vocab_size_in, "vocab_size_in", "input")):
        held = config.get(key)
        if isinstance(held, int) and not isinstance(held, bool) and size > held:
            raise MapperInputError(f"{checkpoint / 'tokenizer.json'}: {size} {what} tokens, but the model's "
                                   f"{checkpoint / 'config.json'} has {key} {held}")


def _with_checkpoint_window(profile: Profile, config: dict) -> Profile:
    """The window length follows the checkpoint (its encoder sees src_seq_len / 2 positions)."""
    positions = config.get("max_source_positions")
    if positions and positions * 2 != profile.model.src_seq_len:
        return profile.with_overrides({"model.src_seq_len": int(positions) * 2})
    return profile
