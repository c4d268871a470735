"""Parse and tokenize the whole corpus on one thread (v29 settings): files/s and tokens/s.

The original system does 36.4k tokens/s (5.6 files/s) on this machine and fails on 190 of the
360 corpus files; the target is at least 5x its speed with every file handled.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from profiles import load_profile  # noqa: E402
from tokenization import read_beatmap  # noqa: E402
from tokenization.beatmap_to_events import BeatmapEncoder  # noqa: E402
from tokenization.events import ContextType  # noqa: E402
from tokenization.tokenizer import Tokenizer  # noqa: E402
from tokenization.vocabulary import build_vocabulary  # noqa: E402

ORIGINAL_TOKENS_PER_S = 36_400
ORIGINAL_FILES_PER_S = 5.6
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def tokenize_file(path: Path, tokenizer: Tokenizer) -> int:
    beatmap = read_beatmap(path)
    encoder = BeatmapEncoder(beatmap, tokenizer.settings)
    tokens = 0
    for context in (ContextType.MAP, ContextType.TIMING, ContextType.KIAI):
        for window in tokenizer.windows(encoder.context(context)):
            tokens += len(tokenizer.encode(window.events))
    return tokens


def main() -> None:
    files = sorted(CORPUS.rglob("*.osu"))
    if not files:
        print("no corpus at ../shared/corpus: nothing to measure")
        return
    profile = load_profile("v29")
    tokenizer = Tokenizer(build_vocabulary(profile.tokenizer, [(t.inputs, t.outputs) for t in profile.templates]),
                          profile.tokenizer)
    failures, tokens = [], 0
    start = time.perf_counter()
    for path in files:
        try:
            tokens += tokenize_file(path, tokenizer)
        except Exception as exc:  # noqa: BLE001 - a benchmark reports failures, it does not stop
            failures.append(f"{path.name}: {exc}")
    seconds = time.perf_counter() - start
    print(f"files: {len(files)} ({len(failures)} failed) in {seconds:.1f} s = {len(files) / seconds:.1f} files/s "
          f"({len(files) / seconds / ORIGINAL_FILES_PER_S:.1f}x the original)")
    print(f"tokens: {tokens} = {tokens / seconds / 1000:.1f}k tokens/s "
          f"({tokens / seconds / ORIGINAL_TOKENS_PER_S:.2f}x the original's 36.4k)")
    for failure in failures[:20]:
        print("  failed:", failure)


if __name__ == "__main__":
    main()
