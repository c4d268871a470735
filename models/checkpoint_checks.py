"""Checks of a model folder's files before anything is allocated from them: the sizes config.json
asks for against limits no real model comes near, the safetensors header (read by the safetensors
library, which maps the file and checks every tensor's extent against it), and every tensor's shape
against the architecture the config describes, built without memory (accelerate's
`init_empty_weights`). A fault is one line naming the file and what is wrong with it.

Why: a config asking for d_model 10^9 or 10^7 layers allocates gigabytes before any check of the
weights; a header claiming 100 GB, or a truncated file, fails deep inside the loader; and
load_state_dict lists every mismatched tensor in one message of many kilobytes.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

from tokenization.errors import MapperInputError
from tokenization.small_files import check_regular, excerpt

# Sizes a Mapperatorinator config may ask for. The published v29 is whisper-small sized (d_model 768,
# 12 + 12 layers, ffn 3072, 388 mel bands, ~4,700 tokens, 1024/2048 positions); the limits are
# whisper-large and beyond, so that no real model is refused while 10^9 is.
MAX_TOKENS = 1_000_000  # vocabulary sizes, token ids
MAX_WIDTH = 16_384  # d_model, cond_dim
MAX_LAYERS = 256
MAX_HEADS = 1_024
MAX_FFN = 131_072
MAX_POSITIONS = 65_536  # encoder and decoder positions
MAX_MELS = 1_024
MAX_FFT = 8_192  # the STFT kernels are n_fft^2 / 2 floats each: 134 MB at this size
MAX_SAMPLE_RATE_HZ = 384_000
MAX_MAPPERS = 1_000_000

_TOP_LIMITS = {  # key: (low, high); a key that is absent takes the configuration's default
    "vocab_size": (1, MAX_TOKENS), "vocab_size_in": (1, MAX_TOKENS), "n_mels": (1, MAX_MELS),
    "n_fft": (2, MAX_FFT), "hop_length": (1, MAX_FFT), "sample_rate": (1_000, MAX_SAMPLE_RATE_HZ),
    "cond_dim": (1, MAX_WIDTH), "cond_size": (0, MAX_WIDTH), "num_mappers": (0, MAX_MAPPERS),
    "rhythm_token_start": (0, MAX_TOKENS), "rhythm_token_end": (0, MAX_TOKENS),
    "max_source_positions": (1, MAX_POSITIONS), "max_target_positions": (1, MAX_POSITIONS),
}
_BACKBONE_LIMITS = {
    "d_model": (1, MAX_WIDTH), "encoder_layers": (0, MAX_LAYERS), "decoder_layers": (1, MAX_LAYERS),
    "encoder_attention_heads": (1, MAX_HEADS), "decoder_attention_heads": (1, MAX_HEADS),
    "encoder_ffn_dim": (1, MAX_FFN), "decoder_ffn_dim": (1, MAX_FFN), "num_mel_bins": (1, MAX_WIDTH),
    "max_source_positions": (1, MAX_POSITIONS), "max_target_positions": (1, MAX_POSITIONS),
    "vocab_size": (1, MAX_TOKENS), "local_attention": (1, MAX_POSITIONS),
    "global_attn_every_n_layers": (1, MAX_LAYERS), "num_hidden_layers": (0, MAX_LAYERS),
}
_FLAGS = ("project_encoder_input", "embed_decoder_input", "do_difficulty_embed", "do_mapper_embed",
          "do_song_position_embed", "do_style_embed", "spectrogram_log_scale")


def size_problem(data: dict, limits: dict[str, tuple[int, int]], prefix: str = "") -> str | None:
    """What is wrong with the first out-of-limits size in `data` ("d_model is 1000000000, above
    16384"), or None."""
    for key, (low, high) in limits.items():
        if key not in data:  # absent: the default; null is not a size
            continue
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
            return f"{prefix}{key} is {_shown(value)}, not a whole number"
        if not low <= value <= high:
            return f"{prefix}{key} is {int(value)}, {'below' if value < low else 'above'} {low if value < low else high}"
    return None


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def config_problem(data: dict) -> str | None:
    """What is wrong with a Mapperatorinator config.json's contents, or None; sizes first, so that
    nothing is built from an absurd one."""
    problem = size_problem(data, _TOP_LIMITS)
    if problem:
        return problem
    backbone = data.get("backbone_config", {})
    if backbone is None:
        backbone = {}
    if not isinstance(backbone, dict):
        return f"backbone_config is {_shown(backbone)}, not an object"
    problem = size_problem(backbone, _BACKBONE_LIMITS, "backbone_config.")
    if problem:
        return problem
    for side in ("encoder", "decoder"):  # WhisperConfig's defaults where absent: 384 wide, 6 heads
        width, heads = backbone.get("d_model", 384), backbone.get(f"{side}_attention_heads", 6)
        if width % heads:
            return f"backbone_config.d_model {width} is not a multiple of {side}_attention_heads {heads}"
    if not isinstance(data.get("mapper_profile") or "", str):
        return f"mapper_profile is {_shown(data['mapper_profile'])}, not a profile name"
    for key in _FLAGS:
        if key in data and not isinstance(data[key], bool):
            return f"{key} is {_shown(data[key])}, not true or false"
    for key in ("f_min", "f_max", "rhythm_weight", "label_smoothing"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], (int, float))):
            return f"{key} is {_shown(data[key])}, not a number"
    if data.get("f_min", 0) > data.get("f_max", math.inf):
        return f"f_min {data['f_min']} is above f_max {data['f_max']}"
    return None


