"""Generation speed: tokens/s and seconds per audio second, KV-cache decoding vs recomputing everything.

For the tiny v29 reference checkpoint and a full-size v29 model (random weights from the v29
profile), on the first 30 s of ../shared/fixtures/audio/tones.wav: every window decodes a fixed
number of tokens greedily, once with our decoding loop and once with a baseline that recomputes
the whole sequence each step (as an uncached generate would). Both must give identical tokens.
The original does 15.0 tokens/s (full size) and 72.9 tokens/s (tiny) on this machine.
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

    from models.audio import load_audio
    from models.decoding import Decoder, DecodeRequest, SamplingSettings
    from models.factory import build_config
    from models.generation import make_windows
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
    for name, model in models.items():
        requests, frames = [], []
        for index, start in enumerate(windows.starts_ms[:WINDOWS]):
            prompt = build_prompt(vocab, Conditioning(difficulty=5.5, year=2023, song_length_ms=30000),
                                  window_start_ms=start, in_contexts=[ContextBlock(ContextType.NONE, [])],
                                  out_contexts=[ContextBlock(ContextType.MAP, [], finished=False)])
            requests.append(DecodeRequest(prompt, frozenset()))
            frames.append(torch.from_numpy(windows.frames(index).copy())[None])
        decoder = Decoder(model, sampling=SamplingSettings(greedy=True))
        with torch.inference_mode():
            t0 = time.perf_counter()
            ours = [decoder.run(f, [r], TOKENS_PER_WINDOW)[0].tokens for f, r in zip(frames, requests)]
            ours_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            batched = [r.tokens for r in decoder.run(torch.cat(frames), requests, TOKENS_PER_WINDOW)]
            batched_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            base = [_recompute(model, f, r.prompt, TOKENS_PER_WINDOW) for f, r in zip(frames, requests)]
            base_s = time.perf_counter() - t0
        tokens = TOKENS_PER_WINDOW * len(requests)
        audio_s = len(requests) * windows.stride / 16000
        print(f"{name:4s}: ours {tokens / ours_s:7.1f} tokens/s ({ours_s / audio_s:.2f} s per audio s) | "
              f"recompute baseline {tokens / base_s:7.1f} tokens/s | {base_s / ours_s:.1f}x | "
              f"vs original {tokens / ours_s / ORIGINAL[name]:.1f}x | identical: {ours == base}")
        print(f"{'':4s}  windows batched ({len(requests)} at once, as independent windows allow): "
              f"{tokens / batched_s:7.1f} tokens/s | vs original {tokens / batched_s / ORIGINAL[name]:.1f}x | "
              f"identical: {batched == base}")


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
