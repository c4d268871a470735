"""The published osu-diffusion checkpoint (`model_ema.pkl` + `tokenizer.pkl`, torch pickles) to
our safetensors layout. Pickles can run code when loaded, so they are read only through
`torch.load(weights_only=True)`, which accepts tensors and plain containers and refuses the rest."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import torch

from diffusion.features import ClassVocabulary
from diffusion.loading import VOCABULARY_NAME
from diffusion.model import DiffusionConfig, DiT, save_model
from tokenization.errors import MapperInputError

WEIGHT_FILES = ("model_ema.pkl", "model.pkl", "ema.pt")
HEADS_BY_WIDTH = {384: 6, 768: 12, 1024: 16, 1152: 16}  # the DiT family's sizes
POSITION_FEATURES = 2 * 128


def load_pickle_safely(path: Path):
    """The pickle's tensors and containers; anything else is refused in one line. torch's warnings
    (a pickle protocol it did not write, say) are held back: the refusal, or the result, says it all."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise MapperInputError(f"{path}: refused: this pickle holds more than weights (loading it could run "
                               f"code; {_unpickler_reason(str(exc))})") from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError, TypeError, AttributeError, IndexError,
            UnicodeDecodeError, MemoryError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise MapperInputError(f"{path}: not a torch checkpoint ({type(exc).__name__}: {reason[:120]})") from None


def _unpickler_reason(message: str) -> str:
    """What torch's weights-only unpickler refused ("Trying to load unsupported GLOBAL posix.system
    ..."), without its paragraphs of advice (among them, to load the file unsafely)."""
    advice = ("Weights only load failed", "Please file an issue", "Check the documentation")
    kept = [" ".join(part.split()) for part in re.split(r"\n\s*\n", message)]
    reason = " ".join(part for part in kept if part and not part.startswith(advice)) or kept[0]
    return reason if len(reason) <= 160 else reason[:reason.rfind(" ", 0, 160)] + " ..."


def find_weights(source: Path) -> Path:
    if source.is_file():
        return source
    for name in WEIGHT_FILES:
        if (source / name).is_file():
            return source / name
    found = sorted(source.glob("*.pt")) + sorted(source.glob("*.pkl"))
    found = [p for p in found if p.name != "tokenizer.pkl"]
    if not found:
        raise MapperInputError(f"{source}: no model_ema.pkl (or other .pkl/.pt weights) in it")
    return found[0]


def state_dict_of(loaded) -> dict[str, torch.Tensor]:
    if isinstance(loaded, dict) and "ema" in loaded and isinstance(loaded["ema"], dict):
        loaded = loaded["ema"]  # the standalone project's training checkpoints
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise MapperInputError("the checkpoint is not a state dict of tensors")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in loaded.items()}


def config_from_state(state: dict[str, torch.Tensor], num_heads: int | None = None) -> DiffusionConfig:
    try:
        first = state["xc_embedder.mlp.0.weight"]
        classes = state["y_embedder.mlp.0.weight"]
    except KeyError as missing:
        raise MapperInputError(f"not an osu-diffusion DiT checkpoint (no {missing.args[0]})") from None
    hidden = first.shape[0]
    depth = 1 + max(int(m.group(1)) for k in state if (m := re.match(r"blocks\.(\d+)\.", k)))
    heads = num_heads or HEADS_BY_WIDTH.get(hidden)
    if heads is None:
        raise MapperInputError(f"cannot tell the head count of a {hidden}-wide model; give --num-heads")
    out = state["final_layer.linear.weight"].shape[0]
    return DiffusionConfig(hidden_size=hidden, depth=depth, num_heads=heads, context_size=first.shape[1] - POSITION_FEATURES,
                           class_size=classes.shape[1], learn_sigma=out == 4)


def vocabulary_from_pickle(path: Path) -> ClassVocabulary:
    data = load_pickle_safely(path)
    if not isinstance(data, dict):
        raise MapperInputError(f"{path}: not a diffusion tokenizer state")
    mappers = [int(k) for k, _ in sorted((data.get("mapper_idx") or {}).items(), key=lambda kv: kv[1])]
    descriptors = [str(k) for k, _ in sorted((data.get("descriptor_idx") or {}).items(), key=lambda kv: kv[1])]
    return ClassVocabulary(mappers, descriptors)


def convert(source: Path, out: Path, num_heads: int | None = None) -> Path:
    """Write config.json, model.safetensors and tokenizer.json for `source` into `out`."""
    weights = find_weights(Path(source))
    state = state_dict_of(load_pickle_safely(weights))
    config = config_from_state(state, num_heads)
    model = DiT(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise MapperInputError(f"{weights}: does not match the model ({len(missing)} missing, {len(unexpected)} "
                               f"unexpected weights, e.g. {(missing or unexpected)[0]})")
    tokenizer = weights.parent / "tokenizer.pkl"
    vocabulary = vocabulary_from_pickle(tokenizer) if tokenizer.is_file() else ClassVocabulary()
    if vocabulary.size != config.class_size:
        raise MapperInputError(f"the class vector has {config.class_size} slots but the tokenizer describes "
                               f"{vocabulary.size}")
    out = Path(out)
    if (out / "model.safetensors").exists():
        raise MapperInputError(f"{out} already holds a model (not overwritten)")
    save_model(model, out)
    (out / VOCABULARY_NAME).write_text(json.dumps(vocabulary.to_json(), indent=2) + "\n", encoding="utf-8")
    return out
