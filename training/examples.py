"""Training examples: MMRS rows -> (audio window, decoder input, labels) as the profile describes.

Per beatmap: one context recipe is drawn by weight; the song (sped up for DT augmentation) is cut
into non-overlapping windows of `src_seq_len - 1` frames starting at a random offset; each window
becomes `[in-context blocks] [metadata, some dropped to "unknown"] [last kiai/sv, position] SOS
[out-context blocks] EOS`. Labels are the next token for every position from SOS on, -100 before
(and for out-context events in the lookback share). Time shifts in the decoder *input* get a
small random jitter so the model learns to recover from its own timing noise (training.md §2).
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from profiles.settings import Profile
from tokenization.beatmap import Beatmap
from tokenization.beatmap_to_events import BeatmapEncoder, EventList
from tokenization.events import ContextType, Event, EventType
from tokenization.prompt import Conditioning, ContextBlock, build_prompt, class_tokens
from tokenization.tokenizer import Tokenizer
from tokenization.vocabulary import EOS_ID, SOS_ID, Vocabulary
from training.audio_cache import AudioCache

IGNORE = -100  # label of positions the loss skips
MS_PER_STEP = 10


@dataclass(frozen=True)
class Record:
    """One beatmap of a dataset, with what conditions it."""

    beatmap_path: Path
    audio_path: Path
    set_id: int
    star_ratings: tuple[float, ...]  # at training.mmrs.STAR_RATING_RATES
    mapper_id: int | None = None
    year: int | None = None
    descriptors: tuple[str, ...] = ()

    def stars_at(self, speed: float) -> float | None:
        from training.mmrs import STAR_RATING_RATES

        if len(self.star_ratings) != len(STAR_RATING_RATES):
            return None
        return float(np.interp(speed, STAR_RATING_RATES, self.star_ratings))


@dataclass
class Example:
    frames: np.ndarray  # raw samples of the window
    input_ids: list[int]
    labels: list[int]
    difficulty: float
    mapper_idx: int
    song_position: tuple[float, float]
    recipe: str = "none"


@dataclass
class _Song:
    """A beatmap read and encoded once per epoch, at one playback speed."""

    record: Record
    beatmap: Beatmap
    contexts: dict[ContextType, EventList] = field(default_factory=dict)


def read_records(root: str | Path, gamemodes: tuple[int, ...] | None = None) -> list[Record]:
    """Every beatmap of an MMRS dataset (optionally only some game modes), in table order."""
    from training import mmrs

    frame = mmrs.read_metadata(root)
    records = []
    for row in frame.to_dict("records"):
        if gamemodes is not None and int(row["ModeInt"]) not in gamemodes:
            continue
        year, tags, stars, user = (row.get(k) for k in ("SubmittedDate", "OmdbTags", "StarRating", "UserId"))
        records.append(Record(
            beatmap_path=mmrs.beatmap_path(root, row), audio_path=mmrs.audio_path(root, row),
            set_id=int(row["BeatmapSetId"]), star_ratings=tuple(float(s) for s in stars) if stars is not None else (),
            mapper_id=int(user) if user is not None and user == user else None,
            year=int(year.year) if year is not None and year == year else None,
            descriptors=tuple(str(t) for t in tags) if tags is not None else ()))
    return records


def split_records(records: list[Record], eval_share: float = 0.1) -> tuple[list[Record], list[Record]]:
    """Train and eval beatmaps, split by set so a song never sits on both sides; a dataset with a
    single set evaluates on its training set (overfitting demos)."""
    sets = sorted({r.set_id for r in records})
    if len(sets) < 2:
        return records, records
    held = set(sets[:: max(2, round(1 / eval_share))][: max(1, int(len(sets) * eval_share))])
    return [r for r in records if r.set_id not in held], [r for r in records if r.set_id in held]


class ExampleMaker:
    """Turns records into examples for one profile and vocabulary; all randomness from `rng`."""

    def __init__(self, profile: Profile, vocab: Vocabulary, *, train: bool = True, audio: AudioCache | None = None):
        self.profile = profile
        self.audio = audio or AudioCache(None, profile.audio.sample_rate)
        self.vocab = vocab
        self.train = train
        self.tokenizer = Tokenizer(vocab, profile.tokenizer)
        self.frame_count = profile.model.src_seq_len - 1
        self.samples = self.frame_count * profile.audio.hop_length
        self.window_ms = self.samples * 1000 / profile.audio.sample_rate
        self.max_tokens = profile.model.tgt_seq_len
        shifts = vocab.type_ids(EventType.TIME_SHIFT)
        self._shift_lo, self._shift_hi = shifts.start, shifts.stop - 1
        self._templates = [t for t in profile.templates if all(
            ContextType(c) in vocab.context_sos or c == "none" for c in t.inputs)] or list(profile.templates)

    # -- one beatmap --------------------------------------------------------------------------
    def examples(self, record: Record, rng: random.Random, siblings: list[Record] = ()) -> Iterator[Example]:
        from tokenization import read_beatmap

        t = self.profile.training
        speed = 1.0
        if self.train and t.speed_augment_probability > 0 and rng.random() < t.speed_augment_probability:
            speed = rng.uniform(*t.speed_augment)
        audio = self.audio.samples(record.audio_path, speed)
        song = _Song(record, read_beatmap(record.beatmap_path))
        recipe = rng.choices(self._templates, weights=[tp.weight for tp in self._templates])[0]
        inputs = list(recipe.inputs)
        gd_source = None
        if "gd" in inputs:
            others = [s for s in siblings if s.beatmap_path != record.beatmap_path]
            if others:
                gd_source = _Song(others[rng.randrange(len(others))], None)  # read lazily below
                gd_source.beatmap = read_beatmap(gd_source.record.beatmap_path)
            else:
                inputs = ["none" if c == "gd" else c for c in inputs]
        song_ms = len(audio) * 1000 / self.profile.audio.sample_rate
        outputs = [c for c in recipe.outputs if c != "sv" or song.beatmap.mode.value == 3]
        conditioning = self._conditioning(song, speed, song_ms)
        streams = {c: self._events(song, ContextType(c), speed, song_ms) for c in set(inputs + outputs) - {"none", "gd"}}
        if gd_source is not None:
            streams["gd"] = self._events(gd_source, ContextType.MAP, speed, song_ms)
            gd_classes = class_tokens(self.vocab, self._conditioning(gd_source, speed, song_ms))
        total_frames = -(-len(audio) // self.profile.audio.hop_length)
        offset = rng.randrange(self.frame_count) if self.train and t.frame_offset_augment else 0
        hop = self.profile.audio.hop_length
        for start_frame in range(offset, max(total_frames, 1), self.frame_count):
            start_ms = start_frame * hop * 1000 / self.profile.audio.sample_rate
            frames = np.zeros(self.samples, dtype=np.float32)
            chunk = audio[start_frame * hop:start_frame * hop + self.samples]
            frames[:len(chunk)] = chunk
            in_blocks = []
            for c in inputs:
                if c == "none":
                    in_blocks.append(ContextBlock(ContextType.NONE, []))
                else:
                    ids = self.tokenizer.encode(self.tokenizer.window(streams[c], start_ms, self.window_ms).events)
                    in_blocks.append(ContextBlock(ContextType(c), ids, gd_classes if c == "gd" else []))
            yield self._example(frames, start_ms, song_ms, conditioning, in_blocks, outputs, streams, rng,
                                song.record, "+".join(inputs) or "none", given=recipe.given)

    def _example(self, frames, start_ms, song_ms, conditioning, in_blocks, outputs, streams, rng, record, recipe,
                 given: tuple[str, ...] = ()):
        """One window's example. Outputs named in `given` (the template's) are context: their whole block,
        SOS and EOS included, is in the sequence without a loss, as generation gives a finished context."""
        t = self.profile.training
        end_ms = start_ms + self.window_ms * (1 - t.lookahead)
        lookback_ms = start_ms + self.window_ms * t.lookback if (
            self.train and t.lookback > 0 and rng.random() < t.lookback_probability) else start_ms
        out_blocks, in_lookback = [], []
        for c in outputs:
            window = self.tokenizer.window(streams[c], start_ms, end_ms - start_ms)
            out_blocks.append(ContextBlock(ContextType(c), self.tokenizer.encode(window.events)))
            in_lookback.append(sum(1 for time in window.times if time < lookback_ms))
        dropped = self._drop_metadata(conditioning, rng)
        prompt = build_prompt(self.vocab, dropped, window_start_ms=start_ms, in_contexts=in_blocks, out_contexts=[],
                              last_kiai=_last_value(streams.get("kiai"), start_ms, EventType.KIAI, 0),
                              last_sv=_last_value(streams.get("map"), start_ms, EventType.SCROLL_SPEED, 100))
        out_ids, out_given = [], []
        for block, n_given in zip(out_blocks, in_lookback):
            sos = [self.vocab.context_sos[block.context]] if block.context in self.vocab.context_sos else []
            eos = [self.vocab.context_eos[block.context]] if block.context in self.vocab.context_eos else []
            if block.context.value in given:  # the whole block is context
                out_given.append((len(out_ids), len(sos) + len(block.token_ids) + len(eos)))
            else:
                out_given.append((len(out_ids) + len(sos), n_given))
            out_ids += sos + block.token_ids + eos
        prompt, out_ids = self._fit(prompt, out_ids)
        sequence = prompt + out_ids + [EOS_ID]
        inputs = sequence[:-1]
        labels = [IGNORE] * (len(prompt) - 1) + sequence[len(prompt):]
        for first, n_given in out_given:  # events in the lookback share are context, not targets
            for i in range(first, min(first + n_given, len(out_ids))):
                labels[len(prompt) - 1 + i] = IGNORE
        if self.train and t.time_jitter_ms > 0:
            inputs = self._jitter(inputs, len(prompt), round(t.time_jitter_ms / MS_PER_STEP), rng)
        window_frames = (start_ms, start_ms + self.window_ms)
        return Example(frames, inputs, labels, difficulty=conditioning.difficulty if conditioning.difficulty is not None
                       else -1.0, mapper_idx=self.vocab.mapper_idx.get(dropped.mapper_id, self.vocab.num_mapper_classes)
                       if dropped.mapper_id is not None else self.vocab.num_mapper_classes,
                       song_position=(min(window_frames[0] / song_ms, 1.0), min(window_frames[1] / song_ms, 1.0)),
                       recipe=recipe)

    # -- pieces -------------------------------------------------------------------------------
    def _conditioning(self, song: _Song, speed: float, song_ms: float) -> Conditioning:
        bm, record = song.beatmap, song.record
        stars = record.stars_at(speed)
        objects = [o for o in bm.hit_objects]
        holds = sum(1 for o in objects if type(o).__name__ == "HoldNote")
        return Conditioning(
            gamemode=bm.mode.value, difficulty=stars, mapper_id=record.mapper_id, year=record.year,
            hitsounded=any(getattr(o, "hitsound", 0) for o in objects), song_length_ms=song_ms,
            slider_multiplier=bm.difficulty.slider_multiplier, circle_size=bm.difficulty.circle_size,
            keycount=int(bm.difficulty.circle_size), hold_note_ratio=holds / len(objects) if objects else None,
            descriptors=list(record.descriptors))

    def _drop_metadata(self, c: Conditioning, rng: random.Random) -> Conditioning:
        p = self.profile.training.metadata_dropout if self.train else 0.0
        if p <= 0:
            return c
        drop = lambda: rng.random() < p  # noqa: E731
        return dataclasses.replace(
            c, difficulty=None if drop() else c.difficulty, mapper_id=None if drop() else c.mapper_id,
            year=None if drop() else c.year, circle_size=None if drop() else c.circle_size,
            hold_note_ratio=None if drop() else c.hold_note_ratio, descriptors=[] if drop() else c.descriptors)

    def _events(self, song: _Song, context: ContextType, speed: float, song_ms: float) -> EventList:
        if context not in song.contexts:
            song.contexts[context] = BeatmapEncoder(song.beatmap, self.profile.tokenizer).context(context, song_ms * speed)
        events = song.contexts[context]
        if speed == 1.0:
            return events
        shift = EventType.TIME_SHIFT
        return EventList([Event(shift, int(e.value / speed)) if e.type is shift else e for e in events.events],
                         [int(time / speed) for time in events.times])

    def _fit(self, prompt: list[int], out_ids: list[int]) -> tuple[list[int], list[int]]:
        """Cut the out-context tokens, then the prompt's front (in-contexts), to the decoder length."""
        room = self.max_tokens - 1  # the final EOS
        out_ids = out_ids[:max(room - len(prompt), min(len(out_ids), room // 2))]
        if len(prompt) + len(out_ids) > room:
            sos = prompt.index(SOS_ID) if SOS_ID in prompt else 0
            cut = len(prompt) + len(out_ids) - room
            prompt = prompt[cut:] if cut <= sos else prompt[sos:]
        return prompt, out_ids

    def _jitter(self, inputs: list[int], first: int, steps: int, rng: random.Random) -> list[int]:
        lo, hi = self._shift_lo, self._shift_hi
        out = list(inputs)
        for i in range(first, len(out)):
            if lo <= out[i] <= hi:
                out[i] = min(max(out[i] + rng.randint(-steps, steps), lo), hi)
        return out


def _last_value(events: EventList | None, before_ms: float, kind: EventType, default: int) -> int:
    value = default
    if events is None:
        return value
    for event, time in zip(events.events, events.times):
        if time >= before_ms:
            break
        if event.type is kind:
            value = event.value
    return value


def collate(examples: list[Example], pad_id: int = 0) -> dict:
    """A batch: frames stacked, token rows right-padded to the longest."""
    import torch

    length = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), length), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), length), IGNORE, dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, :len(e.input_ids)] = torch.tensor(e.input_ids)
        labels[row, :len(e.labels)] = torch.tensor(e.labels)
    return {
        "frames": torch.from_numpy(np.stack([e.frames for e in examples])),
        "decoder_input_ids": ids,
        "decoder_attention_mask": (ids != pad_id).long(),
        "labels": labels,
        "difficulty": torch.tensor([e.difficulty for e in examples], dtype=torch.float32),
        "mapper_idx": torch.tensor([e.mapper_idx for e in examples], dtype=torch.long),
        "song_position": torch.tensor([e.song_position for e in examples], dtype=torch.float32),
    }
