"""Decoding rules: one small class per rule, composed in a list (as whisper's LogitFilters).

Every rule is a transformers `LogitsProcessor`: `rule(input_ids, scores) -> scores`, with
`input_ids` the whole decoder sequence so far ([rows, tokens]) and `scores` the next-token
logits ([rows, vocab_out]). Rules work per row, so windows can be batched together.

Order matters and follows the original: guidance, monotonic time, time-shift bias,
temperature, lookback. Top-k/top-p come after them, in the sampler.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from transformers import LogitsProcessor

MS_PER_TIME_STEP = 10  # one TIME_SHIFT step


@dataclass(frozen=True)
class RuleTokens:
    """The token ids the rules need, read from a checkpoint's vocabulary."""

    time_shift_start: int  # first TIME_SHIFT id (relative time 0)
    time_shift_end: int  # exclusive
    sos_ids: tuple[int, ...]  # SOS and every context SOS: time restarts after them
    eos_ids: tuple[int, ...]  # EOS and every context EOS
    beat_type_ids: tuple[int, ...] = ()  # BEAT, MEASURE, TIMING_POINT
    mania_type_ids: tuple[int, ...] = ()  # CIRCLE, HOLD_NOTE, HOLD_NOTE_END (mania column follows 3 later)
    scroll_speed_ids: tuple[int, ...] = ()  # SCROLL_SPEED values (taiko hit token follows)
    timed_type_ids: tuple[int, ...] = ()  # type tokens that are followed by their time in types-first models

    def time_shift_id(self, steps: int) -> int:
        return self.time_shift_start + max(0, min(steps, self.time_shift_end - self.time_shift_start - 1))


class ClassifierFreeGuidance(LogitsProcessor):
    """Rows come as [conditional; unconditional]; returns uncond + scale * (cond - uncond) for each pair.

    This is the standard direction (towards the user's prompt). The original computes it with the halves
    swapped, which pushes towards the negative prompt (reference inference.md §2.12).
    """

    def __init__(self, scale: float):
        self.scale = scale

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        cond, uncond = scores.chunk(2, dim=0)
        guided = uncond + self.scale * (cond - uncond)
        return torch.cat([guided, guided], dim=0)  # both halves sample the same token


class MonotonicTime(LogitsProcessor):
    """Time never goes back: after a TIME_SHIFT in the current context, smaller TIME_SHIFTs are forbidden."""

    def __init__(self, tokens: RuleTokens):
        self.tokens = tokens
        self._sos = torch.tensor(tokens.sos_ids, dtype=torch.long)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        t = self.tokens
        rows, length = input_ids.shape
        positions = torch.arange(length, device=input_ids.device).expand(rows, -1)
        is_time = (input_ids >= t.time_shift_start) & (input_ids < t.time_shift_end)
        is_sos = torch.isin(input_ids, self._sos.to(input_ids.device))
        last_time_pos = torch.where(is_time, positions, -1).max(dim=1).values
        last_sos_pos = torch.where(is_sos, positions, -1).max(dim=1).values
        active = last_time_pos > last_sos_pos  # a time token after the last (context) SOS
        last_steps = input_ids.gather(1, last_time_pos.clamp(min=0).unsqueeze(1)).squeeze(1) - t.time_shift_start
        last_steps = torch.where(active, last_steps, torch.zeros_like(last_steps))
        steps = torch.arange(t.time_shift_end - t.time_shift_start, device=scores.device)
        earlier = steps.unsqueeze(0) < last_steps.unsqueeze(1)  # [rows, time steps]
        scores = scores.clone()
        scores[:, t.time_shift_start:t.time_shift_end] = scores[:, t.time_shift_start:t.time_shift_end].masked_fill(
            earlier, float("-inf"))
        return scores


class TimeShiftBias(LogitsProcessor):
    """Adds a constant to every TIME_SHIFT logit: > 0 makes the model place objects sooner (denser maps)."""

    def __init__(self, tokens: RuleTokens, bias: float):
        self.tokens = tokens
        self.bias = bias

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.clone()
        scores[:, self.tokens.time_shift_start:self.tokens.time_shift_end] += self.bias
        return scores


