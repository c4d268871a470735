"""Loading checkpoints: a local folder, a hub id or a short name, gamemode sub-models, safetensors only;
and LoRA adapters merged into a loaded model."""

from __future__ import annotations

import os
from pathlib import Path

from tokenization.errors import MapperInputError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
PICKLED_WEIGHTS = ("pytorch_model.bin", "model.pt", "model.ckpt", "model_ema.pkl")


def resolve_checkpoint(path_or_id: str | os.PathLike, gamemode: int | None = None) -> Path:
    """The folder holding config.json + model.safetensors (+ tokenizer.json) for this model: a folder,
    a hub id or a short name (v29-v32), as `models.model_source.locate_model` finds it."""
    from models.model_source import locate_model

    path = locate_model(path_or_id)
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
    return path


PRECISIONS = ("fp32", "amp", "int8")


def load_model(path_or_id: str | os.PathLike, device: str = "cpu", *, gamemode: int | None = None,
               precision: str = "fp32"):
    """The model in eval mode on `device`; every weight of the file must match the architecture.
    `precision` "amp" runs the audio encoder under bf16 autocast (the decoder stays fp32); "int8"
    quantises the decoder's per-token layers (models.quantization; CPU only)."""
    if precision not in PRECISIONS:
        raise MapperInputError(f"precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    from safetensors.torch import load_file

    from models.configuration_mapperatorinator import MapperatorinatorConfig
    from models.modeling_mapperatorinator import Mapperatorinator

    folder = resolve_checkpoint(path_or_id, gamemode)
    config = MapperatorinatorConfig.from_pretrained(folder)
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


def apply_lora(model, adapter: str | Path):
    """Merge a PEFT adapter into `model` (weights changed in place, no adapter at run time)."""
    from peft import PeftModel

    path = Path(adapter)
    if not (path / "adapter_config.json").exists():
        raise MapperInputError(f"{adapter}: not a LoRA adapter folder (no adapter_config.json)")
    try:
        merged = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError) as exc:
        raise MapperInputError(f"{adapter}: this adapter does not fit the model ({' '.join(str(exc).split())[:200]})") from None
    return merged.eval()
