"""Generation speed, in three sections (BENCH_SECTIONS=decode,cuda,song picks them; BENCH_MODELS=tiny,full
the models of the first; BENCH_WINDOWS, BENCH_TOKENS, BENCH_REPEATS the size of the workload):

Over 300 lines: three measurements that share their workload, timing rounds and report, kept in
one script so each ratio is against a baseline run in the same process.

decode: tokens/s of the decoding loop for the tiny v29 reference checkpoint and a full-size v29
  model (213 M parameters, random weights from the v29 profile), on the first windows of
  ../shared/fixtures/audio/tones.wav, every window decoding BENCH_TOKENS tokens greedily, on the CPU.
  Rows: the transformers decoder with its own cache (the path the original's generate takes: the
  baseline every ratio is against), our lean decoder in fp32 and `--precision int8`, one window at a
  time and with the windows batched; for the tiny model also recomputing the whole sequence every
  step (its time includes encoding). Encoder states are computed beforehand for the other rows: the
  same fp32 work in each (`--precision amp` changes only that side, so it has no row here). Configurations are timed in interleaved rounds (best of BENCH_REPEATS),
  so a busy machine slows them alike. Every fp32 row must give the baseline's tokens exactly; the
  others report how many tokens agree. Random weights make near ties common, so agreement there is a
  pessimistic figure; a last line gives int8's agreement on a briefly trained tiny model. A bf16 line
  times one decoder layer's products in bf16 against fp32 (why there is no bf16 mode for the CPU).
cuda: with a CUDA GPU, full-size v29 one window at a time: the transformers decoder, our decoder
  eager, and its step replayed as a CUDA graph (models.static_kv_decoder), and the windows batched;
  graphed tokens must equal eager fp32's. Skipped, with a line, without a GPU.
song: `mapper generate` on a 3-minute song (BENCH_SONG_SECONDS; tones.wav repeated), every pass with super timing, the
  seconds each pass takes and the real-time factor (generation time / song length), with the tiny profile
  trained briefly on a click-track map (a model with random weights never ends its windows, so a whole song
  needs a trained one; no trained full-size checkpoint is at hand offline). fp32 and int8 on the CPU, fp32 on
  the GPU when there is one; then the bundled starter as `mapper generate SONG --difficulty 5.5` runs it, on
  the README's real recording repeated to the same length, beside the tiny fp32 run (the section's baseline).

The original does 15.0 tokens/s (full size) and 72.9 tokens/s (tiny) on the machine its figures were
taken on.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared"
TOKENS_PER_WINDOW = int(os.environ.get("BENCH_TOKENS", "32"))
WINDOWS = int(os.environ.get("BENCH_WINDOWS", "4"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
SECTIONS = os.environ.get("BENCH_SECTIONS", "decode,cuda,song").split(",")
MODELS = os.environ.get("BENCH_MODELS", "tiny,full").split(",")  # in the decode section
ORIGINAL = {"tiny": 72.9, "full": 15.0}
SONG_SECONDS = float(os.environ.get("BENCH_SONG_SECONDS", "180"))
TRAIN_STEPS = 300  # the tiny profile on a click-track map: enough to end its windows (bench/generate_modes.py)


def main() -> None:
    import torch

    audio_path = SHARED / "fixtures" / "audio" / "tones.wav"
    if not audio_path.exists():
        print("needs ../shared/fixtures: nothing to measure")
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; {TOKENS_PER_WINDOW} tokens per window, {WINDOWS} windows, "
          f"best of {REPEATS} interleaved rounds")
    workload = _workload(audio_path) if {"decode", "cuda"} & set(SECTIONS) else None  # the song section has its own
    if "decode" in SECTIONS:
        _decode_section(workload)
    if "cuda" in SECTIONS:
        _cuda_section(workload)
    if "song" in SECTIONS:
        _song_section(audio_path)


# -- decode -----------------------------------------------------------------------------------------
def _workload(audio_path):
    """The models and, for each, the windows' frames and prompts."""
    import torch

    from models.audio.loading import load_audio
    from models.decoding.decoder import DecodeRequest
    from models.factory import build_config
    from models.generation.windows import make_windows
    from models.loading import load_model
    from models.modeling_mapperatorinator import Mapperatorinator
    from profiles import load_profile
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning, ContextBlock, build_prompt
    from tokenization.vocabulary import Vocabulary

    torch.manual_seed(0)
    audio = load_audio(audio_path)[: 60 * 16000]
    profile = load_profile("v29")
    vocab = Vocabulary.load(SHARED / "fixtures" / "ref-v29-tiny")
    windows = make_windows(audio, profile, 0.5, 0.4)
    requests, frames = [], []
    for index, start in enumerate(windows.starts_ms[:WINDOWS]):
        prompt = build_prompt(vocab, Conditioning(difficulty=5.5, year=2023, song_length_ms=60000),
                              window_start_ms=start, in_contexts=[ContextBlock(ContextType.NONE, [])],
                              out_contexts=[ContextBlock(ContextType.MAP, [], finished=False)])
        requests.append(DecodeRequest(prompt, frozenset()))
        frames.append(torch.from_numpy(windows.frames(index).copy())[None])
    models = {"tiny": lambda: load_model(SHARED / "fixtures" / "ref-v29-tiny"),
              "full": lambda: Mapperatorinator(build_config(profile, vocab)).eval()}
    return models, frames, requests