class Temperature(LogitsProcessor):
    """Per-row temperature; in types-first models some token kinds get their own temperature.

    The time after a beat-type token uses `timing`; the mania column three tokens after a note type
    token uses `mania_column`; the taiko hit token after a scroll-speed token uses `taiko_hit`. The original
    decides from the first row only; deciding per row gives the same result for a single window.
    """

    def __init__(self, tokens: RuleTokens, base: float, *, types_first: bool, timing: float | None = None,
                 mania_column: float | None = None, taiko_hit: float | None = None):
        self.base = base
        self.special: list[tuple[float, torch.Tensor, int]] = []  # (temperature, trigger ids, tokens back)
        if types_first:
            for temperature, ids, back in ((timing, tokens.beat_type_ids, 1),
                                           (mania_column, tokens.mania_type_ids, 3),
                                           (taiko_hit, tokens.scroll_speed_ids, 1)):
                if temperature is not None and temperature != base and ids:
                    self.special.append((temperature, torch.tensor(ids, dtype=torch.long), back))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        temperature = torch.full((scores.shape[0], 1), self.base, dtype=scores.dtype, device=scores.device)
        decided = torch.zeros(scores.shape[0], dtype=torch.bool, device=scores.device)
        for value, ids, back in self.special:  # the first matching rule wins
            if input_ids.shape[1] < back:
                continue
            hit = torch.isin(input_ids[:, -back], ids.to(input_ids.device)) & ~decided
            temperature[hit] = value
            decided |= hit
        return scores / temperature


class LookbackZone(LogitsProcessor):
    """Nothing may be generated inside the prefilled lookback zone of a window.

    Types-last models simply forbid lookback times. Types-first models choose the type before its time,
    so forbidding the time after the fact would bias the map towards the types that were chosen; instead,
    right after a timed type token, the lookback times' probability is removed and the mass that should
    have gone to ending the window one step earlier is put on the first time token, which is in the
    window's end set, so that sampling it ends the window.
    """

    def __init__(self, tokens: RuleTokens, lookback_ms: float, *, types_first: bool):
        self.tokens = tokens
        self.types_first = types_first
        self.lookback_end = tokens.time_shift_id(int(lookback_ms / MS_PER_TIME_STEP))
        self._eos = torch.tensor(tokens.eos_ids, dtype=torch.long)
        self._timed = torch.tensor(tokens.timed_type_ids, dtype=torch.long)
        self._previous_scores: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        zone = slice(self.tokens.time_shift_start, self.lookback_end)
        if not self.types_first:
            scores = scores.clone()
            scores[:, zone] = float("-inf")
            return scores
        previous, self._previous_scores = self._previous_scores, scores
        if previous is None or input_ids.shape[1] == 0 or previous.shape != scores.shape:
            return scores
        after_type = torch.isin(input_ids[:, -1], self._timed.to(input_ids.device))
        if not after_type.any():
            return scores
        eos_then = previous.softmax(-1)[:, self._eos.to(scores.device)].sum(-1, keepdim=True)
        event_then = (1 - eos_then).clamp(min=1e-12)
        probs = scores.softmax(-1)
        outside = probs.sum(-1, keepdim=True) - probs[:, zone].sum(-1, keepdim=True)
        rescale = 1 / (outside * event_then + eos_then).clamp(min=1e-12)
        probs = probs * rescale
        probs[:, zone] = 0
        probs[:, self.tokens.time_shift_start] = ((rescale - 1) * eos_then / event_then).clamp(0, 1).squeeze(1)
        guided = torch.nan_to_num(probs, nan=0.0, posinf=0.0).log()
        return torch.where(after_type.unsqueeze(1), guided, scores)


