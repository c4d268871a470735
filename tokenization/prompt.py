"""Decoder prompts: in-context blocks, the metadata prefix, SOS and the out-context blocks.

`[ctx_sos in-context events ctx_eos]... [class tokens] [last kiai] [last sv] [song position] SOS
[ctx_sos out-context events ctx_eos]... [ctx_sos current-context prefill`

Which class tokens appear is decided by the vocabulary: a model gets a token kind only if its
`tokenizer.json` has that range (and the game mode uses it), so the same builder serves v29-v32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokenization.events import ContextType, Event, EventType
from tokenization.vocabulary import SOS_ID, Vocabulary

E = EventType
UNKNOWN_YEAR = 2077
MAX_SONG_LENGTH_BIN = 60
SONG_LENGTH_BIN_MS = 10_000
DEFAULT_LAST_SV = 100  # x1.00
RATIO_UNKNOWN = 12


@dataclass
class Conditioning:
    """What the user (or a reference beatmap) says about the map to make; None means unknown."""

    gamemode: int = 0
    difficulty: float | None = None  # star rating
    mapper_id: int | None = None  # osu! user id
    year: int | None = None
    hitsounded: bool = True
    song_length_ms: float = 0.0
    slider_multiplier: float = 1.4
    circle_size: float | None = 4.0
    keycount: int = 4
    hold_note_ratio: float | None = None
    scroll_speed_ratio: float | None = None
    descriptors: list[str] = field(default_factory=list)
    beatmap_id: int | None = None
    negative_descriptors: list[str] = field(default_factory=list)  # what guidance steers away from


def negative_conditioning(c: Conditioning) -> Conditioning:
    """The unconditional side of classifier-free guidance (reference inference.md §2.8): the same
    metadata with the negative descriptors (descriptor-unknown if none) in place of the wanted ones,
    no beatmap class, and the mapper kept only when descriptors are in play."""
    import dataclasses

    keep_mapper = bool(c.descriptors or c.negative_descriptors)
    return dataclasses.replace(c, descriptors=list(c.negative_descriptors), negative_descriptors=[], beatmap_id=None,
                               mapper_id=c.mapper_id if keep_mapper else None)


def _ratio_value(ratio: float | None) -> int:
    if ratio is None:
        return RATIO_UNKNOWN
    if ratio <= 0:
        return -1
    if ratio >= 1:
        return 11
    return round(ratio * 10)


def class_tokens(vocab: Vocabulary, c: Conditioning, *, unknown_descriptor_fallback: bool = True) -> list[int]:
    """The metadata prefix for these settings, in the order the models were trained with."""
    ids: list[int] = []

    def add(kind: EventType, value: int) -> None:
        if vocab.has(kind):
            ids.append(vocab.encode_clipped(kind, value))

    std_or_catch = c.gamemode in (0, 2)
    add(E.GAMEMODE, c.gamemode)
    if vocab.has(E.STYLE):
        add(E.STYLE, vocab.beatmap_idx.get(c.beatmap_id, vocab.num_classes) if c.beatmap_id else vocab.num_classes)
    if c.difficulty is None:
        add(E.DIFFICULTY, vocab.num_diff_classes)
    elif vocab.max_difficulty:
        bin_ = int(c.difficulty * vocab.num_diff_classes / vocab.max_difficulty)
        add(E.DIFFICULTY, min(max(bin_, 0), vocab.num_diff_classes - 1))
    add(E.MAPPER, vocab.mapper_idx.get(c.mapper_id, vocab.num_mapper_classes) if c.mapper_id is not None
        else vocab.num_mapper_classes)
    add(E.YEAR, c.year if c.year is not None else UNKNOWN_YEAR)
    add(E.HITSOUNDED, int(c.hitsounded))
    add(E.SONG_LENGTH, min(max(int(c.song_length_ms // SONG_LENGTH_BIN_MS), 0), MAX_SONG_LENGTH_BIN))
    if std_or_catch:
        add(E.GLOBAL_SV, round(min(max(c.slider_multiplier, 0.4), 3.6) * 100))
        if c.circle_size is None or not vocab.num_cs_classes:
            add(E.CS, vocab.num_cs_classes)
        else:
            cs_bin = int(c.circle_size * (vocab.num_cs_classes - 1) / 10)
            add(E.CS, min(max(cs_bin, 0), vocab.num_cs_classes - 1))
    if c.gamemode == 3:
        add(E.MANIA_KEYCOUNT, c.keycount)
        add(E.HOLD_NOTE_RATIO, _ratio_value(c.hold_note_ratio))
    if c.gamemode in (1, 3):
        add(E.SCROLL_SPEED_RATIO, _ratio_value(c.scroll_speed_ratio))
    if vocab.has(E.DESCRIPTOR):
        known = [vocab.descriptor_idx[d] for d in c.descriptors if d in vocab.descriptor_idx]
        if not known and unknown_descriptor_fallback:
            known = [vocab.num_descriptor_classes]
        ids.extend(vocab.encode_clipped(E.DESCRIPTOR, d) for d in known)
    return ids


def unknown_descriptors(vocab: Vocabulary, descriptors: list[str]) -> list[str]:
    return [d for d in descriptors if d not in vocab.descriptor_idx]


def song_position_value(window_start_ms: float, song_length_ms: float) -> int:
    ratio = window_start_ms / song_length_ms if song_length_ms > 0 else 0.0
    if ratio <= 0:
        return -1
    if ratio >= 1:
        return 101
    return min(max(round(ratio * 100), 0), 100)


def last_value_before(events: list[Event], times: list[int], kind: EventType, before_ms: float,
                      default: int) -> int:
    """The value of the last `kind` event (in list order) whose group time is before `before_ms`:
    the prompt's last-kiai and last-scroll-speed tokens, as the original finds them."""
    for event, time in zip(reversed(events), reversed(times)):
        if event.type is kind and time < before_ms:
            return event.value
    return default