def _decode_section(workload) -> None:
    make_models, frames, requests = workload
    for name, make in make_models.items():
        if name in MODELS:
            _decode_rows(name, make(), frames, requests)
    _bf16_line()
    _trained_agreement()


def _decode_rows(name: str, model, frames, requests) -> None:
    import copy

    from models.quantization import quantize_decoder

    tokens = TOKENS_PER_WINDOW * len(requests)
    int8 = quantize_decoder(copy.deepcopy(model))
    n = len(requests)
    configs = {"transformers decoder + cache (baseline)": lambda: _one_by_one(model, frames, requests, True),
               "ours fp32, one window at a time": lambda: _one_by_one(model, frames, requests),
               f"ours fp32, {n} windows batched": lambda: _batched(model, frames, requests),
               "ours int8, one window at a time": lambda: _one_by_one(int8, frames, requests),
               f"ours int8, {n} windows batched": lambda: _batched(int8, frames, requests)}
    if name == "tiny":
        configs["recompute every step (baseline)"] = lambda: _recompute_all(model, frames, requests)
    results = interleaved(configs)
    base, base_s = results["transformers decoder + cache (baseline)"]
    print(f"{name} ({sum(p.numel() for p in model.parameters()) / 1e6:.0f} M parameters):")
    for label, (result, seconds) in results.items():
        print(f"  {label:42s} {tokens / seconds:7.1f} tokens/s  {base_s / seconds:4.1f}x baseline  "
              f"{tokens / seconds / ORIGINAL[name]:4.1f}x original's {ORIGINAL[name]}  "
              f"tokens equal to fp32: {_agree(result, base)}/{tokens}", flush=True)


def interleaved(configs: dict) -> dict:
    """{label: (result, best seconds)}: one warm-up each, then REPEATS rounds that run every
    configuration in turn, so that load from elsewhere on the machine falls on all of them."""
    import torch

    best: dict = {}
    with torch.inference_mode():
        for run in configs.values():
            if REPEATS > 1:
                run()  # allocator, kernels, lazily built caches
        for _ in range(REPEATS):
            for label, run in configs.items():
                t0 = time.perf_counter()
                result = run()
                seconds = time.perf_counter() - t0
                if label not in best or seconds < best[label][1]:
                    best[label] = (result, seconds)
    return {label: best[label] for label in configs}


def _agree(result, reference) -> int:
    return sum(a == b for got, want in zip(result, reference) for a, b in zip(got, want))


def _one_by_one(target, frames, requests, generic_cache: bool = False):
    """Each window decoded on its own, from encoder states computed beforehand (the encoder is the same
    fp32 work in every row; generation encodes each window once for all its passes)."""
    from models.decoding.decoder import Decoder, SamplingSettings

    decoder = Decoder(target, sampling=SamplingSettings(greedy=True), generic_cache=generic_cache)
    return [decoder.run(f.to(states.device), [r], TOKENS_PER_WINDOW, encoder_states=states)[0].tokens
            for f, r, states in zip(frames, requests, _states(target, frames))]


def _batched(target, frames, requests):
    import torch

    from models.decoding.decoder import Decoder, SamplingSettings

    decoder = Decoder(target, sampling=SamplingSettings(greedy=True))
    states = torch.cat(_states(target, frames))
    return [r.tokens for r in decoder.run(torch.cat(frames).to(states.device), requests, TOKENS_PER_WINDOW,
                                          encoder_states=states)]


