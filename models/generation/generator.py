"""Sequential windowed generation: audio in, event streams per context out.

Each pass (timing, kiai, map, ...) sweeps over overlapping audio windows. A window's prompt holds
the metadata prefix, the finished contexts of that window and, for the context being written,
the events earlier windows already placed in it (the "lookback" prefill). The model continues the
open context; a time token in the lookahead zone (the window's last 40 %) ends it, and what it
wrote past the commit line is dropped for the next window to redo with more audio ahead.

How the windows are grouped into decoder calls is a `Sweep` strategy (models.generation.sweep):
one at a time by default, side by side (`ParallelWindows`) or one row per difficulty
(`DifficultyBatch`); the Generator owns prompts, end tokens, rules and the bookkeeping they share.

Over 300 lines: the window bookkeeping every strategy shares (prompts, zones, end tokens, rules, the
heard-rhythm rule and the times it puts back) is one object's, so the strategies stay small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from models.configuration_mapperatorinator import UNKNOWN_STARS
from models.decoding.batch import DecodeRequest, SamplingSettings
from models.decoding.decoder import Decoder
from models.decoding.rules import (
    LookbackZone,
    MonotonicTime,
    RhythmCandidates,
    RuleTokens,
    Temperature,
    TimeShiftBias,
)
from models.generation.context_stream import ContextStream
from models.generation.event_times import trim_events
from models.generation.sweep import SequentialSweep, Sweep
from models.generation.trace import call_record
from profiles.limits import guidance_on
from profiles.settings import Profile
from tokenization.beatmap_to_events import EventList
from tokenization.events import TIMED_TYPES, ContextType, Event, EventType
from tokenization.prompt import (
    DEFAULT_LAST_SV,
    Conditioning,
    ContextBlock,
    build_prompt,
    negative_conditioning,
)
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

    @property
    def guided(self) -> bool:
        """Classifier-free guidance: a negative prompt beside every prompt."""
        return guidance_on(self.cfg_scale)


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


@dataclass
class InContext:
    """An input block of the prompt: its events (absolute times) and, for a guest difficulty, the
    class tokens describing that map."""

    events: list[Event] = field(default_factory=list)
    class_ids: list[int] = field(default_factory=list)
    times: list[int] | None = None  # each event's time as its encoder gave it; None: worked out from the events


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
        self.trace: Callable[[dict], None] | None = None  # receives one record per decoder call (models.generation.trace)
        # absolute ms where the map pass must put its objects (heard in the audio); None: where the model likes
        self.object_times: list[float] | None = None

    def generate(self, audio: np.ndarray, conditioning: Conditioning, passes: list[ContextType], *,
                 strategy: Sweep | None = None, **given) -> dict[ContextType, list[Event]]:
        """Events with absolute times for each pass, generated in order (see `generate_each`)."""
        return self.generate_each(audio, [conditioning], passes, strategy=strategy, **given)[0]

    def generate_each(self, audio: np.ndarray, conditionings: list[Conditioning], passes: list[ContextType], *,
                      strategy: Sweep | None = None, finished: dict | None = None,
                      in_contexts: dict[ContextType, InContext] | None = None,
                      start_ms: float | None = None, end_ms: float | None = None, preload: dict | None = None,
                      progress: Callable[[str, int, int], None] | None = None) -> list[dict[ContextType, list[Event]]]:
        """Events with absolute times for each pass, per conditioning, as `strategy` decodes the
        windows (default: the sequential sweep, one window at a time).

        `finished`: contexts given whole (a reference's timing, say), as event lists or EventLists
        with their times. `in_contexts`: the template's input blocks (a guest difficulty, a map
        without hitsounds); None means the profile's. `start_ms`/`end_ms`: generate only that span
        (the windows that reach it) and keep only events within it. `preload`: events a pass starts
        from, so the first window continues them.
        """
        strategy = strategy or SequentialSweep()
        return strategy.run(self, audio, conditionings, passes, finished=finished or {}, in_contexts=in_contexts,
                            start_ms=start_ms, end_ms=end_ms, preload=preload or {}, progress=progress)

    # -- what the strategies share -------------------------------------------------------------
    def window_frames(self, windows, index: int) -> torch.Tensor:
        """One window's samples as a [1, samples] tensor on the generator's device."""
        return torch.from_numpy(windows.frames(index).copy())[None].to(self.device)

    def room(self, request: DecodeRequest) -> int:
        """Tokens left to generate after the request's longer prompt."""
        return self.profile.model.tgt_seq_len - max(len(request.prompt), len(request.negative_prompt or []))

    def record(self, label: str, index: int, start: float, lookback_ms: float, lookahead_ms: float,
               request: DecodeRequest, result) -> None:
        """Count a decoder call's tokens and hand it to the trace, if any."""
        self.generated_tokens += len(result.tokens)
        if self.trace is not None:
            self.trace(call_record(label, index, start, lookback_ms, lookahead_ms, request.prompt, result.tokens,
                                   result.ended, request.negative_prompt))

    def trimmed(self, contexts: dict, passes: list[ContextType], start_ms: float | None, end_ms: float | None) -> dict:
        """`contexts` with each pass's events cut to the span asked for."""
        if start_ms is not None or end_ms is not None:
            for context in passes:
                contexts[context] = trim_events(contexts[context], self.types_first, start_ms, end_ms)
        return contexts

    def input_contexts(self, in_contexts: dict[ContextType, InContext] | None) -> dict[ContextType, InContext]:
        """The template's input blocks; None means the profile's (empty blocks the model knows)."""
        if in_contexts is not None:
            return in_contexts
        return {ContextType(c): InContext() for c in self.profile.inference.in_context
                if ContextType(c) in self.vocab.context_sos}

    def given_streams(self, in_contexts: dict[ContextType, InContext] | None) -> dict:
        """The template's input blocks as streams with their class ids; None means the profile's."""
        return {c: (self.stream(i.events if i.times is None else EventList(i.events, i.times)), i.class_ids)
                for c, i in self.input_contexts(in_contexts).items()}

    def stream(self, events) -> ContextStream:
        if isinstance(events, EventList):
            return ContextStream.of(events.events, events.times, types_first=self.types_first)
        return ContextStream.of(list(events), types_first=self.types_first)

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
        """Ids of a plain event list's events inside the window starting at `start` (parallel mode)."""
        return self.window_ids(self.stream(events), start)

    def window_ids(self, stream: ContextStream, start: float, max_tokens: int | None = None) -> list[int]:
        """Ids of a stream's events inside the window, time shifts relative to its start; the last
        `max_tokens` of them when the prompt has to be shortened."""
        step = self.tokenizer.step_ms
        inside = [e if e.type is not E.TIME_SHIFT else Event(E.TIME_SHIFT, int((e.value - start) / step))
                  for e in stream.window(start, start + self.window_ms)]
        ids = self.tokenizer.encode([e for e in inside if self.vocab.has(e.type)])
        return ids[-max_tokens:] if max_tokens is not None and len(ids) > max_tokens else ids

    def prompts(self, start, context, streams, conditioning, given) -> tuple[list[int], list[int] | None]:
        """The window's prompt (and the negative one, with guidance), cut as the original cuts it:
        while a prompt fills the whole target length, every context block keeps only its last
        tgt/2, then tgt/4, ... tokens."""
        tokenizer_settings = self.profile.tokenizer
        last_kiai, last_sv = 0, DEFAULT_LAST_SV
        order = [c for c in streams if c is not context] + [context]
        for c in order:  # a later context's value replaces an earlier one's
            stream = streams[c]
            mapish = c in (ContextType.MAP, ContextType.GD)
            if self.profile.inference.kiai_prompt_token and (
                    c is ContextType.KIAI or (tokenizer_settings.add_kiai and mapish)):
                last_kiai = stream.last_value_before(E.KIAI, start, 0)
            if c is ContextType.SV or ((tokenizer_settings.add_sv or tokenizer_settings.add_mania_sv) and mapish):
                last_sv = stream.last_value_before(E.SCROLL_SPEED, start, DEFAULT_LAST_SV)
        limit = self.profile.model.tgt_seq_len
        max_tokens = None
        while True:
            in_blocks = [ContextBlock(c, self.window_ids(stream, start, max_tokens), list(class_ids))
                         for c, (stream, class_ids) in given.items()]
            out_blocks = [ContextBlock(c, self.window_ids(streams[c], start, max_tokens), finished=c is not context)
                          for c in order]
            prompt = build_prompt(self.vocab, conditioning, window_start_ms=start, in_contexts=in_blocks,
                                  out_contexts=out_blocks, last_kiai=last_kiai, last_sv=last_sv)
            negative = None
            if self.settings.guided:
                negative = build_prompt(self.vocab, negative_conditioning(conditioning), window_start_ms=start,
                                        in_contexts=in_blocks, out_contexts=out_blocks, last_kiai=last_kiai,
                                        last_sv=last_sv)
            if len(prompt) < limit or (max_tokens is not None and max_tokens <= 1):
                return prompt, negative
            max_tokens = (max_tokens or limit) // 2

    def decode_window(self, frames, start, index, first, last, context, streams, conditioning, given,
                      encoded: dict) -> None:
        """Decode one window of a pass and add what it wrote to the pass's stream; `encoded` keeps
        each window's encoder states, since every pass hears the same window."""
        prompt, negative = self.prompts(start, context, streams, conditioning, given)
        lookback_ms, lookahead_ms = self.zones_ms(first, last)
        request = DecodeRequest(prompt, self.end_ids(context, lookback_ms, lookahead_ms), negative)
        room = self.room(request)
        if room <= 0:
            return
        tensors = self.conditioning_tensors(conditioning, start)
        if index not in encoded:
            encoded[index] = self.model.encode(frames, **tensors)
        decoder = self.decoder(lookback_ms)
        if self.object_times is not None and context is ContextType.MAP:
            decoder.rules.append(self.rhythm_rule(start, lookback_ms, lookahead_ms, chords=conditioning.gamemode == 3))
        result = decoder.run(frames, [request], room, conditioning=tensors, encoder_states=encoded[index])[0]
        self.record(context.value, index, start, lookback_ms, lookahead_ms, request, result)
        self.add_window(streams[context], result.tokens, context, start, first, last)

    def zones_ms(self, first: bool, last: bool) -> tuple[float, float]:
        """The lookback zone (none in a pass's first window) and lookahead zone (none in its last)."""
        lookback_ms = self.settings.lookback * self.window_ms if not first else 0.0
        return lookback_ms, 0.0 if last else self.settings.lookahead * self.window_ms

    def end_ids(self, context: ContextType, lookback_ms: float, lookahead_ms: float) -> frozenset[int]:
        """What ends a window: the end tokens, and a time in the lookback zone (dropped afterwards) or
        in the lookahead zone (the next window redoes it)."""
        end_ids = {EOS_ID}
        if context in self.vocab.context_eos:
            end_ids.add(self.vocab.context_eos[context])
        t = self.tokens
        steps = t.time_shift_end - t.time_shift_start
        if lookback_ms:
            end_ids.update(t.time_shift_start + s for s in range(min(steps, int(lookback_ms / 10))))
        if lookahead_ms:
            end_ids.update(t.time_shift_start + s for s in range(max(0, steps - int(lookahead_ms / 10)), steps))
        return frozenset(end_ids)

    def decoder(self, lookback_ms: float) -> Decoder:
        """A decoder with fresh rules (the lookback rule keeps state across the steps of one decoding)."""
        rules = self.base_rules()
        if lookback_ms:
            rules.append(LookbackZone(self.tokens, lookback_ms, types_first=self.types_first))
        return Decoder(self.model, rules=rules, sampling=self.settings.sampling, cfg_scale=self.settings.cfg_scale)

    def rhythm_rule(self, start: float, lookback_ms: float, lookahead_ms: float, *, chords: bool = False
                    ) -> RhythmCandidates:
        """The rule holding this window's objects to `object_times`."""
        objects = (E.CIRCLE, E.SLIDER_HEAD, E.SPINNER, E.HOLD_NOTE, E.DRUMROLL, E.DENDEN)
        return RhythmCandidates(
            self.tokens, [t for t in self.object_times if start <= t < start + self.window_ms],
            window_start_ms=start, lookback_ms=lookback_ms,
            commit_ms=self.window_ms - lookahead_ms if lookahead_ms else self.window_ms,
            has_lookahead=bool(lookahead_ms), types_first=self.types_first,
            object_type_ids=tuple(self.vocab.event_start[k] for k in objects if self.vocab.has(k)),
            chords=chords, step_ms=self.tokenizer.step_ms)

    def add_window(self, stream: ContextStream, tokens: list[int], context, start, first, last) -> None:
        """What a window wrote, as the original keeps it: end tokens stripped; a final time in the
        commit or lookback zone dropped (with the type token before it in types-first models);
        events past the commit line cut, for the next window to redo with more audio ahead."""
        ends = {EOS_ID, self.vocab.context_eos.get(context, EOS_ID)}
        tokens = list(tokens)
        while tokens and tokens[-1] in ends:
            tokens.pop()
        t, step = self.tokens, self.tokenizer.step_ms
        commit_ms = (1 - self.settings.lookahead) * self.window_ms
        in_commit_zone = not last and t.time_shift_id(int(commit_ms / step)) <= (tokens[-1] if tokens else -1) \
            < t.time_shift_end
        lookback_end = t.time_shift_id(int(self.settings.lookback * self.window_ms / step))
        in_lookback_zone = not first and self.settings.lookback > 0 and tokens \
            and t.time_shift_start <= tokens[-1] < lookback_end
        if tokens and (in_commit_zone or in_lookback_zone):
            del tokens[-(2 if self.types_first else 1):]
        events = self.tokenizer.to_absolute(self.tokenizer.decode(tokens), start)
        if self.object_times is not None and context is ContextType.MAP:
            events = on_heard_times(events, self.object_times, self.tokenizer.step_ms / 2)
        stream.add(events, end_ms=start + self.window_ms, types_first=self.types_first)
        if not last:
            stream.cut_after(start + commit_ms)


