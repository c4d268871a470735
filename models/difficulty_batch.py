"""The sequential window sweep of `models.generation`, for several difficulties of one song at once.

Every window is decoded for all difficulties together, one batch row each: the rows share the audio
window (encoded once per window and pass) and the finished contexts (the shared timing), and
differ in their conditioning (star rating) and in what each difficulty has written so far. The
prompt, the end tokens and the commit line are those of `Generator._window`, so each row is the
window the one-difficulty sweep would decode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from models.decoding import Decoder, DecodeRequest
from models.generation import Generator, InContext, event_times, make_windows, select_windows, trim_events
from models.logits_rules import LookbackZone
from tokenization.events import ContextType, Event, EventType
from tokenization.prompt import Conditioning, ContextBlock, build_prompt, negative_conditioning
from tokenization.vocabulary import EOS_ID

E = EventType


def generate_difficulties(g: Generator, audio: np.ndarray, conditionings: list[Conditioning],
                          passes: list[ContextType], *, finished: dict[ContextType, list[Event]],
                          in_contexts: dict[ContextType, InContext] | None, start_ms: float | None = None,
                          end_ms: float | None = None,
                          progress: Callable[[str, int, int], None] | None = None) -> list[dict[ContextType, list]]:
    """Events with absolute times for each pass, per conditioning (in the order given)."""
    lookback, lookahead = g.settings.lookback, g.settings.lookahead
    windows = make_windows(audio, g.profile, lookback, lookahead)
    chosen = select_windows(windows.starts_ms, g.window_ms, start_ms, end_ms, lookback, lookahead)
    per = [dict(finished) for _ in conditionings]
    if in_contexts is None:
        in_contexts = {ContextType(c): InContext() for c in g.profile.inference.in_context
                       if ContextType(c) in g.vocab.context_sos}
    encoded: dict[int, torch.Tensor] = {}  # every pass hears the same window: encode it once
    for context in passes:
        for contexts in per:
            contexts[context] = []
        for count, index in enumerate(chosen):
            start = windows.starts_ms[index]
            last = count == len(chosen) - 1
            frames = torch.from_numpy(windows.frames(index).copy())[None].to(g.device)
            news = _windows(g, frames, start, index, last, context, per, conditionings, in_contexts, encoded)
            for contexts, new in zip(per, news):
                kept = contexts[context] + new
                if not last:  # the next window redoes what lies past the commit line
                    cut = start + (1 - lookahead) * g.window_ms
                    kept = [e for e, t in zip(kept, event_times(kept, g.types_first)) if t <= cut]
                contexts[context] = kept
            if progress is not None:
                progress(f"{context.value} x{len(conditionings)}", count + 1, len(chosen))
        if start_ms is not None or end_ms is not None:
            for contexts in per:
                contexts[context] = trim_events(contexts[context], g.types_first, start_ms, end_ms)
    return per


def _windows(g: Generator, frames, start, index, last, context, per, conditionings, in_contexts,
             encoded) -> list[list[Event]]:
    given = [ContextBlock(c, g.window_events(i.events, start), list(i.class_ids)) for c, i in in_contexts.items()]
    lookback_ms = g.settings.lookback * g.window_ms if index > 0 else 0.0
    lookahead_ms = 0.0 if last else g.settings.lookahead * g.window_ms
    end_ids = {EOS_ID}
    if context in g.vocab.context_eos:
        end_ids.add(g.vocab.context_eos[context])
    steps = g.tokens.time_shift_end - g.tokens.time_shift_start
    if lookahead_ms:
        end_ids.update(g.tokens.time_shift_start + s for s in range(steps - int(lookahead_ms / 10), steps))
    if lookback_ms and g.types_first:
        end_ids.add(g.tokens.time_shift_start)  # the lookback rule's "end instead" token
    requests, tensors = [], []
    for contexts, conditioning in zip(per, conditionings):
        out = [ContextBlock(done, g.window_events(events, start)) for done, events in contexts.items()
               if done is not context]
        out.append(ContextBlock(context, g.window_events(contexts[context], start), finished=False))
        last_kiai = next((e.value for e in reversed(contexts.get(ContextType.KIAI, [])) if e.type is E.KIAI), 0)
        prompt = build_prompt(g.vocab, conditioning, window_start_ms=start, in_contexts=given, out_contexts=out,
                              last_kiai=last_kiai, last_sv=100)
        negative = None
        if g.settings.cfg_scale > 1:
            negative = build_prompt(g.vocab, negative_conditioning(conditioning), window_start_ms=start,
                                    in_contexts=given, out_contexts=out, last_kiai=last_kiai, last_sv=100)
        requests.append(DecodeRequest(prompt, frozenset(end_ids), negative))
        tensors.append(g.conditioning_tensors(conditioning, start))
    rooms = [g.profile.model.tgt_seq_len - max(len(r.prompt), len(r.negative_prompt or [])) for r in requests]
    room = min(rooms)
    if room <= 0:
        return [[] for _ in per]
    def decoder() -> Decoder:  # fresh rules for every decoding, as the one-difficulty sweep has
        rules = g.base_rules()
        if lookback_ms:
            rules.append(LookbackZone(g.tokens, lookback_ms, types_first=g.types_first))
        return Decoder(g.model, rules=rules, sampling=g.settings.sampling, cfg_scale=g.settings.cfg_scale)

    batch = {k: torch.cat([t[k] for t in tensors]) for k in tensors[0]} if tensors[0] else {}
    rows = torch.cat([frames] * len(per))
    if index not in encoded:
        encoded[index] = g.model.encode(rows, **batch)
    results = decoder().run(rows, requests, room, conditioning=batch or None, encoder_states=encoded[index])
    for row, (result, own) in enumerate(zip(results, rooms)):
        if not result.ended and own > room:
            # The batch stops where its longest prompt leaves no room; a row with a shorter prompt that
            # ran out there is decoded again alone, with the room it would have had (rare: a window
            # normally ends in its lookahead zone long before).
            alone = {k: v[row:row + 1] for k, v in batch.items()} or None
            results[row] = decoder().run(rows[row:row + 1], [requests[row]], own, conditioning=alone,
                                       encoder_states=encoded[index][row:row + 1])[0]
    out_events = []
    for result in results:
        g.generated_tokens += len(result.tokens)
        tokens = result.tokens
        if tokens and tokens[-1] in end_ids:
            tokens = tokens[:-1]
            if g.types_first and tokens and tokens[-1] in g.tokens.timed_type_ids:
                tokens = tokens[:-1]  # the type whose time ended the window goes with it
        events = g.tokenizer.to_absolute(g.tokenizer.decode(tokens), start)
        out_events.append([e for e in events if not (e.type is E.TIME_SHIFT and e.value < start)])
    return out_events
