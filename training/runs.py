"""What `mapper train` and `mapper lora` do: pick the model and data, run the loop, publish.

A finished full run leaves its final weights in the run folder itself (config.json,
model.safetensors, tokenizer.json), so `mapper generate --model RUN_DIR` works; a LoRA run
leaves the standard PEFT adapter files in its output folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from profiles.detect import save_profile
from profiles.settings import Profile
from tokenization.errors import MapperInputError
from training.checkpoint import MODEL_FILES, checkpoints, replace_folder, save_published
from training.examples import read_records, split_records
from training.trainer import RunResult, RunSettings, Trainer

LORA_METADATA_FILE = "mapperatorinator_lora_metadata.json"


@dataclasses.dataclass
class TrainOptions:
    data_dir: Path
    out_dir: Path
    max_steps: int | None = None
    resume: bool = False
    init: str | None = None  # checkpoint to fine-tune from
    precision: str | None = None
    cpu: bool = False
    batch_size: int | None = None
    learning_rate: float | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    workers: int | None = None  # example-making processes; None: from the CPU count


def default_precision(requested: str | None, cpu: bool) -> str:
    """bf16 autocast on a CUDA GPU unless asked otherwise; full precision on the CPU."""
    if requested is not None:
        return requested
    import torch

    return "bf16" if not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def _settings(profile: Profile, options: TrainOptions, *, max_steps: int, lr: float) -> RunSettings:
    from training.audio_cache import CACHE_DIR_NAME
    from training.distributed import use_cpu
    from training.loader import default_workers

    t = profile.training
    precision = default_precision(options.precision, options.cpu)
    workers = options.workers if options.workers is not None else default_workers(
        int(os.environ.get("LOCAL_WORLD_SIZE", "1")))  # set by `accelerate launch` for each process
    batch = options.batch_size or t.batch_size
    return RunSettings(
        max_steps=options.max_steps or max_steps, batch_size=batch,
        grad_accumulation=min(t.grad_accumulation, batch), learning_rate=options.learning_rate or lr,
        eval_every=options.eval_every if options.eval_every is not None else t.eval_every,
        eval_steps=t.eval_steps, checkpoint_every=options.checkpoint_every if options.checkpoint_every is not None
        else t.checkpoint_every, precision=precision, cpu=use_cpu(options.cpu), seed=t.seed, workers=workers,
        audio_cache=options.data_dir / CACHE_DIR_NAME)


def _records(profile: Profile, data_dir: Path):
    if not (data_dir / "metadata.parquet").exists():
        raise MapperInputError(f"{data_dir}: no metadata.parquet (build a dataset with `mapper dataset build`)")
    records = read_records(data_dir, tuple(profile.tokenizer.gamemodes))
    if not records:
        raise MapperInputError(f"{data_dir}: no beatmaps of the game modes the {profile.name} profile trains")
    return records


def new_vocabulary(profile: Profile, records):
    from tokenization.vocabulary import build_vocabulary

    mappers: dict[int, int] = {}
    descriptors: dict[str, int] = {}
    for r in records:
        if r.mapper_id is not None:
            mappers.setdefault(r.mapper_id, len(mappers))
        for d in r.descriptors:
            descriptors.setdefault(d, len(descriptors))
    templates = [(list(t.inputs), list(t.outputs)) for t in profile.templates]
    return build_vocabulary(profile.tokenizer, templates, mapper_idx=mappers, descriptor_idx=descriptors)


def _run_dir(options: TrainOptions, processes) -> Path:
    """The run folder, checked by every training process before the main process creates it."""
    out = options.out_dir
    if out.exists() and any(out.iterdir()) and not options.resume:
        raise MapperInputError(f"{out}: not empty; pass --resume to continue that run or choose a new folder")
    processes.wait_for_everyone()
    if processes.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
    processes.wait_for_everyone()
    return out


def train_model(profile: Profile, options: TrainOptions, *, log: Callable[[str], None] = print,
                progress=None) -> RunResult:
    """Full training (or fine-tuning with `init`) of a profile's model on an MMRS dataset."""
    from models.factory import build_config
    from models.loading import load_model, resolve_checkpoint
    from models.modeling_mapperatorinator import Mapperatorinator
    from tokenization.vocabulary import Vocabulary
    from training.distributed import process_state, use_cpu

    records = _records(profile, options.data_dir)
    processes = process_state(use_cpu(options.cpu))
    log = log if processes.is_main_process else (lambda message: None)
    run_dir = _run_dir(options, processes)
    if options.resume and checkpoints(run_dir):
        vocab, model = _newest_loadable(run_dir)  # the trainer then resumes from it, saying which and why
    elif options.init:
        folder = resolve_checkpoint(options.init)
        vocab = Vocabulary.load(folder)
        model = load_model(folder)
    else:
        vocab = new_vocabulary(profile, records)
        import torch

        torch.manual_seed(profile.training.seed)  # the same profile and data give the same run
        model = Mapperatorinator(build_config(profile, vocab))
    model.train()
    if processes.is_main_process:
        save_profile(profile, run_dir)  # readable before the first checkpoint, e.g. by `mapper dataset tokens`
    settings = _settings(profile, options, max_steps=profile.training.max_steps, lr=profile.training.learning_rate)
    train, held = split_records(records)
    log(f"training {profile.name}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, "
        f"{len(train)} training and {len(held)} eval beatmaps, {settings.max_steps} steps, "
        f"{settings.workers} example workers, precision {settings.precision}"
        + (f", {processes.num_processes} processes" if processes.num_processes > 1 else ""))
    trainer = Trainer(model, vocab, profile, settings, run_dir,
                      lambda m, folder, state=None: save_published(m, vocab, folder, profile, state=state),
                      log=log, progress=progress)
    result = trainer.run(train, held, resume=options.resume)
    if trainer.accelerator.is_main_process and result.step >= settings.max_steps:
        final = checkpoints(run_dir)[-1]
        for name in MODEL_FILES:  # the run folder is itself a model
            tmp = run_dir / f".{name}.partial"
            shutil.copyfile(final / name, tmp)
            tmp.replace(run_dir / name)
    return result


