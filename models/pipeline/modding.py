"""AI modding: where is the model surprised by a beatmap? (reference inference.md §6)

The map's own contexts are fed to the model window by window (teacher forcing, windows batched);
every token inside a window's generation zone is scored once: surprisal -log2 p(token) divided by
the entropy of the model's prediction, so that a token is only remarkable where the model was
confident about something else. Tokens above a threshold become suggestions, labelled with the
object they belong to, sorted into categories, and ranked by score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from models.generation.windows import make_windows
from profiles.settings import Profile
from tokenization.beatmap import Beatmap
from tokenization.beatmap_to_events import BeatmapEncoder, EventList
from tokenization.events import ContextType, Event, EventType
from tokenization.prompt import Conditioning, ContextBlock, build_prompt
from tokenization.tokenizer import Tokenizer
from tokenization.vocabulary import EOS_ID, Vocabulary

E = EventType
DEFAULT_THRESHOLD = 20.0  # relative surprisal at which a token becomes a suggestion
PROBLEM, WARNING = 100.0, 10.0  # score (relative surprisal / 10) of a likely issue / of something to look at
MIN_TIME_CORRECTION_MS = 10
OBJECT_TYPES = {E.CIRCLE: "Circle", E.SLIDER_HEAD: "Slider Head", E.SPINNER: "Spinner", E.SPINNER_END: "Spinner End",
                E.BEZIER_ANCHOR: "Slider Anchor", E.PERFECT_ANCHOR: "Slider Anchor", E.CATMULL_ANCHOR: "Slider Anchor",
                E.RED_ANCHOR: "Slider Anchor", E.LAST_ANCHOR: "Slider Body", E.SLIDER_END: "Slider End",
                E.HOLD_NOTE: "Hold Note", E.HOLD_NOTE_END: "Hold Note End", E.DRUMROLL: "Drumroll",
                E.DRUMROLL_END: "Drumroll End", E.DENDEN: "Denden", E.DENDEN_END: "Denden End",
                E.BEAT: "Beat", E.MEASURE: "Measure", E.TIMING_POINT: "Timing Point", E.KIAI: "Kiai",
                E.SCROLL_SPEED_CHANGE: "Scroll Speed Change"}
CATEGORY_OF = {E.POS: "Compose", E.POS_X: "Compose", E.POS_Y: "Compose", E.DISTANCE: "Compose",
               E.MANIA_COLUMN: "Compose", E.HITSOUND: "Hit Sounds", E.VOLUME: "Hit Sounds",
               E.NEW_COMBO: "New Combos", E.SNAPPING: "Rhythm", E.KIAI: "Kiai"}
ANCHORS = {E.BEZIER_ANCHOR, E.PERFECT_ANCHOR, E.CATMULL_ANCHOR, E.RED_ANCHOR, E.LAST_ANCHOR}
BEATS = {E.BEAT, E.MEASURE, E.TIMING_POINT}


@dataclass
class Suggestion:
    time_ms: int
    score: float  # relative surprisal / 10: above 100 likely an issue, below 10 likely taste
    category: str
    label: str  # the object concerned, e.g. "Slider Head"
    message: str
    combo: str = ""  # "(1,2)" combo numbers near the time, as the osu! editor writes them

    @property
    def severity(self) -> str:
        return "problem" if self.score >= PROBLEM else "warning" if self.score >= WARNING else "minor"

    @property
    def timestamp(self) -> str:
        t = max(0, int(self.time_ms))
        return f"{t // 60000:02d}:{t // 1000 % 60:02d}:{t % 1000:03d}"

    @property
    def editor_text(self) -> str:
        return f"{self.timestamp} {self.combo} -" if self.combo else f"{self.timestamp} -"

    @property
    def link(self) -> str:
        return f"osu://edit/{self.timestamp}" + (f"%20{self.combo}" if self.combo else "")

    def to_dict(self) -> dict:
        return {"time_ms": self.time_ms, "timestamp": self.timestamp, "score": round(self.score, 2),
                "severity": self.severity, "category": self.category, "object": self.label,
                "message": self.message, "link": self.link}


@dataclass
class _Scored:
    time: int
    context: ContextType
    actual: Event
    suggested: Event | None  # None: the model wanted to end the context here
    relative: float
    group: EventType | None


def score_beatmap(model, vocab: Vocabulary, profile: Profile, beatmap: Beatmap, audio: np.ndarray,
                  conditioning: Conditioning, *, batch_size: int = 8, device: str = "cpu", progress=None) -> list[_Scored]:
    """Every token of the map's contexts inside a generation zone, with its relative surprisal."""
    from models.generation.generator import embedding_inputs

    inference = profile.inference
    song_ms = len(audio) * 1000 / profile.audio.sample_rate
    encoder = BeatmapEncoder(beatmap, profile.tokenizer)
    contexts = [ContextType(c) for c in inference.output_type
                if (c != "sv" or beatmap.mode.value == 3) and (ContextType(c) in vocab.context_sos or c == "map")]
    streams = {c: encoder.context(c, song_ms) for c in contexts}
    groups = {c: _group_types(streams[c], profile.tokenizer.types_first) for c in contexts}
    tokenizer = Tokenizer(vocab, profile.tokenizer)
    windows = make_windows(audio, profile, inference.lookback, inference.lookahead)
    window_ms = profile.window_ms
    in_blocks = [ContextBlock(ContextType(c), []) for c in inference.in_context if ContextType(c) in vocab.context_sos]
    scored: list[_Scored] = []
    count = len(windows.starts_ms)
    for first in range(0, count, batch_size):
        rows, frames, extra = [], [], []
        for index in range(first, min(first + batch_size, count)):
            start = windows.starts_ms[index]
            zone = (start + (inference.lookback * window_ms if index else 0),
                    start + ((1 - inference.lookahead) * window_ms if index < count - 1 else window_ms))
            blocks, spans = [], []
            for c in contexts:
                window = tokenizer.window(streams[c], start, window_ms)
                lo = next((i for i, e in enumerate(streams[c].times) if e >= start), len(streams[c].times))
                blocks.append(ContextBlock(c, tokenizer.encode(window.events)))
                spans.append((c, window, lo))
            prompt = build_prompt(vocab, conditioning, window_start_ms=start, in_contexts=in_blocks, out_contexts=[])
            ids, meta = list(prompt), []
            for block, (c, window, lo) in zip(blocks, spans):
                if c in vocab.context_sos:
                    ids.append(vocab.context_sos[c])
                for k, token in enumerate(block.token_ids):
                    meta.append((len(ids), c, window, k, lo + k, zone))
                    ids.append(token)
                if c in vocab.context_eos:
                    ids.append(vocab.context_eos[c])
            rows.append((ids[:profile.model.tgt_seq_len], meta))
            frames.append(windows.frames(index))
            extra.append(embedding_inputs(model, vocab, conditioning, start, window_ms))
        scored += _score_rows(model, rows, frames, extra, groups, tokenizer, device)
        if progress is not None:
            progress("scoring", min(first + batch_size, count), count)
    return scored


