"""The training loop: examples in, checkpoints and a metrics log out (training.md §3).

One loop serves full training, fine-tuning (`init`) and LoRA: the caller hands over the model,
its vocabulary and how to write its weights. Devices, mixed precision, gradient accumulation and
multi-process runs come from accelerate; step counting, evaluation and checkpoints are ours.
With several processes (`accelerate launch`), see `training.distributed`: shares, global batch,
loss scaling; only the main process logs and writes to the run folder.

Over 300 lines: resuming (the newest checkpoint that loads, metrics of replayed steps forgotten) and
saving (full-disk cleanup) belong to the loop whose state they restore and write.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from tokenization.atomic_files import write_text_atomic
from tokenization.errors import MapperInputError
from tokenization.events import EventType
from training.audio_cache import AudioCache
from training.checkpoint import checkpoints, load_state, save_checkpoint
from training.distributed import (
    LostProcess,
    accelerator_kwargs,
    is_lost_process,
    label_weight,
    lost_process_message,
    per_process_batch,
)
from training.examples import IGNORE, ExampleMaker, Record
from training.loader import eval_batches, train_batches
from training.optim import build_optimizers, build_schedulers

METRICS_FILE = "metrics.jsonl"
FUZZY_STEPS = 2  # timing within ±20 ms


@dataclass
class RunSettings:
    max_steps: int
    batch_size: int  # samples per optimizer step, all processes and accumulation steps together
    grad_accumulation: int
    learning_rate: float
    eval_every: int
    eval_steps: int
    checkpoint_every: int
    precision: str = "no"
    cpu: bool = False
    seed: int = 0
    workers: int = 0  # DataLoader processes making examples; 0 makes them in the training process
    audio_cache: Path | None = None  # folder of decoded songs; None decodes every time


@dataclass
class RunResult:
    step: int
    losses: list[tuple[int, float]]  # (step, training loss over the whole global batch)
    last_eval: dict
    checkpoint: Path | None
    is_main_process: bool = True  # the one that reports; the others stay quiet


class TokenKinds:
    """Which label ids are timing, positions, hitsounds ... for per-kind accuracy."""

    def __init__(self, vocab):
        self.ranges = {}
        for name, kinds in (("timing", [EventType.TIME_SHIFT]), ("position", [EventType.POS, EventType.POS_X,
                            EventType.POS_Y]), ("spacing", [EventType.DISTANCE]), ("hitsound", [EventType.HITSOUND]),
                            ("volume", [EventType.VOLUME]), ("column", [EventType.MANIA_COLUMN]),
                            ("scroll_speed", [EventType.SCROLL_SPEED])):
            ids = [vocab.type_ids(k) for k in kinds if vocab.has(k)]
            if ids:
                self.ranges[name] = ids
        self.shift = vocab.type_ids(EventType.TIME_SHIFT) if vocab.has(EventType.TIME_SHIFT) else range(0)

    def mask(self, labels: torch.Tensor, name: str) -> torch.Tensor:
        m = torch.zeros_like(labels, dtype=torch.bool)
        for r in self.ranges[name]:
            m |= (labels >= r.start) & (labels < r.stop)
        return m


class Trainer:
    def __init__(self, model, vocab, profile, settings: RunSettings, run_dir: Path,
                 write_weights: Callable[[object, Path], None],  # (the unwrapped model, folder)
                 *, log: Callable[[str], None] = print, progress: Callable[[int, int, float], None] | None = None):
        from accelerate import Accelerator
        from accelerate.utils import set_seed

        self.settings = settings
        self.run_dir = run_dir
        self.vocab = vocab
        self.profile = profile
        self.write_weights = write_weights
        self.accelerator = Accelerator(mixed_precision=settings.precision, cpu=settings.cpu,
                                       gradient_accumulation_steps=settings.grad_accumulation,
                                       kwargs_handlers=accelerator_kwargs())
        main = self.accelerator.is_main_process
        self.log = log if main else (lambda message: None)
        self.progress = progress if main else None
        set_seed(settings.seed)
        optimizers = build_optimizers(model, _with_lr(profile.training, settings.learning_rate))
        self.schedulers = build_schedulers(optimizers, profile.training, settings.max_steps, settings.learning_rate)
        prepared = self.accelerator.prepare(model, *optimizers)
        self.model, self.optimizers = prepared[0], list(prepared[1:])
        self.kinds = TokenKinds(vocab)
        self.audio = AudioCache(settings.audio_cache, profile.audio.sample_rate)
        # Pinned host memory lets the copy to the GPU run while the GPU still works on the last step.
        self.pin_memory = self.accelerator.device.type == "cuda"

    def run(self, train_records: list[Record], eval_records: list[Record], *, resume: bool = False,
            batches: Iterator[dict] | None = None) -> RunResult:
        """Train to `max_steps`; `batches` (a generator) replaces the example workers, e.g. to time the loop
        on batches already in memory (bench/train.py)."""
        try:
            return self._run(train_records, eval_records, resume, batches)
        except RuntimeError as exc:
            if self.accelerator.num_processes > 1 and is_lost_process(exc):
                raise LostProcess(lost_process_message(self.accelerator.process_index,
                                                       self.accelerator.num_processes, self.run_dir)) from None
            raise

    def _run(self, train_records, eval_records, resume, batches) -> RunResult:
        s, acc = self.settings, self.accelerator
        micro = max(1, per_process_batch(s.batch_size, acc.num_processes) // s.grad_accumulation)
        step = 0
        if resume and acc.distributed_type.value in ("FSDP", "DEEPSPEED"):
            raise MapperInputError("--resume is not supported under FSDP or DeepSpeed (each process holds a "
                                   "shard of the optimizer state, and checkpoints keep only the main "
                                   "process's); start a new run with --init CHECKPOINT instead")
        if resume and checkpoints(self.run_dir):
            step = self._resume()
            if acc.is_main_process:
                _forget_metrics_after(self.run_dir / METRICS_FILE, step)  # those steps run again
        maker = ExampleMaker(self.profile, self.vocab, train=True, audio=self.audio)
        stream = batches or train_batches(maker, train_records, micro, seed=s.seed, step=step, workers=s.workers,
                                          process=(acc.process_index, acc.num_processes), pin_memory=self.pin_memory)
        losses, last_eval, saved = [], {}, None
        metrics = (self.run_dir / METRICS_FILE).open("a", encoding="utf-8") if acc.is_main_process else None
        self.model.train()
        started, window_loss, window_count = time.perf_counter(), 0.0, 0
        try:
            while step < s.max_steps:
                batch = self._to_device(next(stream))
                with acc.accumulate(self.model):
                    loss = self.model(**batch).loss
                    shown = loss.detach()
                    if acc.num_processes > 1:
                        loss, shown = self._scaled_for_ddp(loss, batch["labels"])
                    acc.backward(loss)
                    grad_norm = acc.clip_grad_norm_(self.model.parameters(), self.profile.training.grad_clip) \
                        if acc.sync_gradients else None
                    for opt in self.optimizers:
                        opt.step()
                        opt.zero_grad()
                window_loss += float(shown)
                window_count += 1
                if not acc.sync_gradients:
                    continue
                for sched in self.schedulers:
                    sched.step()
                step += 1
                mean = window_loss / window_count
                losses.append((step, mean))
                elapsed = time.perf_counter() - started
                record = {"step": step, "loss": round(mean, 6), "lr": self.schedulers[0].get_last_lr()[0],
                          "grad_norm": round(float(grad_norm), 6) if grad_norm is not None else None,
                          "seconds_per_step": round(elapsed, 4), "samples_per_s": round(s.batch_size / elapsed, 3)}
                window_loss, window_count, started = 0.0, 0, time.perf_counter()
                if metrics:
                    metrics.write(json.dumps(record) + "\n")
                    metrics.flush()
                if self.progress:
                    self.progress(step, s.max_steps, mean)
                if s.eval_every and step % s.eval_every == 0 or step == s.max_steps:
                    last_eval = self.evaluate(eval_records)
                    if metrics:
                        metrics.write(json.dumps({"step": step, "split": "eval", **last_eval}) + "\n")
                        metrics.flush()
                    self.model.train()
                if s.checkpoint_every and step % s.checkpoint_every == 0 or step == s.max_steps:
                    saved = self._save(step)
                started = time.perf_counter()
        finally:
            stream.close()  # stops the worker processes
            if metrics:
                metrics.close()
        return RunResult(step, losses, last_eval, saved, acc.is_main_process)

    def _scaled_for_ddp(self, loss: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(what to backpropagate, the loss of the whole global micro-batch): this process's weighted
        token sum over the weight of every process's tokens, times N since DDP averages gradients."""
        acc = self.accelerator
        weight = label_weight(acc.unwrap_model(self.model), labels).to(loss.device)
        totals = acc.reduce(torch.stack([loss.detach().double() * weight, weight]), reduction="sum")
        scaled = loss * (acc.num_processes * weight / totals[1]).to(loss.dtype)
        return scaled, totals[0] / totals[1]

    def _to_device(self, batch: dict) -> dict:
        return {k: v.to(self.accelerator.device, non_blocking=self.pin_memory) for k, v in batch.items()}

    @torch.no_grad()
    def evaluate(self, records: list[Record]) -> dict:
        """Loss and token accuracies over the eval songs' windows (no augmentation), at most `eval_steps`
        batches in all. With N processes each evaluates every N-th eval beatmap and the sums are added
        up, so every window is evaluated once; `windows` counts them per process."""
        acc = self.accelerator
        model = acc.unwrap_model(self.model)  # no DDP: processes may run different numbers of batches
        model.eval()
        maker = ExampleMaker(self.profile, self.vocab, train=False, audio=self.audio)
        micro = max(1, per_process_batch(self.settings.batch_size, acc.num_processes) // self.settings.grad_accumulation)
        names = ["loss", "token_acc", *(f"{name}_acc" for name in self.kinds.ranges)]
        names += ["timing_acc_20ms"] if "timing" in self.kinds.ranges else []
        totals = torch.zeros(len(names), 2, dtype=torch.float64)
        windows = 0
        mine = records[acc.process_index::acc.num_processes]
        most = -(-max(1, self.settings.eval_steps) // acc.num_processes)
        for batch in eval_batches(maker, mine, micro, most, workers=self.settings.workers, pin_memory=self.pin_memory):
            batch = self._to_device(batch)
            out = model(**batch)
            labels = batch["labels"][:, :out.logits.shape[1]]
            predicted = out.logits.argmax(-1)
            valid = labels != IGNORE
            weight = label_weight(model, labels).cpu()  # the model's loss is a weighted token mean
            counted = [(float(out.loss) * weight, weight), self._count(predicted == labels, valid)]
            counted += [self._count(predicted == labels, valid & self.kinds.mask(labels, name))
                        for name in self.kinds.ranges]
            if "timing" in self.kinds.ranges:
                timing = valid & self.kinds.mask(labels, "timing")
                counted.append(self._count((predicted - labels).abs() <= FUZZY_STEPS, timing))
            totals += torch.tensor(counted, dtype=torch.float64)
            windows += len(labels)
        if acc.num_processes > 1:
            totals = acc.reduce(totals.to(acc.device), reduction="sum").cpu()
        per_process = acc.gather(torch.tensor([windows], device=acc.device)).tolist()
        result = {name: round(float(total / count), 6) for name, (total, count) in zip(names, totals.tolist()) if count}
        return {**result, "windows": per_process}

    @staticmethod
    def _count(correct: torch.Tensor, mask: torch.Tensor) -> tuple[int, int]:
        return int((correct & mask).sum()), int(mask.sum())

    def _save(self, step: int) -> Path | None:
        from accelerate.utils import DistributedType

        acc = self.accelerator
        # FSDP and DeepSpeed ZeRO-3 hold a shard of the weights in each process: gathering the full
        # state dict is a collective every process takes part in; the main process then writes it
        # in the published layout. Plain DDP keeps whole weights everywhere: nothing to gather.
        sharded = acc.distributed_type in (DistributedType.FSDP, DistributedType.DEEPSPEED)
        state = acc.get_state_dict(self.model) if sharded else None
        acc.wait_for_everyone()
        if not acc.is_main_process:
            return None
        model = acc.unwrap_model(self.model)
        write = (lambda folder: self.write_weights(model, folder, state)) if sharded else \
            (lambda folder: self.write_weights(model, folder))
        path = save_checkpoint(self.run_dir, step, write, self.optimizers, self.schedulers)
        self.log(f"saved {path}")
        return path

    def _resume(self) -> int:
        """Load the newest checkpoint that reads whole; a damaged one (a crash or a full disk while it
        was copied, say) is passed over for the one before it, with a warning naming both."""
        damaged: list[tuple[str, str]] = []  # (checkpoint, what is wrong with it), newest first
        for folder in reversed(checkpoints(self.run_dir)):
            try:
                self._load_weights(folder)
                step = load_state(folder, self.optimizers, self.schedulers)
            except Exception as exc:  # noqa: BLE001 - safetensors, torch.load and shape errors alike
                damaged.append((folder.name, " ".join(str(exc).split())[:200] or type(exc).__name__))
                continue
            if damaged:
                self.log(f"warning: {damaged[0][0]} is damaged, resumed from {folder.name} instead ("
                         + "; ".join(f"{name}: {why}" for name, why in damaged) + ")")
            self.log(f"resumed from {folder.name} (step {step})")
            return step
        raise MapperInputError(f"{self.run_dir}: no checkpoint can be resumed from ("
                               + "; ".join(f"{name}: {why}" for name, why in damaged) + ")")

    def _load_weights(self, folder: Path) -> None:
        from safetensors.torch import load_file

        model = self.accelerator.unwrap_model(self.model)
        for name in ("model.safetensors", "adapter_model.safetensors"):
            if (folder / name).exists():
                state = load_file(str(folder / name))
                if name.startswith("adapter"):
                    from peft import set_peft_model_state_dict

                    set_peft_model_state_dict(model, state)
                else:
                    model.load_state_dict(state)
                return


def _forget_metrics_after(path: Path, step: int) -> None:
    """Drop the records of steps after `step` (logged before a crash, about to be run again), so that
    metrics.jsonl holds each step once."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        try:
            logged = int(json.loads(line).get("step", 0))
        except (ValueError, TypeError, AttributeError):
            logged = 0  # a half-written last line, or not a record: not a step to keep twice
            if not line.endswith("\n"):
                continue
        if logged <= step:
            kept.append(line if line.endswith("\n") else line + "\n")
    write_text_atomic(path, "".join(kept))


def _with_lr(training, lr: float):
    import dataclasses

    return dataclasses.replace(training, learning_rate=lr)
