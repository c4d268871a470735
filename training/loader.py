"""Batches for the training loop, made in DataLoader worker processes while the model steps.

Each worker walks this process's songs in its own shuffled order, cuts them into windows, mixes
the windows through a small buffer and collates whole batches, so the main process only receives
finished tensors (one transfer per batch, not per window). All of a worker's randomness comes from
one `random.Random` seeded by (seed, the step the run starts at, process, worker), and the
DataLoader takes batches from its workers in turn, so the batches of a run are a function of
(seed, start step, processes, workers): a run resumed from a checkpoint always gets the same data
from there on (resuming with another `--workers` or another number of processes gives other,
equally valid batches). Process i of N draws only from beatmaps i, i + N, i + 2N ... of the
training split, so no two processes ever train on the same window.

Evaluation is one pass over every window of the eval songs (no augmentation), capped at the
profile's `eval_steps` batches: its cost follows the eval set, not a fixed count.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import sys
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from tokenization.errors import MapperInputError
from training.distributed import share
from training.examples import ExampleMaker, Record, collate

SHUFFLE_BUFFER = 64  # windows mixed across songs before batching
PREFETCH_BATCHES = 2  # batches each worker keeps ready


def default_workers(processes: int = 1) -> int:
    """Worker processes per training process: the CPUs left once each training process has one."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus // max(1, processes) - 1)


MAX_EMPTY_EPOCHS = 100


def example_stream(maker: ExampleMaker, records: list[Record], rng: random.Random) -> Iterator:
    """Endless windows: songs shuffled every epoch, windows shuffled through a small buffer."""
    by_set: dict[int, list[Record]] = {}
    for r in records:
        by_set.setdefault(r.set_id, []).append(r)
    buffer = []
    empty_epochs = 0
    while True:
        order = list(records)
        rng.shuffle(order)
        made = failed = 0
        for record in order:
            try:
                windows = list(maker.examples(record, rng, by_set[record.set_id]))
            except Exception as exc:  # noqa: BLE001 - one unreadable song must not end a long run
                print(f"skipping {record.beatmap_path.name}: {exc}", file=sys.stderr, flush=True)
                failed += 1
                continue
            made += len(windows)
            buffer.extend(windows)
            while len(buffer) >= SHUFFLE_BUFFER:
                yield buffer.pop(rng.randrange(len(buffer)))
        # Without these, a dataset of unreadable songs would spin forever. An epoch of a tiny dataset
        # can draw no window at all (augmentation), so only many empty epochs in a row count.
        if failed == len(order):
            raise MapperInputError("no training song could be read (see the lines above)")
        empty_epochs = 0 if made else empty_epochs + 1
        if empty_epochs >= MAX_EMPTY_EPOCHS:
            raise MapperInputError(f"no training window in {MAX_EMPTY_EPOCHS} passes over the songs")
        rng.shuffle(buffer)
        while buffer:
            yield buffer.pop()


class TrainBatches(IterableDataset):
    """Endless collated batches; in a DataLoader, each worker makes its own."""

    def __init__(self, maker: ExampleMaker, records: list[Record], batch_size: int, stream: str):
        self.maker, self.records, self.batch_size, self.stream = maker, records, batch_size, stream

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        rng = random.Random(f"{self.stream}:{info.id if info else 0}")  # str seeds are stable across runs
        examples = example_stream(self.maker, self.records, rng)
        while True:
            yield collate([next(examples) for _ in range(self.batch_size)])


def train_batches(maker: ExampleMaker, records: list[Record], batch_size: int, *, seed: int, step: int,
                  process: tuple[int, int] = (0, 1), workers: int = 0, pin_memory: bool = False) -> Iterator[dict]:
    """Batches for a run that starts (or resumes) at `step`, for process `index` of `count`, which draws
    only from its share of the beatmaps (`training.distributed.share`)."""
    index, count = process
    mine = share(records, index, count)
    dataset = TrainBatches(maker, mine, batch_size, f"{seed}:{step}:{index}")
    loader = DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                        prefetch_factor=PREFETCH_BATCHES if workers else None,
                        generator=torch.Generator().manual_seed(seed))  # leaves the global RNG alone
    return _plain_errors(iter(loader))


class EvalBatches(IterableDataset):
    """One pass over every window of the eval songs, in order; in a DataLoader each worker takes every
    n-th song."""

    def __init__(self, maker: ExampleMaker, records: list[Record], batch_size: int):
        self.maker, self.records, self.batch_size = maker, records, batch_size

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        index, count = (info.id, info.num_workers) if info else (0, 1)
        by_set: dict[int, list[Record]] = {}
        for r in self.records:
            by_set.setdefault(r.set_id, []).append(r)
        rng, buffer = random.Random(0), []  # eval examples are not augmented; only the recipe draw is random
        for record in self.records[index::count]:
            try:
                buffer.extend(self.maker.examples(record, rng, by_set[record.set_id]))
            except Exception as exc:  # noqa: BLE001 - as in training: report and go on
                print(f"skipping {record.beatmap_path.name}: {exc}", file=sys.stderr, flush=True)
            while len(buffer) >= self.batch_size:
                yield collate(buffer[:self.batch_size])
                buffer = buffer[self.batch_size:]
        if buffer:
            yield collate(buffer)


def eval_batches(maker: ExampleMaker, records: list[Record], batch_size: int, max_batches: int, *,
                 workers: int = 0, pin_memory: bool = False) -> Iterator[dict]:
    """Every window of the eval songs once, as at most `max_batches` batches (then the workers stop)."""
    workers = min(workers, len(records))
    loader = DataLoader(EvalBatches(maker, records, batch_size), batch_size=None, num_workers=workers,
                        pin_memory=pin_memory, prefetch_factor=PREFETCH_BATCHES if workers else None)
    return _plain_errors(itertools.islice(iter(loader), max_batches))


def _plain_errors(batches: Iterator[dict]) -> Iterator[dict]:
    """A worker's MapperInputError as one line, not the DataLoader's wrapped traceback."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except MapperInputError as exc:
            message = str(exc)
            if "Original Traceback" in message:  # raised in a worker: the last line is "module.Class: message"
                message = re.sub(r"^[\w.]+: ", "", message.strip().splitlines()[-1])
            raise MapperInputError(message) from None
        yield batch
