"""How a model sees a beatmap window: events and token ids, for debugging and outside checks."""

from __future__ import annotations

from tokenization.beatmap import Beatmap
from tokenization.beatmap_to_events import BeatmapEncoder
from tokenization.events import ContextType
from tokenization.settings import TokenizerSettings
from tokenization.tokenizer import Tokenizer
from tokenization.vocabulary import Vocabulary


def window_tokens(beatmap: Beatmap, vocab: Vocabulary, settings: TokenizerSettings, *, start_ms: float = 0.0,
                  context: ContextType = ContextType.MAP) -> dict:
    """`{"events": [[type, value], ...], "token_ids": [...]}` for one window; time shifts in absolute ms."""
    tokenizer = Tokenizer(vocab, settings)
    events = BeatmapEncoder(beatmap, settings).context(context)
    window = tokenizer.window(events, start_ms)
    return {
        "context": context.value,
        "window_start_ms": window.start_ms,
        "window_end_ms": window.start_ms + settings.window_ms,
        "events": [[e.type.value, e.value] for e in tokenizer.absolute(window)],
        "token_ids": tokenizer.encode(window.events),
    }
