"""Typed profile settings, loaded from YAML and validated once.

A profile describes one model version end to end: how beatmaps become tokens, the audio front
end, the model's shape, inference defaults, training and LoRA defaults. Every key is checked:
an unknown key, a wrong type or a value out of range is an error naming the key's path.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from profiles.limits import LIMITS, PROFILE_INFERENCE
from profiles.limits import problem as limit_problem
from tokenization.errors import MapperInputError
from tokenization.settings import TokenizerSettings

PROFILE_DIR = Path(__file__).resolve().parent
CONTEXT_NAMES = ("none", "timing", "no_hs", "gd", "map", "kiai", "sv")


@dataclass(frozen=True)
class AudioSettings:
    sample_rate: int = 16000  # Hz
    n_fft: int = 1024  # samples
    hop_length: int = 128  # samples per spectrogram frame
    n_mels: int = 388
    f_min: float = 0.0  # Hz
    f_max: float = 8000.0  # Hz
    pad_mode: str = "constant"
    implementation: str = "nnAudio"  # or "torchaudio"
    log_scale: bool = False


@dataclass(frozen=True)
class ModelSettings:
    family: str = "whisper"  # whisper | rope_whisper | varwhisper
    d_model: int = 768
    encoder_layers: int = 12
    decoder_layers: int = 12
    attention_heads: int = 12
    ffn_dim: int = 3072
    src_seq_len: int = 1024  # spectrogram frames per window
    tgt_seq_len: int = 2048  # decoder tokens per window
    project_encoder_input: bool = True
    difficulty_embedding: bool = False
    mapper_embedding: bool = False
    song_position_embedding: bool = False
    cond_dim: int = 128
    rhythm_weight: float = 3.0  # loss weight of time-shift tokens
    label_smoothing: float = 0.0
    dropout: float = 0.0


@dataclass(frozen=True)
class ContextTemplate:
    inputs: tuple[str, ...] = ("none",)
    outputs: tuple[str, ...] = ("map",)
    weight: float = 1.0  # how often training draws this recipe, relative to the others
    # outputs given whole rather than learned: their tokens stay in the sequence, in their place among the
    # outputs, but carry no loss, as generation gives a finished context (timing heard in the audio, --bpm)
    given: tuple[str, ...] = ()


@dataclass(frozen=True)
class InferenceSettings:
    version_name: str = "mapper"
    in_context: tuple[str, ...] = ("none",)
    output_type: tuple[str, ...] = ("map",)
    temperature: float = 0.9
    timing_temperature: float = 0.1
    mania_column_temperature: float = 0.5
    taiko_hit_temperature: float = 0.5
    top_p: float = 0.9
    top_k: int = 0
    cfg_scale: float = 1.0
    timeshift_bias: float = 0.0
    lookback: float = 0.5  # share of each window prefilled from earlier windows
    lookahead: float = 0.4  # share of each window left to the next one
    kiai_prompt_token: bool = False  # the prompt's last-kiai token says the kiai state before the window (v31)
    timing_leniency: float = 20.0  # ms
    super_timing: bool = False
    timer_iterations: int = 20
    timer_bpm_threshold: float = 0.1
    resnap_events: bool = True
    snap_near_perfect_overlaps: bool = True
    generate_positions: bool = False  # diffusion refinement of positions
    max_batch_size: int = 16


@dataclass(frozen=True)
class TrainingSettings:
    optimizer: str = "adamw"  # adamw | adamwscale | muon
    learning_rate: float = 1e-3
    learning_rate_2: float = 1e-3  # muon's Adam branch
    weight_decay: float = 0.0
    batch_size: int = 8  # per device, after accumulation
    grad_accumulation: int = 1
    max_steps: int = 1000
    warmup_steps: int = 0
    sustain_steps: int = 0
    schedule: str = "cosine"  # cosine | linear | constant
    final_learning_rate: float = 1e-5
    grad_clip: float = 1.0
    precision: str = "no"  # no | bf16 | fp16
    eval_every: int = 100
    eval_steps: int = 10
    checkpoint_every: int = 200
    metadata_dropout: float = 0.2  # chance each prompt class token is replaced by "unknown"
    time_jitter_ms: float = 0.0
    speed_augment: tuple[float, float] = (1.0, 1.0)  # DT augmentation range
    speed_augment_probability: float = 0.0
    frame_offset_augment: bool = True
    lookback: float = 0.0  # share of a window whose events are given, not predicted
    lookback_probability: float = 0.0
    lookahead: float = 0.0  # share at a window's end left without events to predict
    seed: int = 0


@dataclass(frozen=True)
class LoraSettings:
    r: int = 32
    alpha: int = 64
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "out_proj")
    learning_rate: float = 4e-4
    max_steps: int = 1000


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    tokenizer: TokenizerSettings = field(default_factory=TokenizerSettings)
    audio: AudioSettings = field(default_factory=AudioSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    templates: tuple[ContextTemplate, ...] = (ContextTemplate(),)
    inference: InferenceSettings = field(default_factory=InferenceSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    lora: LoraSettings = field(default_factory=LoraSettings)

    @property
    def window_ms(self) -> float:
        return (self.model.src_seq_len - 1) * self.audio.hop_length * 1000 / self.audio.sample_rate

    def with_overrides(self, overrides: dict) -> Profile:
        """A copy with `{"inference.top_p": 0.8, ...}` (or nested dicts) applied and validated."""
        data = _to_plain(self)
        for key, value in _flatten(overrides).items():
            target = data
            parts = key.split(".")
            for part in parts[:-1]:
                if not isinstance(target.get(part), dict):
                    raise MapperInputError(f"{self.name}: unknown setting {key}")
                target = target[part]
            if parts[-1] not in target:
                raise MapperInputError(f"{self.name}: unknown setting {key}")
            target[parts[-1]] = value
        return profile_from_dict(data, source=self.name)


# -- loading ---------------------------------------------------------------------------------
# Inference defaults are generation quantities: their ranges are the generate options' (profiles.limits).
_RULES: dict[str, typing.Callable[[object], str | None]] = {
    **{f"inference.{name}": (lambda v, quantity=PROFILE_INFERENCE.get(name, name): limit_problem(quantity, v))
       for name in (f.name for f in dataclasses.fields(InferenceSettings))
       if PROFILE_INFERENCE.get(name, name) in LIMITS},
    "model.src_seq_len": lambda v: None if v >= 16 else "must be at least 16",
    "model.d_model": lambda v: None if v > 0 else "must be positive",
    "audio.implementation": lambda v: None if v in ("nnAudio", "torchaudio") else "must be nnAudio or torchaudio",
    "model.family": lambda v: None if v in ("whisper", "rope_whisper", "varwhisper") else
    "must be whisper, rope_whisper or varwhisper",
    "training.optimizer": lambda v: None if v in ("adamw", "adamwscale", "muon") else "must be adamw, adamwscale or muon",
    "training.schedule": lambda v: None if v in ("cosine", "linear", "constant") else "must be cosine, linear or constant",
    "training.precision": lambda v: None if v in ("no", "bf16", "fp16") else "must be no, bf16 or fp16",
    "lora.r": lambda v: None if v > 0 else "must be positive",
    "training.lookback": lambda v: None if 0 <= v < 1 else "must be in [0, 1)",
    "training.lookahead": lambda v: None if 0 <= v < 1 else "must be in [0, 1)",
    "training.batch_size": lambda v: None if v > 0 else "must be positive",
    "training.grad_accumulation": lambda v: None if v > 0 else "must be positive",
}


def _check_value(path: str, value, annotation, source: str):
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _check_value(path, value, inner[0], source)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise MapperInputError(f"{source}: {path}: must be a list")
        item = args[0] if args and (len(args) == 2 and args[1] is Ellipsis or len(set(args)) == 1) else None
        if item is not None:
            return tuple(_check_value(f"{path}[{i}]", v, item, source) for i, v in enumerate(value))
        if len(value) != len(args):
            raise MapperInputError(f"{source}: {path}: must have {len(args)} items")
        return tuple(_check_value(f"{path}[{i}]", v, a, source) for i, (v, a) in enumerate(zip(value, args)))
    if annotation is bool:
        if not isinstance(value, bool):
            raise MapperInputError(f"{source}: {path}: must be true or false")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise MapperInputError(f"{source}: {path}: must be an integer")
        return value
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MapperInputError(f"{source}: {path}: must be a number")
        return float(value)
    if annotation is str:
        if not isinstance(value, str):
            raise MapperInputError(f"{source}: {path}: must be text")
        return value
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, path, source)
    return value


def _build(cls, data, path: str, source: str):
    if not isinstance(data, dict):
        raise MapperInputError(f"{source}: {path or 'profile'}: must be a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        where = f"{path}." if path else ""
        raise MapperInputError(f"{source}: unknown setting {where}{unknown[0]}")
    values = {}
    for name, value in data.items():
        key = f"{path}.{name}" if path else name
        checked = _check_value(key, value, hints[name], source)
        rule = _RULES.get(key)
        if rule is not None and (problem := rule(checked)) is not None:
            raise MapperInputError(f"{source}: {key}: {problem}")
        values[name] = checked
    return cls(**values)


def profile_from_dict(data: dict, source: str = "profile") -> Profile:
    data = dict(data)
    data.setdefault("name", Path(source).stem)
    tokenizer = dict(data.pop("tokenizer", {}) or {})
    templates = data.pop("templates", None)
    profile = _build(Profile, data, "", source)
    for key in ("src_seq_len", "hop_length", "sample_rate"):
        if key in tokenizer:
            raise MapperInputError(f"{source}: tokenizer.{key}: set it in model/audio, not in tokenizer")
    tokenizer.update(src_seq_len=profile.model.src_seq_len, hop_length=profile.audio.hop_length,
                     sample_rate=profile.audio.sample_rate)
    tokenizer_settings = _build(TokenizerSettings, tokenizer, "tokenizer", source)
    parsed_templates = tuple(_build(ContextTemplate, t, f"templates[{i}]", source)
                             for i, t in enumerate(templates or [{}]))
    for i, template in enumerate(parsed_templates):
        for name in template.inputs + template.outputs:
            if name not in CONTEXT_NAMES:
                raise MapperInputError(f"{source}: templates[{i}]: unknown context {name!r}")
        for name in template.given:
            if name not in template.outputs:
                raise MapperInputError(f"{source}: templates[{i}]: given context {name!r} is not one of its outputs")
    for key in ("in_context", "output_type"):
        for name in getattr(profile.inference, key):
            if name not in CONTEXT_NAMES:
                raise MapperInputError(f"{source}: inference.{key}: unknown context {name!r}")
    return dataclasses.replace(profile, tokenizer=tokenizer_settings, templates=parsed_templates)


def profile_to_dict(profile: Profile) -> dict:
    """Plain data (JSON/YAML-ready) that `profile_from_dict` turns back into the same profile."""
    return _to_plain(profile)


def _to_plain(obj):
    if dataclasses.is_dataclass(obj):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if not (isinstance(obj, TokenizerSettings) and f.name in ("src_seq_len", "hop_length", "sample_rate"))}
    if isinstance(obj, tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (`v29`), or a YAML file by path."""
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise MapperInputError(f"unknown profile {name_or_path!r} (available: {', '.join(list_profiles())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise MapperInputError(f"{path}: no such profile file") from None
    except yaml.YAMLError as exc:
        raise MapperInputError(f"{path.name}: not valid YAML ({' '.join(str(exc).split())})") from None
    return profile_from_dict(data, source=path.name)