def on_heard_times(events: list[Event], times: list[float], within_ms: float) -> list[Event]:
    """Times back on the heard object times they were decoded from: a time token holds 10 ms steps, so a
    time comes back up to half a step off the exact candidate it was held to."""
    heard = np.asarray(times, dtype=np.float64)
    out = []
    for event in events:
        if event.type is E.TIME_SHIFT and len(heard):
            nearest = heard[np.abs(heard - event.value).argmin()]
            if abs(nearest - event.value) <= within_ms:
                event = Event(E.TIME_SHIFT, int(round(nearest)))
        out.append(event)
    return out


def embedding_inputs(model, vocab: Vocabulary, conditioning: Conditioning, start: int, window_ms: float) -> dict:
    """Conditioning-embedding inputs (v30/v31) for one window: star rating, mapper row, song position."""
    inputs = {}
    if hasattr(model, "difficulty_embedder"):
        stars = UNKNOWN_STARS if conditioning.difficulty is None else conditioning.difficulty
        inputs["difficulty"] = torch.tensor([stars], dtype=torch.float32)
    if hasattr(model, "mapper_embedder"):
        row = vocab.mapper_idx.get(conditioning.mapper_id, -1) if conditioning.mapper_id is not None else -1
        inputs["mapper_idx"] = torch.tensor([row], dtype=torch.long)
    if hasattr(model, "song_pos_embedder"):
        length = conditioning.song_length_ms or 1.0
        inputs["song_position"] = torch.tensor([[start / length, (start + window_ms) / length]], dtype=torch.float32)
    return inputs
