"""How a generator's windows are decoded: the `Sweep` strategies `Generator.generate` takes.

The sequential sweep (the original's, here) is the default; side-by-side windows are
models.generation.parallel's `ParallelWindows`, several difficulties per window
models.generation.difficulty_batch's `DifficultyBatch`. A strategy works through the generator's
public methods (prompts, end tokens, decoders, bookkeeping), so each decodes the windows the
sequential sweep would, only grouped differently."""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from models.generation.windows import make_windows, select_windows
from tokenization.events import ContextType, Event
from tokenization.prompt import Conditioning


class Sweep(Protocol):
    """How a generator's windows are decoded: the sequential sweep here, side-by-side windows
    (models.generation.parallel), several difficulties per window (models.generation.difficulty_batch)."""

    def run(self, generator, audio: np.ndarray, conditionings: list[Conditioning],
            passes: list[ContextType], *, finished: dict, in_contexts: dict | None, start_ms: float | None,
            end_ms: float | None, preload: dict, progress) -> list[dict[ContextType, list[Event]]]: ...


class SequentialSweep:
    """The original's sweep: overlapping windows one at a time, each continuing what the last one
    wrote (lookback prefill, lookahead left to the next window); one conditioning after another."""

    def run(self, g, audio, conditionings, passes, *, finished, in_contexts, start_ms, end_ms, preload,
            progress) -> list[dict[ContextType, list[Event]]]:
        lookback, lookahead = g.settings.lookback, g.settings.lookahead
        windows = make_windows(audio, g.profile, lookback, lookahead)
        chosen = select_windows(windows.starts_ms, g.window_ms, start_ms, end_ms, lookback, lookahead)
        results = []
        for conditioning in conditionings:
            streams = {c: g.stream(events) for c, events in finished.items()}
            encoded: dict[int, torch.Tensor] = {}  # encoder states by window index, for this song
            given = g.given_streams(in_contexts)
            for context in passes:
                streams[context] = g.stream(preload.get(context, []))
                for count, index in enumerate(chosen):
                    g.decode_window(g.window_frames(windows, index), windows.starts_ms[index], index, count == 0,
                                    count == len(chosen) - 1, context, streams, conditioning, given, encoded)
                    if progress is not None:
                        progress(context.value, count + 1, len(chosen))
            results.append(g.trimmed({c: stream.events for c, stream in streams.items()}, passes, start_ms, end_ms))
        return results