_ENCODED: dict = {}


def _states(model, frames) -> list:
    """Each window's encoder states on the model's device, computed once per model and kept."""
    import torch

    key = (id(model), len(frames))
    if key not in _ENCODED:
        device = next(model.parameters()).device
        with torch.inference_mode():
            _ENCODED[key] = (model, [model.encode(f.to(device)) for f in frames])
    return _ENCODED[key][1]


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


def _bf16_line() -> None:
    """One full-size decoder layer's matrix products for one token, bf16 weights against fp32."""
    import torch

    d_model, ffn = 768, 3072
    shapes = [(d_model, 3 * d_model), (d_model, d_model), (d_model, d_model), (d_model, d_model),
              (d_model, ffn), (ffn, d_model)]
    layers = {dtype: [torch.nn.Linear(i, o).to(dtype) for i, o in shapes] for dtype in (torch.float32, torch.bfloat16)}

    def run(dtype):
        with torch.inference_mode():
            for linear in layers[dtype]:
                linear(torch.randn(1, 1, linear.in_features, dtype=dtype))

    seconds = interleaved({dtype: (lambda d=dtype: [run(d) for _ in range(20)]) for dtype in layers})
    ratio = seconds[torch.bfloat16][1] / seconds[torch.float32][1]
    verdict = ("bf16 weights halve the bytes a step reads, int8 (above) quarters them" if ratio < 1 else
               "no fast bf16 path on this CPU: int8 is the CPU option here")
    print(f"bf16 on this CPU: one decoder layer's products for one token take {ratio:.2f}x fp32's time ({verdict})")


def _trained_agreement() -> None:
    """int8 against fp32 greedy tokens on a model that has learned something (peaked logits)."""
    import copy

    import torch

    from models.audio.loading import load_audio
    from models.decoding.decoder import DecodeRequest
    from models.generation.windows import make_windows
    from models.loading import load_model
    from models.quantization import quantize_decoder
    from profiles import load_profile
    from tokenization.events import ContextType
    from tokenization.prompt import Conditioning, ContextBlock, build_prompt
    from tokenization.vocabulary import Vocabulary
    from training.click_songs import click_track, trained_tiny

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, run = trained_tiny(root / "train", steps=TRAIN_STEPS)
        model, vocab, profile = load_model(run), Vocabulary.load(run), load_profile("tiny")
        audio = load_audio(click_track(root / "song.wav", seconds=64.0))
        windows = make_windows(audio, profile, 0.0, 0.0)
        frames, requests = [], []
        for index, start in enumerate(windows.starts_ms[:8]):
            prompt = build_prompt(vocab, Conditioning(song_length_ms=64000), window_start_ms=start,
                                  in_contexts=[ContextBlock(ContextType.NONE, [])],
                                  out_contexts=[ContextBlock(ContextType.TIMING, [], finished=False)])
            requests.append(DecodeRequest(prompt, frozenset()))
            frames.append(torch.from_numpy(windows.frames(index).copy())[None])
        with torch.inference_mode():
            exact = _one_by_one(model, frames, requests)
            rounded = _one_by_one(quantize_decoder(copy.deepcopy(model)), frames, requests)
    print(f"int8 on the tiny profile trained {TRAIN_STEPS} steps, {len(requests)} windows x {TOKENS_PER_WINDOW} "
          f"tokens: tokens equal to fp32 {_agree(rounded, exact)}/{len(requests) * TOKENS_PER_WINDOW}")


# -- cuda -------------------------------------------------------------------------------------------
def _cuda_section(workload) -> None:
    import torch

    if not torch.cuda.is_available():
        print("cuda: no CUDA GPU here: section skipped")
        return
    make_models, frames, requests = workload
    model = make_models["full"]().cuda()
    tokens = TOKENS_PER_WINDOW * len(requests)

    def ours(graphs: bool, batched: bool = False):
        def run():
            model.cuda_graphs = graphs
            result = (_batched if batched else _one_by_one)(model, frames, requests)
            torch.cuda.synchronize()
            return result
        return run

    configs = {"transformers decoder + cache (baseline)": lambda: _one_by_one(model, frames, requests, True),
               "ours eager, one window at a time": ours(False),
               "ours CUDA graph, one window at a time": ours(True),
               f"ours CUDA graph, {len(requests)} windows batched": ours(True, batched=True)}
    results = interleaved(configs)
    base, base_s = results["transformers decoder + cache (baseline)"]
    print(f"cuda: {torch.cuda.get_device_name()}, full-size v29:")
    for label, (result, seconds) in results.items():
        print(f"  {label:42s} {tokens / seconds:7.1f} tokens/s  {base_s / seconds:4.1f}x baseline  "
              f"tokens equal to eager fp32: {_agree(result, base)}/{tokens}")