def special_tokens(vocab: Vocabulary, *, window_start_ms: float, song_length_ms: float, last_kiai: int = 0,
                   last_sv: int = DEFAULT_LAST_SV) -> list[int]:
    """last kiai, last slider velocity and song position, for the models whose vocabulary has them."""
    ids = []
    if vocab.has(E.KIAI):
        ids.append(vocab.encode_clipped(E.KIAI, last_kiai))
    if vocab.has(E.SCROLL_SPEED):
        ids.append(vocab.encode_clipped(E.SCROLL_SPEED, last_sv))
    if vocab.has(E.SONG_POSITION):
        ids.append(vocab.encode_clipped(E.SONG_POSITION, song_position_value(window_start_ms, song_length_ms)))
    return ids


@dataclass
class ContextBlock:
    context: ContextType
    token_ids: list[int]  # the window's event ids
    class_ids: list[int] = field(default_factory=list)  # own metadata (guest difficulty references)
    finished: bool = True  # the current out-context is left open for the model to continue


def build_prompt(vocab: Vocabulary, conditioning: Conditioning, *, window_start_ms: float,
                 in_contexts: list[ContextBlock] = (), out_contexts: list[ContextBlock] = (),
                 last_kiai: int = 0, last_sv: int = DEFAULT_LAST_SV, negative: bool = False) -> list[int]:
    ids: list[int] = []
    for block in in_contexts:
        ids += _block(vocab, block)
    ids += class_tokens(vocab, conditioning)
    ids += special_tokens(vocab, window_start_ms=window_start_ms, song_length_ms=conditioning.song_length_ms,
                          last_kiai=last_kiai, last_sv=last_sv)
    ids.append(SOS_ID)
    for block in out_contexts:
        ids += _block(vocab, block)
    return ids


def _block(vocab: Vocabulary, block: ContextBlock) -> list[int]:
    ids = []
    if block.context in vocab.context_sos:
        ids.append(vocab.context_sos[block.context])
    ids += block.class_ids + block.token_ids
    if block.finished and block.context in vocab.context_eos:
        ids.append(vocab.context_eos[block.context])
    return ids
