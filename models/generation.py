"""Sequential windowed generation: audio in, event streams per context out.

Each pass (timing, kiai, map, ...) sweeps over overlapping audio windows. A window's prompt holds
the metadata prefix, the finished contexts of that window and, for the context being written,
the events earlier windows already placed in it (the "lookback" prefill). The model continues the
open context; a time token in the lookahead zone (the window's last 40 %) ends it, and what it
wrote past the commit line is dropped for the next window to redo with more audio ahead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from models.decoding import Decoder, DecodeRequest, SamplingSettings
from models.logits_rules import LookbackZone, MonotonicTime, RuleTokens, Temperature, TimeShiftBias
from profiles.settings import Profile
from tokenization.events import BEAT_TYPES, TIMED_TYPES, TYPE_TOKENS, ContextType, Event, EventType
from tokenization.prompt import Conditioning, ContextBlock, build_prompt, negative_conditioning
from tokenization.tokenizer import Tokenizer
from tokenization.vocabulary import EOS_ID, Vocabulary

E = EventType


@dataclass
class GenerationSettings:
    temperature: float = 0.9
    timing_temperature: float = 0.1
    mania_column_temperature: float = 0.5
    taiko_hit_temperature: float = 0.5
    timeshift_bias: float = 0.0
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    cfg_scale: float = 1.0
    lookback: float = 0.5  # share of each window prefilled from earlier windows
    lookahead: float = 0.4  # share at each window's end left to the next window


@dataclass
class Windows:
    """Window layout over a song: fixed length, sliding by a stride, zero-padded at the end."""

    samples: int  # per window
    stride: int  # samples between window starts
    starts_ms: list[int]
    audio: np.ndarray  # padded

    def frames(self, index: int) -> np.ndarray:
        start = index * self.stride
        return self.audio[start:start + self.samples]


def make_windows(audio: np.ndarray, profile: Profile, lookback: float, lookahead: float) -> Windows:
    samples = (profile.model.src_seq_len - 1) * profile.audio.hop_length
    stride = max(1, int(samples * (1 - lookback - lookahead)))
    if len(audio) <= samples:
        padded_length = samples
    else:
        extra = (len(audio) - samples) % stride
        padded_length = len(audio) + ((stride - extra) % stride)
    padded = np.zeros(padded_length, dtype=np.float32)
    padded[:len(audio)] = audio
    count = (padded_length - samples) // stride + 1
    rate = profile.audio.sample_rate
    return Windows(samples, stride, [int(i * stride * 1000 / rate) for i in range(count)], padded)


def rule_tokens(vocab: Vocabulary) -> RuleTokens:
    shifts = vocab.type_ids(E.TIME_SHIFT)
    ids = lambda *kinds: tuple(vocab.event_start[k] for k in kinds if vocab.has(k))  # noqa: E731
    return RuleTokens(
        time_shift_start=shifts.start, time_shift_end=shifts.stop,
        sos_ids=(1, *vocab.context_sos.values()), eos_ids=(EOS_ID, *vocab.context_eos.values()),
        beat_type_ids=ids(E.BEAT, E.MEASURE, E.TIMING_POINT),
        mania_type_ids=ids(E.CIRCLE, E.HOLD_NOTE, E.HOLD_NOTE_END),
        scroll_speed_ids=tuple(vocab.type_ids(E.SCROLL_SPEED)),
        timed_type_ids=ids(*TIMED_TYPES))


def event_times(events: list[Event], types_first: bool, default: int = 0) -> list[int]:
    """The group time of each event (absolute ms): a group's events share its time shift; a group
    without one (an untimed slider anchor) takes the time of the group before it."""
    times: list[int] = []
    current = default
    if not types_first:
        for event in events:
            if event.type is E.TIME_SHIFT:
                current = event.value
            times.append(current)
        return times
    group: list[Event] = []

    def close() -> None:
        nonlocal current
        current = next((e.value for e in group if e.type is E.TIME_SHIFT), current)
        times.extend([current] * len(group))
        group.clear()

    for event in events:
        if event.type in TYPE_TOKENS and group:
            close()
        group.append(event)
    close()
    return times


@dataclass
class InContext:
    """An input block of the prompt: its events (absolute times) and, for a guest difficulty, the
    class tokens describing that map."""

    events: list[Event] = field(default_factory=list)
    class_ids: list[int] = field(default_factory=list)


def select_windows(starts_ms: list[int], window_ms: float, start_ms: float | None, end_ms: float | None,
                   lookback: float, lookahead: float) -> list[int]:
    """Indices of the windows whose committed zone touches [start_ms, end_ms] (all when unbounded)."""
    chosen = list(range(len(starts_ms)))
    if start_ms is not None:
        chosen = [i for i in chosen if starts_ms[i] > start_ms - (1 - lookahead) * window_ms] or chosen[-1:]
    if end_ms is not None:
        chosen = [i for i in chosen if starts_ms[i] < end_ms - lookback * window_ms] or chosen[:1]
    return chosen


def trim_events(events: list[Event], types_first: bool, start_ms: float | None, end_ms: float | None,
                margin_ms: float = 10.0) -> list[Event]:
    """The events whose group time lies within [start - margin, end + margin]."""
    lo = -float("inf") if start_ms is None else start_ms - margin_ms
    hi = float("inf") if end_ms is None else end_ms + margin_ms
    return [e for e, t in zip(events, event_times(events, types_first)) if lo <= t <= hi]


class Generator:
    def __init__(self, model, vocab: Vocabulary, profile: Profile, settings: GenerationSettings,
                 device: str = "cpu"):
        self.model = model
        self.vocab = vocab
        self.profile = profile
        self.settings = settings
        self.device = device
        self.tokenizer = Tokenizer(vocab, profile.tokenizer)
        self.tokens = rule_tokens(vocab)
        self.types_first = profile.tokenizer.types_first
        self.window_ms = profile.window_ms
        self.generated_tokens = 0
        self._encoded: dict[int, torch.Tensor] = {}  # encoder states by window index, for the current song

    def generate(self, audio: np.ndarray, conditioning: Conditioning, passes: list[ContextType], *,
                 finished: dict[ContextType, list[Event]] | None = None,
                 in_contexts: dict[ContextType, InContext] | None = None,
                 start_ms: float | None = None, end_ms: float | None = None,
                 preload: dict[ContextType, list[Event]] | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> dict[ContextType, list[Event]]:
        """Events with absolute times for each pass, generated in order.

        `finished`: contexts given whole (a reference's timing, say). `in_contexts`: the template's
        input blocks (a guest difficulty, a map without hitsounds); None means the profile's.
        `start_ms`/`end_ms`: generate only that span (the windows that reach it) and keep only
        events within it. `preload`: events a pass starts from, so the first window continues them.
        """
        inference = self.profile.inference
        lookback, lookahead = self.settings.lookback, self.settings.lookahead
        windows = make_windows(audio, self.profile, lookback, lookahead)
        chosen = select_windows(windows.starts_ms, self.window_ms, start_ms, end_ms, lookback, lookahead)
        contexts: dict[ContextType, list[Event]] = dict(finished or {})
        self._encoded.clear()
        if in_contexts is None:
            in_contexts = {ContextType(c): InContext() for c in inference.in_context
                           if ContextType(c) in self.vocab.context_sos}
        for context in passes:
            contexts[context] = list((preload or {}).get(context, []))
            for count, index in enumerate(chosen):
                start = windows.starts_ms[index]
                last = count == len(chosen) - 1
                frames = torch.from_numpy(windows.frames(index).copy())[None].to(self.device)
                new = self._window(frames, start, index, last, context, contexts, conditioning, in_contexts)
                kept = contexts[context] + new
                if not last:  # the next window redoes what lies past the commit line
                    cut = start + (1 - lookahead) * self.window_ms
                    kept = [e for e, t in zip(kept, event_times(kept, self.types_first)) if t <= cut]
                contexts[context] = kept
                if progress is not None:
                    progress(context.value, count + 1, len(chosen))
            if start_ms is not None or end_ms is not None:
                contexts[context] = trim_events(contexts[context], self.types_first, start_ms, end_ms)
        self._encoded.clear()
        return contexts

    def conditioning_tensors(self, conditioning: Conditioning, start: int) -> dict:
        inputs = embedding_inputs(self.model, self.vocab, conditioning, start, self.window_ms)
        return {k: v.to(self.device) for k, v in inputs.items()}

    def base_rules(self) -> list:
        """The logits rules of every window: monotonic time, the time-shift bias, temperatures."""
        s = self.settings
        rules = [MonotonicTime(self.tokens)]
        if s.timeshift_bias:
            rules.append(TimeShiftBias(self.tokens, s.timeshift_bias))
        rules.append(Temperature(self.tokens, s.temperature, types_first=self.types_first,
                                 timing=s.timing_temperature, mania_column=s.mania_column_temperature,
                                 taiko_hit=s.taiko_hit_temperature))
        return rules

    # -- one window --------------------------------------------------------------------------
    def window_events(self, events: list[Event], start: int) -> list[int]:
        times = event_times(events, self.types_first)
        inside = [e if e.type is not E.TIME_SHIFT else
                  Event(E.TIME_SHIFT, int((e.value - start) / self.tokenizer.step_ms))
                  for e, t in zip(events, times) if start <= t < start + self.window_ms]
        return self.tokenizer.encode([e for e in inside if self.vocab.has(e.type)])

    def _window(self, frames, start, index, last, context, contexts, conditioning, in_contexts) -> list[Event]:
        out_blocks = []
        for done, events in contexts.items():
            if done is context:
                continue
            out_blocks.append(ContextBlock(done, self.window_events(events, start)))
        prefill = self.window_events(contexts[context], start)
        out_blocks.append(ContextBlock(context, prefill, finished=False))
        last_kiai = next((e.value for e in reversed(contexts.get(ContextType.KIAI, [])) if e.type is E.KIAI), 0)
        last_sv = 100
        in_context_blocks = [ContextBlock(c, self.window_events(given.events, start), list(given.class_ids))
                             for c, given in in_contexts.items()]
        prompt = build_prompt(self.vocab, conditioning, window_start_ms=start, in_contexts=in_context_blocks,
                              out_contexts=out_blocks, last_kiai=last_kiai, last_sv=last_sv)
        negative = None
        if self.settings.cfg_scale > 1:
            negative = build_prompt(self.vocab, negative_conditioning(conditioning), window_start_ms=start,
                                    in_contexts=in_context_blocks, out_contexts=out_blocks, last_kiai=last_kiai,
                                    last_sv=last_sv)
        lookback_ms = self.settings.lookback * self.window_ms if index > 0 else 0.0
        lookahead_ms = 0.0 if last else self.settings.lookahead * self.window_ms
        end_ids = {EOS_ID}
        if context in self.vocab.context_eos:
            end_ids.add(self.vocab.context_eos[context])
        steps = self.tokens.time_shift_end - self.tokens.time_shift_start
        if lookahead_ms:
            end_ids.update(self.tokens.time_shift_start + s for s in range(steps - int(lookahead_ms / 10), steps))
        if lookback_ms and self.types_first:
            end_ids.add(self.tokens.time_shift_start)  # the lookback rule's "end instead" token
        s = self.settings
        rules = self.base_rules()
        if lookback_ms:
            rules.append(LookbackZone(self.tokens, lookback_ms, types_first=self.types_first))
        decoder = Decoder(self.model, rules=rules, sampling=s.sampling, cfg_scale=s.cfg_scale)
        room = self.profile.model.tgt_seq_len - max(len(prompt), len(negative or []))
        if room <= 0:
            return []
        tensors = self.conditioning_tensors(conditioning, start)
        if index not in self._encoded:  # every pass hears the same window: encode it once
            self._encoded[index] = self.model.encode(frames, **tensors)
        result = decoder.run(frames, [DecodeRequest(prompt, frozenset(end_ids), negative)], room,
                             conditioning=tensors, encoder_states=self._encoded[index])[0]
        self.generated_tokens += len(result.tokens)
        tokens = result.tokens
        if tokens and tokens[-1] in end_ids:
            tokens = tokens[:-1]
            if self.types_first and tokens and tokens[-1] in self.tokens.timed_type_ids:
                tokens = tokens[:-1]  # the type whose time ended the window goes with it
        events = self.tokenizer.to_absolute(self.tokenizer.decode(tokens), start)
        return [e for e in events if not (e.type is E.TIME_SHIFT and e.value < start)]


def embedding_inputs(model, vocab: Vocabulary, conditioning: Conditioning, start: int, window_ms: float) -> dict:
    """Conditioning-embedding inputs (v30/v31) for one window: star rating, mapper row, song position."""
    inputs = {}
    if hasattr(model, "difficulty_embedder"):
        stars = 5.0 if conditioning.difficulty is None else conditioning.difficulty
        inputs["difficulty"] = torch.tensor([stars], dtype=torch.float32)
    if hasattr(model, "mapper_embedder"):
        row = vocab.mapper_idx.get(conditioning.mapper_id, -1) if conditioning.mapper_id is not None else -1
        inputs["mapper_idx"] = torch.tensor([row], dtype=torch.long)
    if hasattr(model, "song_pos_embedder"):
        length = conditioning.song_length_ms or 1.0
        inputs["song_position"] = torch.tensor([[start / length, (start + window_ms) / length]], dtype=torch.float32)
    return inputs


def beat_markers(events: list[Event], types_first: bool):
    """Beat/measure/timing-point markers of a timing stream, for timing_fit."""
    from models.timing_fit import BeatMarker, MarkerKind

    kinds = {E.BEAT: MarkerKind.BEAT, E.MEASURE: MarkerKind.MEASURE, E.TIMING_POINT: MarkerKind.TIMING_POINT}
    times = event_times(events, types_first)
    return [BeatMarker(float(t), kinds[e.type]) for e, t in zip(events, times) if e.type in BEAT_TYPES]
