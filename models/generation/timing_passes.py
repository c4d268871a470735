"""`mapper timing`: many greedy timing passes over shifted audio, voted into one beat grid.

Every pass shifts the song by a random offset (up to half a window either way) and cuts it into
non-overlapping windows; as no window depends on another, the windows of all passes are decoded
together in batches (the original runs the passes one after another). The beat markers, shifted
back to song time, vote in `super_timing`, and `timing_fit` turns the voted grid into red lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from models.decoding.batch import DecodeRequest, SamplingSettings
from models.decoding.decoder import Decoder
from models.decoding.rules import MonotonicTime
from models.generation.event_times import beat_markers
from models.generation.generator import embedding_inputs, rule_tokens
from models.generation.trace import call_record
from models.timing.fit import BeatMarker, RedLine, fit_timing
from models.timing.super_timing import TimingVotes, vote_beats
from profiles.settings import Profile
from tokenization.events import ContextType
from tokenization.prompt import Conditioning, ContextBlock, build_prompt
from tokenization.tokenizer import Tokenizer
from tokenization.vocabulary import EOS_ID, Vocabulary

# A timing window never needs more: 300 BPM is 5 beats/s of at most 3 tokens each; the rest is
# margin. It bounds the cost of a model that never stops (random or unsuitable weights).
MAX_TOKENS_PER_SECOND = 40


@dataclass(frozen=True)
class _Job:
    pass_index: int
    offset_ms: int  # the pass's audio was delayed by this much (negative: cut)
    start_ms: int  # window start in the shifted audio
    frames: np.ndarray


@dataclass
class TimingResult:
    red_lines: list[RedLine]
    passes: int
    markers: list[BeatMarker]  # the voted grid
    tokens: int


def timing_context(vocab: Vocabulary) -> ContextType:
    """Models that interleave timing into the map (v30) write beats in MAP."""
    return ContextType.TIMING if ContextType.TIMING in vocab.context_sos else ContextType.MAP


def _jobs(audio: np.ndarray, profile: Profile, passes: int, rng: np.random.Generator) -> list[_Job]:
    rate = profile.audio.sample_rate
    samples = (profile.model.src_seq_len - 1) * profile.audio.hop_length
    window_ms = samples * 1000 // rate
    jobs = []
    for index in range(passes):
        offset = int(rng.integers(-window_ms // 2, window_ms // 2)) if passes > 1 else 0
        shift = offset * rate // 1000
        shifted = np.concatenate([np.zeros(shift, np.float32), audio]) if shift >= 0 else audio[-shift:]
        for start in range(0, max(len(shifted), 1), samples):
            frames = np.zeros(samples, np.float32)
            chunk = shifted[start:start + samples]
            frames[:len(chunk)] = chunk
            jobs.append(_Job(index, offset, start * 1000 // rate, frames))
    return jobs


def run_timing_passes(model, vocab: Vocabulary, profile: Profile, audio: np.ndarray, conditioning: Conditioning, *,
                      passes: int = 20, batch_size: int = 16, seed: int | None = None, device: str = "cpu",
                      max_tokens: int | None = None,
                      progress: Callable[[str, int, int], None] | None = None,
                      trace: Callable[[dict], None] | None = None) -> TimingResult:
    rng = np.random.default_rng(seed)
    jobs = _jobs(audio, profile, passes, rng)
    context = timing_context(vocab)
    tokenizer = Tokenizer(vocab, profile.tokenizer)
    tokens = rule_tokens(vocab)
    end_ids = frozenset({EOS_ID, *([vocab.context_eos[context]] if context in vocab.context_eos else [])})
    in_blocks = [ContextBlock(ContextType(c), []) for c in profile.inference.in_context
                 if ContextType(c) in vocab.context_sos]
    window_ms = profile.window_ms
    decoder = Decoder(model, rules=[MonotonicTime(tokens)], sampling=SamplingSettings(greedy=True))
    markers_by_pass: list[list[BeatMarker]] = [[] for _ in range(passes)]
    song_ms = len(audio) * 1000 / profile.audio.sample_rate
    generated = 0
    for first in range(0, len(jobs), batch_size):
        batch = jobs[first:first + batch_size]
        prompts = [build_prompt(vocab, conditioning, window_start_ms=max(0, j.start_ms - j.offset_ms),
                                in_contexts=in_blocks, out_contexts=[ContextBlock(context, [], finished=False)])
                   for j in batch]
        room = min(profile.model.tgt_seq_len - max(len(p) for p in prompts),
                   int(window_ms / 1000 * MAX_TOKENS_PER_SECOND), max_tokens or 1 << 30)
        extra = [embedding_inputs(model, vocab, conditioning, max(0, j.start_ms - j.offset_ms), window_ms)
                 for j in batch]
        cond = {k: torch.cat([e[k] for e in extra]).to(device) for k in extra[0]} if extra and extra[0] else None
        frames = torch.from_numpy(np.stack([j.frames for j in batch])).to(device)
        results = decoder.run(frames, [DecodeRequest(p, end_ids) for p in prompts], max(1, room), conditioning=cond)
        for job, prompt, result in zip(batch, prompts, results):
            generated += len(result.tokens)
            if trace is not None:  # window index: the job's place in its shifted pass
                trace(call_record(f"timing/pass{job.pass_index}", int(job.start_ms // window_ms), job.start_ms, 0.0, 0.0,
                                  prompt, result.tokens, result.ended))
            events = tokenizer.to_absolute(tokenizer.decode([t for t in result.tokens if t not in end_ids]),
                                           job.start_ms)
            for marker in beat_markers(events, profile.tokenizer.types_first):
                if job.start_ms <= marker.time < job.start_ms + window_ms:
                    song_time = marker.time - job.offset_ms
                    if 0 <= song_time < song_ms:
                        markers_by_pass[job.pass_index].append(BeatMarker(song_time, marker.kind))
        if progress is not None:
            progress("timing", min(first + batch_size, len(jobs)), len(jobs))
    votes = TimingVotes(int(song_ms))
    for markers in markers_by_pass:
        votes.add_pass(markers)
    voted = vote_beats(votes, profile.inference.timer_bpm_threshold) if passes > 1 else sorted(
        markers_by_pass[0], key=lambda m: m.time)
    return TimingResult(fit_timing(voted, profile.inference.timing_leniency), passes, voted, generated)