def _newest_loadable(run_dir: Path):
    """Vocabulary and model of the newest checkpoint that loads (a damaged newest one is passed over)."""
    from models.loading import load_model
    from tokenization.vocabulary import Vocabulary

    problems = []
    for folder in reversed(checkpoints(run_dir)):
        try:
            return Vocabulary.load(folder), load_model(folder)
        except Exception as exc:  # noqa: BLE001 - whatever a damaged file raises
            problems.append(f"{folder.name}: {' '.join(str(exc).split())[:200] or type(exc).__name__}")
    raise MapperInputError(f"{run_dir}: no checkpoint can be resumed from ({'; '.join(problems)})")


def train_lora(profile: Profile, base: str, options: TrainOptions, *, log: Callable[[str], None] = print,
               progress=None) -> RunResult:
    """A PEFT LoRA adapter on `base`; only the adapter weights train. Writes the adapter to out_dir."""
    from peft import LoraConfig, get_peft_model

    from models.loading import load_model, resolve_checkpoint
    from tokenization.vocabulary import Vocabulary
    from training.distributed import process_state, use_cpu

    records = _records(profile, options.data_dir)
    processes = process_state(use_cpu(options.cpu))
    log = log if processes.is_main_process else (lambda message: None)
    run_dir = _run_dir(options, processes)
    folder = resolve_checkpoint(base)
    vocab = Vocabulary.load(folder)
    model = load_model(folder)
    lora = profile.lora
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                        target_modules=list(lora.target_modules), bias="none")
    model = get_peft_model(model, config)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    log(f"LoRA r={lora.r} on {folder.name}: {trainable:,} trainable of {total:,} parameters "
        f"({100 * trainable / total:.2f} %)")
    profile = dataclasses.replace(profile, training=dataclasses.replace(profile.training, warmup_steps=0,
                                                                         sustain_steps=0))
    settings = _settings(profile, options, max_steps=lora.max_steps, lr=lora.learning_rate)
    train, held = split_records(records)
    trainer = Trainer(model, vocab, profile, settings, run_dir, _write_adapter, log=log, progress=progress)
    result = trainer.run(train, held, resume=options.resume)
    if trainer.accelerator.is_main_process and result.step >= settings.max_steps:
        final = checkpoints(run_dir)[-1]
        for name in ("adapter_config.json", "adapter_model.safetensors", LORA_METADATA_FILE):
            tmp = run_dir / f".{name}.partial"
            shutil.copyfile(final / name, tmp)
            tmp.replace(run_dir / name)
    return result


def _write_adapter(model, folder: Path, state: dict | None = None) -> None:
    """`state`: the full state dict gathered from FSDP/DeepSpeed shards; peft picks the adapter out."""
    partial = folder / "adapter.partial"
    model.save_pretrained(str(partial), safe_serialization=True, state_dict=state)
    for item in partial.iterdir():
        item.replace(folder / item.name)
    partial.rmdir()
    (folder / LORA_METADATA_FILE).write_text(json.dumps({"ckpt_subfolders": None, "format_version": 1},
                                                        indent=2, sort_keys=True) + "\n")


__all__ = ["TrainOptions", "train_model", "train_lora", "new_vocabulary", "replace_folder"]