def weight_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape from a safetensors file's header (nothing else is read); one line naming
    the file when it is not a regular file or not a sound safetensors file (truncated, empty, a
    header or tensor extent beyond the file)."""
    from safetensors import safe_open

    size = check_regular(path)
    if size == 0:
        raise MapperInputError(f"{path}: empty (0 bytes); not a safetensors file")
    try:
        with safe_open(str(path), framework="numpy") as weights:
            return {name: tuple(weights.get_slice(name).get_shape()) for name in weights.keys()}
    except Exception as exc:  # noqa: BLE001 - SafetensorError and what the header parser raises
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MapperInputError(f"{path}: not a readable safetensors file ({size} bytes; {cut_at_word(reason)})") from None


def cut_at_word(text: str, limit: int = 160) -> str:
    """`text` cut at a word boundary (never inside a number or name) when longer than `limit`."""
    return excerpt(text, limit)


def shape_problem(expected: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]]) -> str | None:
    """The first difference between the tensors an architecture has and those a file holds:
    a differing shape (which tensor, expected and found), a missing or an unexpected tensor, with
    how many more differ; None when they agree."""
    differing = [name for name in expected if name in found and tuple(found[name]) != tuple(expected[name])]
    missing = [name for name in expected if name not in found]
    unexpected = [name for name in found if name not in expected]
    more = len(differing) + len(missing) + len(unexpected) - 1
    tail = f" (and {more} more tensor{'s' if more > 1 else ''} differ)" if more > 0 else ""
    if differing:
        name = differing[0]
        return (f"tensor {name} has shape {list(found[name])}, but the config asks for "
                f"{list(expected[name])}{tail}")
    if missing:
        return f"tensor {missing[0]} is missing{tail}"
    if unexpected:
        return f"tensor {unexpected[0]} is not part of the model the config describes{tail}"
    return None


def expected_shapes(build: Callable[[], object]) -> dict[str, tuple[int, ...]]:
    """The state-dict shapes of the module `build()` makes, its parameters made without memory."""
    from accelerate import init_empty_weights

    with init_empty_weights():
        skeleton = build()
    return {name: tuple(tensor.shape) for name, tensor in skeleton.state_dict().items()}


def check_weights(weights: Path, build: Callable[[], object], config_path: Path) -> None:
    """Refuse a weights file that does not fit the architecture `build` makes (as config.json at
    `config_path` describes it), before the real model is allocated."""
    found = weight_shapes(weights)
    try:
        wanted = expected_shapes(build)
    except MapperInputError as exc:  # a setting the model's parts refuse (an unknown spectrogram, say)
        if str(config_path) in str(exc):
            raise
        raise MapperInputError(f"{config_path}: {exc}") from None
    except (ValueError, TypeError, KeyError, AttributeError, RuntimeError, ZeroDivisionError) as exc:
        raise MapperInputError(f"{config_path}: describes no model that can be built "
                               f"({type(exc).__name__}: {cut_at_word(' '.join(str(exc).split()))})") from None
    problem = shape_problem(wanted, found)
    if problem:
        raise MapperInputError(f"{weights}: {problem}")
