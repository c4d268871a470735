"""The sequential window sweep of `models.generation.generator`, for several difficulties of one song at once.

Every window is decoded for all difficulties together, one batch row each: the rows share the audio
window (encoded once per window and pass) and the finished contexts (the shared timing), and
differ in their conditioning (star rating) and in what each difficulty has written so far. Prompts,
end tokens, rules and the bookkeeping after a window are the Generator's own (`prompts`, `end_ids`,
`decoder`, `add_window`), so each row is the window the one-difficulty sweep would decode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from models.decoding.batch import DecodeRequest
from models.generation.generator import Generator, InContext
from models.generation.windows import make_windows, select_windows
from tokenization.events import ContextType
from tokenization.prompt import Conditioning


class DifficultyBatch:
    """The sequential sweep with one batch row per conditioning (difficulty) in every window."""

    def run(self, g: Generator, audio: np.ndarray, conditionings: list[Conditioning], passes: list[ContextType], *,
            finished: dict, in_contexts: dict[ContextType, InContext] | None, start_ms: float | None = None,
            end_ms: float | None = None, preload: dict | None = None,
            progress: Callable[[str, int, int], None] | None = None) -> list[dict[ContextType, list]]:
        """Events with absolute times for each pass, per conditioning (in the order given)."""
        if preload:
            raise ValueError("a batch of difficulties starts every pass afresh: nothing is preloaded")
        lookback, lookahead = g.settings.lookback, g.settings.lookahead
        windows = make_windows(audio, g.profile, lookback, lookahead)
        chosen = select_windows(windows.starts_ms, g.window_ms, start_ms, end_ms, lookback, lookahead)
        per = [{c: g.stream(events) for c, events in finished.items()} for _ in conditionings]
        given = g.given_streams(in_contexts)
        encoded: dict[int, torch.Tensor] = {}  # every pass hears the same window: encode it once
        for context in passes:
            for streams in per:
                streams[context] = g.stream([])
            for count, index in enumerate(chosen):
                self._window(g, g.window_frames(windows, index), windows.starts_ms[index], index, count == 0,
                             count == len(chosen) - 1, context, per, conditionings, given, encoded)
                if progress is not None:
                    progress(f"{context.value} x{len(conditionings)}", count + 1, len(chosen))
        return [g.trimmed({c: stream.events for c, stream in streams.items()}, passes, start_ms, end_ms)
                for streams in per]

    @staticmethod
    def _window(g: Generator, frames, start, index, first, last, context, per, conditionings, given,
                encoded) -> None:
        lookback_ms, lookahead_ms = g.zones_ms(first, last)
        end_ids = g.end_ids(context, lookback_ms, lookahead_ms)
        requests, tensors = [], []
        for streams, conditioning in zip(per, conditionings):
            prompt, negative = g.prompts(start, context, streams, conditioning, given)
            requests.append(DecodeRequest(prompt, end_ids, negative))
            tensors.append(g.conditioning_tensors(conditioning, start))
        rooms = [g.room(request) for request in requests]
        room = min(rooms)
        if room <= 0:
            return
        batch = {k: torch.cat([t[k] for t in tensors]) for k in tensors[0]} if tensors[0] else {}
        rows = torch.cat([frames] * len(per))
        if index not in encoded:
            encoded[index] = g.model.encode(rows, **batch)
        results = g.decoder(lookback_ms).run(rows, requests, room, conditioning=batch or None,
                                             encoder_states=encoded[index])
        for row, (result, own) in enumerate(zip(results, rooms)):
            if not result.ended and own > room:
                # The batch stops where its longest prompt leaves no room; a row with a shorter prompt that
                # ran out there is decoded again alone, with the room it would have had (rare: a window
                # normally ends in its lookahead zone long before).
                alone = {k: v[row:row + 1] for k, v in batch.items()} or None
                results[row] = g.decoder(lookback_ms).run(rows[row:row + 1], [requests[row]], own,
                                                          conditioning=alone,
                                                          encoder_states=encoded[index][row:row + 1])[0]
        for streams, request, result in zip(per, requests, results):
            g.record(context.value, index, start, lookback_ms, lookahead_ms, request, result)
            g.add_window(streams[context], result.tokens, context, start, first, last)
