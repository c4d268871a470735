"""Several training processes (`accelerate launch`): who trains on what, and why a step is the same
step whatever the number of processes.

- Shares: beatmap k of a split goes to process k mod N, so the processes draw disjoint windows
  (training) and evaluate each window once between them (evaluation).
- Batch: `--batch-size` counts the samples of one optimizer step in all processes together; each
  process takes its N-th of it.
- Loss: the model's loss is the weighted token mean of its own micro-batch. DDP averages gradients,
  so with N processes each loss is scaled by (its weight / the weight of all processes' tokens) x N:
  the averaged gradient is then that of the weighted mean over the whole global batch, the very
  step one process would take on all the samples at once (tests/test_distributed_training.py).
- A lost process: gloo raises at once when a peer's connection closes; NCCL would wait, so the
  process group gets a timeout; either way the survivors stop with one line.
"""

from __future__ import annotations

from datetime import timedelta

from tokenization.errors import MapperInputError

# A collective that waits this long means a process is gone (a machine down; one process on this
# machine is noticed at once). Long enough for the main process to write a large checkpoint while
# the others wait at the next step.
PROCESS_GROUP_TIMEOUT = timedelta(minutes=10)
COLLECTIVE_FAILURE_MARKERS = ("gloo", "nccl", "connection", "peer", "timed out", "timeout", "socket")


class LostProcess(Exception):
    """Another training process ended (or its machine is unreachable): this one stops too."""


def accelerator_kwargs() -> list:
    from accelerate.utils import DistributedDataParallelKwargs, InitProcessGroupKwargs

    # The Whisper backbone keeps token embeddings the forward never uses (the decoder is fed embeddings
    # made by `decoder_embedder`); DDP must be told, or it waits for their gradients forever.
    return [InitProcessGroupKwargs(timeout=PROCESS_GROUP_TIMEOUT), DistributedDataParallelKwargs(find_unused_parameters=True)]


def share(records: list, index: int, count: int, split: str = "training") -> list:
    """Process `index` of `count`'s beatmaps: every `count`-th, starting at `index`."""
    if count > 1 and len(records) < count:
        raise MapperInputError(f"{count} training processes need at least {count} {split} beatmaps "
                               f"(the dataset's {split} split has {len(records)})")
    return records[index::count]


def per_process_batch(batch_size: int, processes: int) -> int:
    """Samples each process takes of a global batch of `batch_size`."""
    each, rest = divmod(batch_size, processes)
    if rest or not each:
        raise MapperInputError(f"--batch-size {batch_size} does not split evenly over {processes} processes")
    return each


def label_weight(model, labels):
    """The sum of the loss weights of the labelled tokens: what the model's weighted mean divides by."""
    import torch

    from training.examples import IGNORE

    valid = labels != IGNORE
    weight = getattr(getattr(model, "loss_fn", None), "weight", None)
    if weight is None:
        return valid.sum().to(torch.float64)
    return weight.to(labels.device)[labels[valid]].sum().to(torch.float64)


def is_lost_process(exc: BaseException) -> bool:
    """A failed collective: its peer is gone (connection closed, reset) or never answered (timeout)."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(marker in text for marker in COLLECTIVE_FAILURE_MARKERS)


def lost_process_message(index: int, count: int, run_dir) -> str:
    return (f"training process {index} of {count} stopped: another training process ended or cannot be "
            f"reached; the last checkpoint in {run_dir} is kept (continue with --resume, with any number "
            "of processes)")


def process_state(cpu: bool):
    """accelerate's view of this process (index, count, main or not), made before the Accelerator so
    that the run folder can be checked by all and written by one; same process group settings."""
    from accelerate import PartialState
    from accelerate.utils import InitProcessGroupKwargs

    return PartialState(cpu=cpu, **InitProcessGroupKwargs(timeout=PROCESS_GROUP_TIMEOUT).to_kwargs())


def use_cpu(requested: bool) -> bool:
    """accelerate sets up several processes only on an accelerator unless told `cpu`: on a machine
    without a CUDA GPU, `accelerate launch --multi_gpu` then runs gloo processes on the CPU."""
    import os

    if requested or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return requested
    import torch

    return not torch.cuda.is_available()
