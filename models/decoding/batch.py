"""What one decoding call takes and gives: the rows of a batch (prompt, end ids, CFG twin), how
to sample, and each row's new tokens."""

from __future__ import annotations

from dataclasses import dataclass

EOS_TOKEN = 2  # the global end of sequence


@dataclass
class SamplingSettings:
    greedy: bool = False
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    num_beams: int = 1  # above 1: deterministic beam search (models.decoding.beam_search), no sampling


@dataclass
class DecodeRequest:
    """One row: its prompt, optional unconditional prompt (CFG), and the ids that end it."""

    prompt: list[int]
    end_ids: frozenset[int]
    negative_prompt: list[int] | None = None


@dataclass
class DecodeResult:
    tokens: list[int]  # new tokens, the ending token included when the row ended
    ended: bool  # False when max_new_tokens ran out
