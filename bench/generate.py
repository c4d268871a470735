"""Generation speed: tokens/s and seconds per audio second for the tiny v29 reference checkpoint
and a full-size v29 model (random weights from the v29 profile), on the first 30 s of
../shared/fixtures/audio/tones.wav. Every window decodes a fixed number of tokens greedily.

Rows: our decoder (preallocated KV cache) one window at a time and with the windows batched, in fp32
and with `--precision amp` (bf16 autocast for the encoder side); two baselines in the same run: the
generic transformers decoder with its own cache (the path the original's generate takes) and
recomputing the whole sequence every step. Every fp32 row must give the recompute baseline's tokens
exactly; amp rows report how many tokens agree. The original does 15.0 tokens/s (full size) and
72.9 tokens/s (tiny) on the machine its figures were taken on.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
TOKENS_PER_WINDOW = 32
WINDOWS = int(os.environ.get("BENCH_WINDOWS", "4"))
ORIGINAL = {"tiny": 72.9, "full": 15.0}


def main() -> None:
    import torch

    from models.audio.loading import load_audio
    from models.decoding.batch import DecodeRequest
    from models.factory import build_config
    from models.generation.windows import make_windows
    from models.loading import load_model
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning, ContextBlock, build_prompt
    from tokenization.vocabulary import Vocabulary

    torch.manual_seed(0)
    audio_path = SHARED / "fixtures" / "audio" / "tones.wav"
    if not audio_path.exists():
        print("needs ../shared/fixtures: nothing to measure")
        return
    audio = load_audio(audio_path)[: 30 * 16000]
    profile = load_profile("v29")
    vocab = Vocabulary.load(SHARED / "fixtures" / "ref-v29-tiny")
    models = {"tiny": load_model(SHARED / "fixtures" / "ref-v29-tiny"),
              "full": Mapperatorinator(build_config(profile, vocab)).eval()}
    windows = make_windows(audio, profile, 0.5, 0.4)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; {TOKENS_PER_WINDOW} tokens per window, {WINDOWS} windows")
    for name, model in models.items():
        requests, frames = [], []
        for index, start in enumerate(windows.starts_ms[:WINDOWS]):
            prompt = build_prompt(vocab, Conditioning(difficulty=5.5, year=2023, song_length_ms=30000),
                                  window_start_ms=start, in_contexts=[ContextBlock(ContextType.NONE, [])],
                                  out_contexts=[ContextBlock(ContextType.MAP, [], finished=False)])
            requests.append(DecodeRequest(prompt, frozenset()))
            frames.append(torch.from_numpy(windows.frames(index).copy())[None])
        tokens = TOKENS_PER_WINDOW * len(requests)
        audio_s = len(requests) * windows.stride / 16000

        timed(_one_by_one, model, frames, requests, repeats=1)  # warm-up (allocator, kernels)
        base, base_s = timed(_recompute_all, model, frames, requests, repeats=1)
        generic, generic_s = timed(_one_by_one, model, frames, requests, True)
        rows = [("transformers decoder + cache (baseline)", generic, generic_s),
                ("recompute every step (baseline)", base, base_s)]
        for precision in ("fp32", "amp"):
            model.encoder_autocast = precision == "amp"
            ours, ours_s = timed(_one_by_one, model, frames, requests)
            together, together_s = timed(_batched, model, frames, requests)
            rows += [(f"ours {precision}, one window at a time", ours, ours_s),
                     (f"ours {precision}, {len(requests)} windows batched", together, together_s)]
        model.encoder_autocast = False
        print(f"{name}:")
        for label, result, seconds in rows:
            agree = sum(a == b for got, want in zip(result, base) for a, b in zip(got, want))
            print(f"  {label:42s} {tokens / seconds:7.1f} tokens/s  {seconds / audio_s:5.2f} s per audio s  "
                  f"{generic_s / seconds:4.1f}x generic  {tokens / seconds / ORIGINAL[name]:4.1f}x original's "
                  f"{ORIGINAL[name]}  tokens equal: {agree}/{tokens}")


def timed(run, *args, repeats: int = 3):
    """The result and the best wall time of `repeats` runs (the least disturbed by the machine)."""
    import torch

    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats):
            t0 = time.perf_counter()
            result = run(*args)
            best = min(best, time.perf_counter() - t0)
    return result, best


def _one_by_one(target, frames, requests, generic_cache: bool = False):
    from models.decoding.batch import SamplingSettings
    from models.decoding.decoder import Decoder

    decoder = Decoder(target, sampling=SamplingSettings(greedy=True), generic_cache=generic_cache)
    return [decoder.run(f, [r], TOKENS_PER_WINDOW)[0].tokens for f, r in zip(frames, requests)]


def _batched(target, frames, requests):
    import torch

    from models.decoding.batch import SamplingSettings
    from models.decoding.decoder import Decoder

    decoder = Decoder(target, sampling=SamplingSettings(greedy=True))
    return [r.tokens for r in decoder.run(torch.cat(frames), requests, TOKENS_PER_WINDOW)]


def _recompute_all(model, frames, requests):
    return [_recompute(model, f, r.prompt, TOKENS_PER_WINDOW) for f, r in zip(frames, requests)]


def _recompute(model, frames, prompt, count):
    import torch

    ids = torch.tensor([prompt])
    encoder = model.encode(frames)
    out = []
    for _ in range(count):
        logits, _ = model.decode(ids, encoder, use_cache=False)
        token = int(logits[0, -1].argmax())
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    return out


if __name__ == "__main__":
    main()
