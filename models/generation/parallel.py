"""Parallel mode: the song cut into side-by-side windows that are decoded together.

The sequential sweep (models.generation.generator) overlaps windows by 90 % and decodes one at a time, each
continuing what the last one wrote. Here windows do not overlap, nothing is prefilled, and every
window is independent, so whole batches decode at once: about ten times fewer windows, each batch
reading the weights once per step. Each prompt opens the first context still to write, and the
model writes the rest in its trained order (timing, kiai, map, sv, each between its own start and
end tokens) until the end of sequence; each context's tokens are cut out of that. The price is
coherence at window edges (the original's `parallel` mode, reference inference.md §2.10).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from models.decoding.batch import DecodeRequest
from models.generation.generator import Generator, InContext
from models.generation.windows import make_windows, select_windows
from tokenization.events import ContextType, Event
from tokenization.prompt import Conditioning, ContextBlock, build_prompt, negative_conditioning
from tokenization.vocabulary import EOS_ID


class ParallelWindows:
    """The generator's windows side by side, `batch_size` decoder rows at a time (halved with
    guidance, whose negative prompts take a row each), every pass written in one decoding."""

    def __init__(self, batch_size: int = 8):
        self.batch_size = batch_size

    def run(self, g: Generator, audio: np.ndarray, conditionings: list[Conditioning], passes: list[ContextType], *,
            finished: dict, in_contexts: dict[ContextType, InContext] | None, start_ms: float | None,
            end_ms: float | None, preload: dict,
            progress: Callable[[str, int, int], None] | None) -> list[dict[ContextType, list[Event]]]:
        """Events with absolute times for each of `passes`, all written in one decoding per window."""
        if preload:
            raise ValueError("parallel windows do not continue earlier events: nothing is prefilled")
        windows = make_windows(audio, g.profile, 0.0, 0.0)  # stride = the whole window
        chosen = select_windows(windows.starts_ms, g.window_ms, start_ms, end_ms, 0.0, 0.0)
        inputs = g.input_contexts(in_contexts)
        return [g.trimmed(self._one(g, windows, chosen, conditioning, passes, finished, inputs, progress), passes,
                          start_ms, end_ms) for conditioning in conditionings]

    def _one(self, g: Generator, windows, chosen, conditioning, passes, finished, inputs, progress) -> dict:
        contexts = {c: getattr(events, "events", events) for c, events in finished.items()}  # EventLists too
        written: dict[ContextType, list[Event]] = {c: [] for c in passes}
        rows = max(1, self.batch_size // (2 if g.settings.guided else 1))
        label = "+".join(c.value for c in passes)
        for first in range(0, len(chosen), rows):
            batch = chosen[first:first + rows]
            requests = [self._request(g, windows.starts_ms[index], conditioning, passes, contexts, inputs)
                        for index in batch]
            tensors = [g.conditioning_tensors(conditioning, windows.starts_ms[index]) for index in batch]
            room = min(g.room(request) for request in requests)
            if room <= 0:
                continue
            conditioning_batch = {k: torch.cat([t[k] for t in tensors]) for k in tensors[0]} if tensors[0] else None
            frames = torch.cat([g.window_frames(windows, index) for index in batch])
            results = g.decoder(0.0).run(frames, requests, room, conditioning=conditioning_batch)
            for index, request, result in zip(batch, requests, results):
                start = windows.starts_ms[index]
                g.record(label, index, start, 0.0, 0.0, request, result)
                for context, tokens in split_contexts(result.tokens, passes[0], g.vocab).items():
                    if context in written:
                        written[context] += g.tokenizer.to_absolute(g.tokenizer.decode(tokens), start)
            if progress is not None:
                progress(label, min(first + rows, len(chosen)), len(chosen))
        return contexts | written

    @staticmethod
    def _request(g: Generator, start, conditioning, passes, contexts, inputs) -> DecodeRequest:
        """A window's prompt: the finished contexts, then the first pass opened for the model to write."""
        given = [ContextBlock(c, g.window_events(i.events, start), list(i.class_ids)) for c, i in inputs.items()]
        out = [ContextBlock(c, g.window_events(events, start)) for c, events in contexts.items()]
        out.append(ContextBlock(passes[0], [], finished=False))
        prompt = build_prompt(g.vocab, conditioning, window_start_ms=start, in_contexts=given, out_contexts=out)
        negative = (build_prompt(g.vocab, negative_conditioning(conditioning), window_start_ms=start,
                                 in_contexts=given, out_contexts=out) if g.settings.guided else None)
        return DecodeRequest(prompt, frozenset({EOS_ID}), negative)


def split_contexts(tokens: list[int], opened: ContextType, vocab) -> dict[ContextType, list[int]]:
    """The tokens of each context in one window's output: `opened` until its end token, then each
    context between its start and end tokens; stops at the end of sequence. Tokens outside any
    context (a malformed sequence) are dropped."""
    starts = {token: context for context, token in vocab.context_sos.items()}
    ends = set(vocab.context_eos.values())
    current: ContextType | None = opened
    found: dict[ContextType, list[int]] = {opened: []}
    for token in tokens:
        if token == EOS_ID:
            break
        if token in ends:
            current = None
        elif token in starts:
            current = starts[token]
            found.setdefault(current, [])
        elif current is not None:
            found[current].append(token)
    return found