# -- song -------------------------------------------------------------------------------------------
def _song_section(audio_path) -> None:
    import numpy as np
    import soundfile
    import torch

    from models.audio.loading import load_audio
    from models.pipeline.run import GenerateRequest, run_generation
    from training.click_songs import trained_tiny

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _, model = trained_tiny(root / "train", steps=TRAIN_STEPS)
        clip = load_audio(audio_path)
        song = root / "song.wav"
        soundfile.write(str(song), np.resize(clip, int(SONG_SECONDS * 16000)), 16000)
        runs = [("cpu", "fp32"), ("cpu", "int8")] + ([("cuda", "fp32")] if torch.cuda.is_available() else [])
        print(f"song: {SONG_SECONDS:.0f} s, tiny profile trained {TRAIN_STEPS} steps, greedy, every pass, super timing"
              f" (real-time factor: generation time / song length):")
        baseline = None
        for device, precision in runs:
            request = GenerateRequest(audio=song, model=str(model), out_dir=root / f"{device}-{precision}", seed=0,
                                      greedy=True, device=device, precision=precision, super_timing=True, refine=False)
            seconds = _timed_song(f"{device} {precision}", request, run_generation)
            baseline = baseline or seconds
        _starter_song(root, baseline, run_generation, GenerateRequest)


def _timed_song(label: str, request, run_generation) -> float:
    """Generate one song, print its seconds in all, per pass and as a real-time factor; the seconds."""
    spans: dict[str, list[float]] = {}

    def seen(name, done, total, spans=spans):
        now = time.perf_counter()
        spans.setdefault(name, [now, now])[1] = now

    t0 = time.perf_counter()
    result = run_generation(request, progress=seen)
    seconds = time.perf_counter() - t0
    by_pass = _pass_seconds(spans, t0)
    print(f"  {label}: {seconds:6.1f} s in all, real-time factor {seconds / SONG_SECONDS:.3f}, {result.tokens} tokens "
          f"({', '.join(f'{name} {s:.1f} s' for name, s in by_pass.items())}; the rest: loading, audio timing, "
          f"postprocessing)")
    return seconds


def _starter_song(root: Path, baseline_seconds: float, run_generation, GenerateRequest) -> None:
    """The bundled starter on a real recording (the README's clip, repeated to the song's length), as
    `mapper generate SONG --difficulty 5.5` runs it: audio timing and rhythm, then its passes; beside the
    tiny fp32 run above (the baseline of this section, same song length, same process)."""
    import numpy as np
    import soundfile

    from models.audio.loading import load_audio
    from models.model_source import starter_model

    starter = starter_model()
    if starter is None:
        print("  starter: skipped (this install has no bundled starter model)")
        return
    clip = load_audio(ROOT / "tests" / "data" / "chaos_god" / "chaos_god_clip.ogg")
    song = root / "recording.wav"
    soundfile.write(str(song), np.resize(clip, int(SONG_SECONDS * 16000)), 16000)
    request = GenerateRequest(audio=song, model=str(starter), out_dir=root / "starter", seed=0, difficulty=5.5,
                              device="cpu", refine=False)
    seconds = _timed_song("starter cpu fp32 (a real recording, --difficulty 5.5, audio rhythm)", request,
                          run_generation)
    print(f"  starter / tiny fp32 baseline: {seconds / baseline_seconds:.2f}x the time")


def _pass_seconds(spans: dict[str, list[float]], t0: float) -> dict[str, float]:
    """Seconds of each pass: from the previous pass's last progress report (or the start) to its own."""
    out, previous = {}, t0
    for label, (_, last) in sorted(spans.items(), key=lambda item: item[1][1]):
        out[label] = last - previous
        previous = last
    return out


if __name__ == "__main__":
    main()