def _score_rows(model, rows, frames, extra, groups, tokenizer, device) -> list[_Scored]:
    length = max(len(ids) for ids, _ in rows)
    input_ids = torch.zeros(len(rows), length, dtype=torch.long)
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for r, (ids, _) in enumerate(rows):  # left padding, as generation does
        input_ids[r, length - len(ids):] = torch.tensor(ids)
        mask[r, length - len(ids):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cond = {k: torch.cat([e[k] for e in extra]).to(device) for k in extra[0]} if extra and extra[0] else {}
    with torch.inference_mode():
        states = model.encode(torch.from_numpy(np.stack(frames)).to(device), **cond)
        logits, _ = model.decode(input_ids.to(device), states, attention_mask=mask.to(device),
                                 position_ids=positions.to(device), use_cache=False)
    log_probs = torch.log_softmax(logits.float(), -1) / math.log(2)
    entropy = -(log_probs.exp() * log_probs).nan_to_num().sum(-1)
    vocab = tokenizer.vocab
    out = []
    for r, (ids, meta) in enumerate(rows):
        pad = length - len(ids)
        for position, context, window, k, stream_index, zone in meta:
            if position >= len(ids) or not zone[0] <= window.times[k] < zone[1]:
                continue
            at = pad + position - 1  # the logits that predicted this token
            token = ids[position]
            h = float(entropy[r, at])
            surprisal = -float(log_probs[r, at, token])
            relative = surprisal / h if h > 0 else 0.0
            best = int(log_probs[r, at].argmax())
            actual = tokenizer.to_absolute([vocab.decode(token)], window.start_ms)[0]
            suggested = (tokenizer.to_absolute([vocab.decode(best)], window.start_ms)[0]
                         if vocab.is_event(best) else None)
            if best == token:
                continue
            out.append(_Scored(window.times[k], context, actual, suggested if best != EOS_ID else None, relative,
                               groups[context][stream_index]))
    return out


def _group_types(events: EventList, types_first: bool) -> list[EventType | None]:
    """The object type of the group each event belongs to."""
    kinds: list[EventType | None] = [None] * len(events.events)
    order = range(len(events.events)) if types_first else range(len(events.events) - 1, -1, -1)
    current = None
    for i in order:
        kind = events.events[i].type
        if kind in OBJECT_TYPES:
            current = kind
        kinds[i] = current
    return kinds


def suggestions(scored: list[_Scored], beatmap: Beatmap, threshold: float = DEFAULT_THRESHOLD) -> list[Suggestion]:
    """The remarkable tokens as ranked suggestions (highest score first)."""
    combos = _combo_lookup(beatmap)
    out = []
    for s in scored:
        if s.relative < threshold:
            continue
        a, b = s.actual, s.suggested
        if a.type in (E.POS, E.POS_X, E.POS_Y) and s.group in (E.SLIDER_END, E.SPINNER_END):
            continue
        if b is not None and a.type is E.TIME_SHIFT and b.type is E.TIME_SHIFT and \
                abs(a.value - b.value) <= MIN_TIME_CORRECTION_MS:
            continue
        category, message = _describe(s)
        label = OBJECT_TYPES.get(s.group, "Object") if s.group is not None else "Object"
        out.append(Suggestion(s.time, s.relative / 10, category, label, message, combos(s.time)))
    out.sort(key=lambda x: (-x.score, x.time_ms))
    return out


def _describe(s: _Scored) -> tuple[str, str]:
    a, b = s.actual, s.suggested
    timing_context = s.context is ContextType.TIMING or s.group in BEATS
    if b is None:
        if a.type is E.KIAI or s.context is ContextType.KIAI:
            return "Kiai", "Unexpected kiai change"
        return ("Timing" if timing_context else "Rhythm"), "Expected end of beatmap (or of this window's objects)"
    if a.type is E.TIME_SHIFT and b.type is E.TIME_SHIFT:
        what = "beat" if timing_context else "object"
        return ("Timing" if timing_context else "Rhythm"), \
            f"Expected {what} at {_clock(b.value)} instead of {_clock(a.value)}"
    if a.type in ANCHORS and b.type in ANCHORS:
        if a.type is E.LAST_ANCHOR:
            return "Sliders", "Expected additional anchors"
        if b.type is E.LAST_ANCHOR:
            return "Sliders", "Expected last anchor"
        return "Sliders", f"Expected a {b.type.value.replace('_', ' ')} instead of a {a.type.value.replace('_', ' ')}"
    if a.type in OBJECT_TYPES and b.type in OBJECT_TYPES and not timing_context:
        return "Rhythm", f"Expected a {OBJECT_TYPES[b.type]} instead of a {OBJECT_TYPES[a.type]}"
    if a.type in BEATS or b.type in BEATS:
        return "Timing", f"Expected {_value(b)} instead of {_value(a)}"
    if E.NEW_COMBO in (a.type, b.type):
        return "New Combos", "Expected a new combo" if b.type is E.NEW_COMBO else "Unexpected new combo"
    if a.type is E.SCROLL_SPEED and b.type is E.SCROLL_SPEED:
        kind = "Sliders" if s.context is ContextType.MAP else "Scroll Speeds"
        return kind, f"Expected {'slider velocity' if kind == 'Sliders' else 'scroll speed'} {_value(b)} " \
                     f"instead of {_value(a)}"
    if a.type is E.TIME_SHIFT and b.type is not E.TIME_SHIFT:
        return "Rhythm", f"Expected {_value(b)} before this object"
    category = CATEGORY_OF.get(a.type) if a.type is b.type else None
    return category or "Misc", f"Expected {_value(b)} instead of {_value(a)}"


def _clock(ms: int) -> str:
    return Suggestion(ms, 0, "", "", "").timestamp


def _value(e: Event) -> str:
    t = e.type
    if t is E.POS:
        x, y = ((e.value % 33) - 8) * 32 + 16, ((e.value // 33) - 8) * 32 + 16
        return f"position x:{x} y:{y}"
    if t in (E.POS_X, E.POS_Y):
        return f"{t.value[-1]} {e.value}"
    if t is E.DISTANCE:
        return f"distance {e.value}"
    if t is E.MANIA_COLUMN:
        return f"column {e.value + 1}"
    if t is E.VOLUME:
        return f"volume {e.value}%"
    if t is E.SNAPPING:
        return f"snapping 1/{e.value}" if e.value else "no snapping"
    if t is E.SCROLL_SPEED:
        return f"x{e.value / 100:.2f}"
    if t is E.HITSOUND:
        return f"hitsound {e.value}"
    if t is E.TIME_SHIFT:
        return f"time {_clock(e.value)}"
    return OBJECT_TYPES.get(t, t.value.replace("_", " "))


def _combo_lookup(beatmap: Beatmap):
    from tokenization.timing import combo_numbers

    objects = beatmap.hit_objects
    if beatmap.mode.value in (0, 2):
        numbers = [info.number for info in combo_numbers(beatmap)]
    else:  # taiko and mania have no combo numbers; the editor takes times or columns
        numbers = [None] * len(objects)
    times = [o.time for o in objects]

    def lookup(time_ms: int) -> str:
        import bisect

        i = bisect.bisect_right(times, time_ms + 1) - 1
        if i < 0 or numbers[i] is None:
            return ""
        nearby = [str(numbers[j]) for j in range(i, min(i + 1, len(objects))) if abs(times[j] - time_ms) <= 5]
        return f"({','.join(nearby)})" if nearby else ""

    return lookup
