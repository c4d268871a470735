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
from models.decoding.decoder import Decoder
from models.generation.event_times import trim_events
from models.generation.generator import Generator, InContext
from models.generation.trace import call_record
from models.generation.windows import make_windows, select_windows
from tokenization.events import ContextType, Event
from tokenization.prompt import Conditioning, ContextBlock, build_prompt, negative_conditioning
from tokenization.vocabulary import EOS_ID


def generate_parallel(generator: Generator, audio: np.ndarray, conditioning: Conditioning,
                      passes: list[ContextType], *, finished: dict | None = None,
                      in_contexts: dict[ContextType, InContext] | None = None, start_ms: float | None = None,
                      end_ms: float | None = None, batch_size: int = 8,
                      progress: Callable[[str, int, int], None] | None = None) -> dict[ContextType, list[Event]]:
    """Events with absolute times for each of `passes`, all written in one decoding per window."""
    g = generator
    windows = make_windows(audio, g.profile, 0.0, 0.0)  # stride = the whole window
    chosen = select_windows(windows.starts_ms, g.window_ms, start_ms, end_ms, 0.0, 0.0)
    contexts = {c: getattr(events, "events", events) for c, events in (finished or {}).items()}  # EventLists too
    written: dict[ContextType, list[Event]] = {c: [] for c in passes}
    if in_contexts is None:
        in_contexts = {ContextType(c): InContext() for c in g.profile.inference.in_context
                       if ContextType(c) in g.vocab.context_sos}
    guided = g.settings.guided
    rows = max(1, batch_size // (2 if guided else 1))
    label = "+".join(c.value for c in passes)
    for first in range(0, len(chosen), rows):
        batch = chosen[first:first + rows]
        requests, frames, tensors = [], [], []
        for index in batch:
            start = windows.starts_ms[index]
            given = [ContextBlock(c, g.window_events(i.events, start), list(i.class_ids))
                     for c, i in in_contexts.items()]
            out = [ContextBlock(c, g.window_events(events, start)) for c, events in contexts.items()]
            out.append(ContextBlock(passes[0], [], finished=False))
            prompt = build_prompt(g.vocab, conditioning, window_start_ms=start, in_contexts=given, out_contexts=out)
            negative = (build_prompt(g.vocab, negative_conditioning(conditioning), window_start_ms=start,
                                     in_contexts=given, out_contexts=out) if guided else None)
            requests.append(DecodeRequest(prompt, frozenset({EOS_ID}), negative))
            frames.append(torch.from_numpy(windows.frames(index).copy())[None].to(g.device))
            tensors.append(g.conditioning_tensors(conditioning, start))
        room = g.profile.model.tgt_seq_len - max(max(len(r.prompt), len(r.negative_prompt or [])) for r in requests)
        if room <= 0:
            continue
        conditioning_batch = {k: torch.cat([t[k] for t in tensors]) for k in tensors[0]} if tensors[0] else None
        decoder = Decoder(g.model, rules=g.base_rules(), sampling=g.settings.sampling, cfg_scale=g.settings.cfg_scale)
        results = decoder.run(torch.cat(frames), requests, room, conditioning=conditioning_batch)
        for index, request, result in zip(batch, requests, results):
            g.generated_tokens += len(result.tokens)
            start = windows.starts_ms[index]
            if g.trace is not None:
                g.trace(call_record(label, index, start, 0.0, 0.0, request.prompt, result.tokens, result.ended,
                                    request.negative_prompt))
            for context, tokens in split_contexts(result.tokens, passes[0], g.vocab).items():
                if context in written:
                    written[context] += g.tokenizer.to_absolute(g.tokenizer.decode(tokens), start)
        if progress is not None:
            progress(label, min(first + rows, len(chosen)), len(chosen))
    for context in passes:
        contexts[context] = written[context]
        if start_ms is not None or end_ms is not None:
            contexts[context] = trim_events(contexts[context], g.types_first, start_ms, end_ms)
    return contexts


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
