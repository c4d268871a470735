"""Loading checkpoints: a local folder, a hub id or a short name, gamemode sub-models, safetensors only;
and LoRA adapters merged into a loaded model."""

from __future__ import annotations

import os
from pathlib import Path

from tokenization.errors import MapperInputError
from tokenization.small_files import check_regular, read_json

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PICKLED_WEIGHTS = ("pytorch_model.bin", "model.pt", "model.ckpt", "model_ema.pkl")


def resolve_checkpoint(path_or_id: str | os.PathLike, gamemode: int | None = None, download: bool = True) -> Path:
    """The folder holding config.json + model.safetensors (+ tokenizer.json) for this model: a folder,
    a hub id or a short name (v29-v32), as `models.model_source.locate_model` finds it (a hub model
    only from the cache unless `download`)."""
    from models.model_source import locate_model

    path = locate_model(path_or_id, download)
    if not path.is_dir():
        raise MapperInputError(f"{path}: a model is a folder with {CONFIG_FILE} and {WEIGHTS_FILE}")
    if gamemode is not None and (path / f"gamemode={gamemode}" / CONFIG_FILE).exists():
        path = path / f"gamemode={gamemode}"  # a model set with one sub-model per game mode
    if not (path / CONFIG_FILE).exists():
        subs = sorted(p.name for p in path.glob("gamemode=*") if (p / CONFIG_FILE).exists())
        hint = f" (it holds {', '.join(subs)}: choose a game mode)" if subs else ""
        raise MapperInputError(f"{path}: no {CONFIG_FILE}{hint}")
    if not (path / WEIGHTS_FILE).exists():
        pickled = [name for name in PICKLED_WEIGHTS if (path / name).exists()]
        if pickled:
            raise MapperInputError(f"{path}: only pickled weights ({pickled[0]}); mapper loads safetensors only")
        raise MapperInputError(f"{path}: no {WEIGHTS_FILE}")
    check_config_file(path)
    check_regular(path / WEIGHTS_FILE)
    return path


DIFFUSION_MODEL_TYPE = "osu-diffusion"  # diffusion.model.DiffusionConfig's, checked by diffusion.model


def check_config_file(folder: Path) -> dict:
    """config.json's object, read as a small regular file; a Mapperatorinator config's sizes are
    checked here, before a profile, a window or a model is made from them."""
    from models.checkpoint_checks import config_problem

    path = folder / CONFIG_FILE
    data = read_json(path)
    problem = config_problem(data) if data.get("model_type") != DIFFUSION_MODEL_TYPE else None
    if problem:
        raise MapperInputError(f"{path}: {problem}")
    return data


def read_config(folder: Path):
    """The folder's config.json as a MapperatorinatorConfig, read as a small regular file and its
    sizes checked (models.checkpoint_checks) before any model is built from it."""
    from models.checkpoint_checks import config_problem, cut_at_word
    from models.configuration_mapperatorinator import MapperatorinatorConfig

    path = Path(folder) / CONFIG_FILE
    data = read_json(path)
    problem = config_problem(data)
    if problem:
        raise MapperInputError(f"{path}: {problem}")
    try:
        return MapperatorinatorConfig.from_dict(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise MapperInputError(f"{path}: not a Mapperatorinator config ({type(exc).__name__}: "
                               f"{cut_at_word(' '.join(str(exc).split()))})") from None


PRECISIONS = ("fp32", "amp", "int8")


def load_model(path_or_id: str | os.PathLike, device: str = "cpu", *, gamemode: int | None = None,
               precision: str = "fp32"):
    """The model in eval mode on `device`; every weight of the file must match the architecture.
    `precision` "amp" runs the audio encoder under bf16 autocast (the decoder stays fp32); "int8"
    quantises the decoder's per-token layers (models.quantization; CPU only)."""
    if precision not in PRECISIONS:
        raise MapperInputError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    from safetensors.torch import load_file

    from models.checkpoint_checks import check_weights
    from models.modeling_mapperatorinator import Mapperatorinator

    folder = resolve_checkpoint(path_or_id, gamemode)
    config = read_config(folder)
    check_weights(folder / WEIGHTS_FILE, lambda: Mapperatorinator(config), folder / CONFIG_FILE)
    model = Mapperatorinator(config)
    state = load_file(str(folder / WEIGHTS_FILE))
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise MapperInputError(f"{folder}: weights do not fit the architecture (missing: "
                               f"{result.missing_keys[:3]}, unexpected: {result.unexpected_keys[:3]})")
    model.encoder_autocast = precision == "amp"
    if precision == "int8":
        if device != "cpu":
            raise MapperInputError(f"precision int8 runs on the CPU only, not {device}")
        from models.quantization import quantize_decoder

        quantize_decoder(model.eval())
    return model.to(device).eval()


ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
PICKLED_ADAPTER = "adapter_model.bin"
MAX_LORA_RANK = 4096  # a rank beyond the model's width adds nothing; `mapper lora` uses 8-64


def apply_lora(model, adapter: str | Path):
    """Merge a PEFT adapter into `model` (weights changed in place, no adapter at run time). The
    folder is checked first (a config object, safetensors weights present and sound), because peft
    asks the Hugging Face hub for any file it does not find locally."""
    from peft import PeftModel

    from models.checkpoint_checks import weight_shapes

    path = Path(adapter).expanduser().absolute()  # never a name peft could take for a hub id
    if not (path / ADAPTER_CONFIG).exists():
        raise MapperInputError(f"{adapter}: not a LoRA adapter folder (no {ADAPTER_CONFIG})")
    settings = read_json(path / ADAPTER_CONFIG)
    if not isinstance(settings.get("peft_type"), str):
        raise MapperInputError(f"{path / ADAPTER_CONFIG}: no peft_type; not a peft adapter config")
    from models.checkpoint_checks import size_problem

    problem = size_problem(settings, {"r": (1, MAX_LORA_RANK)})  # peft allocates rank x width per layer
    if problem:
        raise MapperInputError(f"{path / ADAPTER_CONFIG}: {problem}")
    if not (path / ADAPTER_WEIGHTS).exists():
        found = " (only pickled weights, adapter_model.bin; mapper loads safetensors only)" \
            if (path / PICKLED_ADAPTER).exists() else ""
        raise MapperInputError(f"{adapter}: no {ADAPTER_WEIGHTS} in the adapter folder{found}")
    weight_shapes(path / ADAPTER_WEIGHTS)  # a regular, sound safetensors file
    try:
        merged = PeftModel.from_pretrained(model, str(path), local_files_only=True).merge_and_unload()
    except (ValueError, RuntimeError, KeyError, TypeError, AttributeError) as exc:
        raise MapperInputError(f"{adapter}: this adapter does not fit the model ({adapter_problem(exc)})") from None
    return merged.eval()


def adapter_problem(exc: Exception) -> str:
    """peft's error in one line: the first mismatched tensor with both shapes, from torch's
    load_state_dict message (one entry per tensor, kilobytes in all), else the message cut at a
    word boundary, never inside a number."""
    import re

    from models.checkpoint_checks import cut_at_word

    text = " ".join(str(exc).split())
    mismatches = re.findall(r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[[^\]]*\])\) "
                            r"from checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)", text)
    if mismatches:
        name, found, wanted = mismatches[0]
        more = f" (and {len(mismatches) - 1} more tensors differ)" if len(mismatches) > 1 else ""
        return f"tensor {name} has shape {found} in the adapter, the model needs {wanted}{more}"
    return cut_at_word(f"{type(exc).__name__}: {text}", 240)