class RhythmCandidates(LogitsProcessor):
    """Object times only at given rhythm candidates (absolute ms, heard in the audio), each one used in turn.

    For a model that cannot hear rhythm itself (the starter): the times where objects go are decided
    before decoding (`models.generation.audio_rhythm`), and the model chooses what goes there (type,
    position, hitsounds). In types-first models the time after an object type (circle, slider head,
    spinner, hold note, drumroll, denden) must be the next unused candidate of the window's committed
    span ([lookback, commit) of the window), so none is skipped; other timed events (a slider's end, a
    spinner's end) fall between the last time and that candidate. The window may not end (EOS) while a
    candidate of its committed span is unused (with `chords`, mania's next object completes the chord of the
    time just used while fewer notes stand there than the times it appears in `candidates_ms`: a time given
    twice is a chord of two); with none left, only the times of the lookahead zone
    remain (they end the window, the next one carries on) and, in a pass's last window, no new object
    starts. Types-last models choose the time before the type, so for them the rule only keeps times
    on the candidates (or in the lookahead zone).
    """

    def __init__(self, tokens: RuleTokens, candidates_ms, *, window_start_ms: float, lookback_ms: float,
                 commit_ms: float, has_lookahead: bool, types_first: bool, object_type_ids: tuple[int, ...],
                 chords: bool = False, step_ms: float = MS_PER_TIME_STEP):
        self.tokens = tokens
        self.chords = chords  # mania: another note may share the time just used
        self.types_first = types_first
        steps = tokens.time_shift_end - tokens.time_shift_start
        # encoded as the tokenizer encodes times (whole steps, truncated); decoding adds half a step back
        relative = [int((t - window_start_ms) // step_ms) for t in candidates_ms]
        self.lookback_step = int(lookback_ms / step_ms)
        self.commit_step = min(steps, int(commit_ms / step_ms))
        self.candidates = sorted({s for s in relative if self.lookback_step <= s < self.commit_step})
        self.chord_sizes = Counter(relative)  # notes a time may hold (with `chords`)
        self.zone_start = self.commit_step if has_lookahead else steps  # times from here end the window
        self.steps = steps
        self._sos = torch.tensor(tokens.sos_ids, dtype=torch.long)
        self._eos = torch.tensor(tokens.eos_ids, dtype=torch.long)
        self._objects = torch.tensor(object_type_ids, dtype=torch.long)
        self._timed = torch.tensor(tokens.timed_type_ids, dtype=torch.long)

    def _last_step(self, row: torch.Tensor) -> int | None:
        """The last time step written in the current context of one row, or None."""
        t = self.tokens
        is_time = (row >= t.time_shift_start) & (row < t.time_shift_end)
        sos = torch.nonzero(torch.isin(row, self._sos)).flatten()
        since = int(sos[-1]) + 1 if len(sos) else 0
        times = torch.nonzero(is_time[since:]).flatten()
        return int(row[since + int(times[-1])]) - t.time_shift_start if len(times) else None

    def _notes_at(self, row: torch.Tensor, step: int) -> int:
        """How many objects the current context of one row has put at time `step`."""
        sos = torch.nonzero(torch.isin(row, self._sos)).flatten()
        since = int(sos[-1]) + 1 if len(sos) else 0
        tail = row[since:]
        if len(tail) < 2:
            return 0
        at_step = tail[1:] == self.tokens.time_shift_start + step
        return int((at_step & torch.isin(tail[:-1], self._objects)).sum())

    def _next_candidate(self, last: int | None) -> int | None:
        for step in self.candidates:
            if last is None or step > last:
                return step
        return None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        t = self.tokens
        scores = scores.clone()
        times = slice(t.time_shift_start, t.time_shift_end)
        for row in range(input_ids.shape[0]):
            ids = input_ids[row].cpu()
            last = self._last_step(ids)
            following = self._next_candidate(last)
            allowed = torch.zeros(self.steps, dtype=torch.bool)
            allowed[self.zone_start:] = True
            previous = int(ids[-1]) if len(ids) else -1
            if not self.types_first:
                allowed[[s for s in self.candidates if last is None or s >= last]] = True
            elif previous in self._objects.tolist():
                if self.chords and last is not None and last in self.candidates \
                        and self._notes_at(ids, last) < self.chord_sizes[last]:  # its chord is not complete yet
                    allowed[:] = False
                    allowed[last] = True
                elif following is not None:
                    allowed[:] = False
                    allowed[following] = True
            elif previous in self._timed.tolist():  # an end or another timed event: before the next candidate
                low = max(last or 0, self.lookback_step)
                high = following if following is not None else self.steps
                allowed[low:max(high, low + 1)] = True
            if self.types_first and previous in self._timed.tolist():  # a timed type's time comes next, nothing else
                keep = scores[row, times].masked_fill(~allowed.to(scores.device), float("-inf"))
                scores[row] = float("-inf")
                scores[row, times] = keep
                continue
            scores[row, times] = scores[row, times].masked_fill(~allowed.to(scores.device), float("-inf"))
            if following is not None:
                scores[row, self._eos.to(scores.device)] = float("-inf")
            elif self.types_first and self.zone_start >= self.steps:  # a pass's last window, every candidate used
                scores[row, self._objects.to(scores.device)] = float("-inf")
        return scores
