"""Audio timing (`models.timing.audio_timing`) on the corpus songs with audio and hand timing, beside the
beat-only baseline (`models.evaluation.beat_baseline`) run in the same process.

Per song: BPM found against the map's main red line, BPM error (%), the tempo relation (1 = the map's
level; x2, x1/2, x3/2, x2/3 = a relative), the offset error modulo the beat (ms: where the map's main red
line falls against the found grid, folded into +-half of the finer beat), seconds to analyse per minute
of audio; for songs with a variable tempo, the share of the map's beats (over its objects' span) that
have a found beat within 10 ms. Then the latency calibration leave-one-out: for each constant-tempo
song, the median offset bias of the others (what ATTACK_LATENCY_MS, the one constant the offset is
calibrated with, would be without it) and its offset error with that latency instead of the shipped
one. Then the rhythm candidates: F1 at +-20 ms against each map with objects, keeping as many of the
strongest candidates as the map has objects.

Run: `python bench/timing.py` (needs ../shared/corpus; 1-3 minutes on one core).
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
SAMPLE_RATE = 16_000
BEAT_MATCH_MS = 10.0
ONSET_TOLERANCE_MS = 20.0
RELATIONS = {1.0: "1", 2.0: "x2", 0.5: "x1/2", 1.5: "x3/2", 2.0 / 3.0: "x2/3"}
RELATION_TOLERANCE = 0.0001  # 0.01 %: the target precision of the BPM
TARGET_SHIFT_TOLERANCE_MS = 2.0  # red lines of one tempo whose grids differ by less are "the same tempo"


def songs() -> list[dict]:
    """One entry per distinct audio file with hand-timed maps: audio path and the maps (paths)."""
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    found: dict[str, dict] = {}
    for entry in manifest["entries"]:
        if not entry.get("audio") or not entry.get("n_timing_points"):
            continue
        digest = hashlib.sha1((CORPUS / entry["audio"]).read_bytes()).hexdigest()
        song = found.setdefault(digest, {"audio": entry["audio"], "title": entry["title"], "maps": []})
        song["maps"].append(entry)
    return list(found.values())


def reference_lines(beatmap) -> list:
    return sorted((tp for tp in beatmap.timing_points if tp.uninherited and tp.beat_length > 0), key=lambda tp: tp.time)


def is_variable_tempo(lines) -> bool:
    return len({round(tp.beat_length, 3) for tp in lines}) > 1


def relation(found_bpm: float, map_bpm: float) -> str:
    for ratio, name in RELATIONS.items():
        if abs(found_bpm / (map_bpm * ratio) - 1.0) <= RELATION_TOLERANCE:
            return name
    return "-"


def offset_error(found_offset: float, found_beat: float, map_offset: float, map_beat: float) -> float:
    """Signed ms the found grid lies after the map's red line (positive: late), modulo the finer beat."""
    beat = min(found_beat, map_beat)
    return float((found_offset - map_offset + beat / 2) % beat - beat / 2)


def beats_between(lines, start: float, end: float) -> np.ndarray:
    """Every beat of the red lines (as (offset, beat_ms) pairs, sorted) within [start, end]."""
    out = []
    for index, (offset, beat) in enumerate(lines):
        stop = lines[index + 1][0] if index + 1 < len(lines) else end
        first = offset if index else offset - np.ceil((offset - start) / beat) * beat
        out.append(np.arange(first, min(stop, end) + 1e-6, beat))
    times = np.concatenate(out) if out else np.zeros(0)
    return times[(times >= start - 1e-6) & (times <= end + 1e-6)]


def beat_match_share(found_lines, map_lines, start: float, end: float) -> float:
    ours = beats_between(found_lines, start, end)
    theirs = beats_between(map_lines, start, end)
    if len(theirs) == 0 or len(ours) == 0:
        return 0.0
    index = np.clip(np.searchsorted(ours, theirs), 1, len(ours) - 1)
    gap = np.minimum(np.abs(ours[index] - theirs), np.abs(ours[index - 1] - theirs))
    return float(np.mean(gap <= BEAT_MATCH_MS))


def main() -> None:
    if not CORPUS.exists():
        sys.exit("needs ../shared/corpus beside the checkout")
    from models.audio.loading import load_audio
    from models.audio.playback_delay import playback_delay_ms
    from models.evaluation.beat_baseline import detect_beats
    from models.evaluation.grid import Grid, main_line
    from models.timing import audio_timing
    from tokenization import read_beatmap

    rows = []
    for song in songs():
        samples = load_audio(CORPUS / song["audio"], sample_rate=SAMPLE_RATE)
        minutes = len(samples) / SAMPLE_RATE / 60.0
        maps = [(entry, read_beatmap(CORPUS / entry["path"])) for entry in song["maps"]]
        entry, reference = next(((e, b) for e, b in maps if b.hit_objects), maps[0])
        lines = reference_lines(reference)
        span = ((reference.hit_objects[0].time, reference.hit_objects[-1].time) if reference.hit_objects
                else (lines[0].time, len(samples) / SAMPLE_RATE * 1000.0))
        main = main_line(Grid(lines), *span)
        started = time.perf_counter()
        timing = audio_timing.analyse_timing(samples, SAMPLE_RATE,
                                             playback_delay_ms=playback_delay_ms(CORPUS / song["audio"]))
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        grid = detect_beats(samples)
        base_s = time.perf_counter() - started
        row = {"title": song["title"], "map_bpm": main.bpm if hasattr(main, "bpm") else 60000.0 / main.beat_length,
               "variable": is_variable_tempo(lines), "minutes": minutes, "maps": maps, "samples": samples,
               "timing": timing}
        for name, found, seconds in (("ours", timing, ours_s), ("base", grid, base_s)):
            if found is None:
                row[name] = None
                continue
            if name == "ours":
                line = found.red_lines[0] if len(found.red_lines) == 1 else max(
                    found.red_lines, key=lambda red: _covered(found.red_lines, red, *span))
                found_lines = [(red.offset, red.ms_per_beat) for red in found.red_lines]
                bpm, offset, beat = line.bpm, _line_point_near(line, main.time), line.ms_per_beat
            else:
                beat = 60000.0 / found.bpm
                bpm, offset = found.bpm, found.offset_ms
                found_lines = [(found.offset_ms, beat)]
            map_lines = [(tp.time, tp.beat_length) for tp in lines]
            row[name] = {"bpm": bpm, "bpm_err": (bpm / row["map_bpm"] - 1.0) * 100.0,
                         "relation": relation(bpm, row["map_bpm"]),
                         "offset_err": offset_error(offset, beat, main.time, main.beat_length),
                         "finer_beat": min(beat, main.beat_length),
                         "beats_10ms": beat_match_share(found_lines, map_lines, *span),
                         "s_per_min": seconds / minutes}
        rows.append(row)
    _timing_table(rows)
    _latency_leave_one_out(rows)
    _rhythm_section(rows)


def _covered(lines, line, start, end) -> float:
    index = lines.index(line)
    stop = lines[index + 1].offset if index + 1 < len(lines) else end
    begin = start if index == 0 else max(line.offset, start)
    return min(stop, end) - begin


def _line_point_near(line, time_ms: float) -> float:
    return line.offset + round((time_ms - line.offset) / line.ms_per_beat) * line.ms_per_beat


def _timing_table(rows) -> None:
    print(f"{'song':34s} {'map BPM':>8s} | {'found':>9s} {'err %':>8s} {'rel':>5s} {'offset ms':>9s} "
          f"{'beats@10':>8s} {'s/min':>6s} | baseline: {'found':>8s} {'err %':>8s} {'rel':>5s} {'offset':>7s} "
          f"{'beats@10':>8s} {'s/min':>6s}")
    for row in rows:
        cells = []
        for name in ("ours", "base"):
            r = row[name]
            if r is None:
                cells.append(f"{'none':>9s}")
                continue
            cells.append(f"{r['bpm']:9.3f} {r['bpm_err']:+8.4f} {r['relation']:>5s} {r['offset_err']:+9.1f} "
                         f"{r['beats_10ms']:8.2f} {r['s_per_min']:6.2f}")
        tag = " (variable)" if row["variable"] else ""
        print(f"{(row['title'][:23] + tag):34s} {row['map_bpm']:8.2f} | {cells[0]} | baseline: {cells[1]}")
    for name, label in (("ours", "audio timing"), ("base", "beat-only baseline")):
        constant = [r[name] for r in rows if not r["variable"] and r[name] is not None]
        n = sum(1 for r in rows if not r["variable"])
        strict = sum(r["relation"] == "1" for r in constant)
        related = sum(r["relation"] != "-" for r in constant)
        errors = np.abs([r["offset_err"] for r in constant if r["relation"] != "-"])
        within = int(np.sum(errors <= 10.0))
        variable = [r[name]["beats_10ms"] for r in rows if r["variable"] and r[name] is not None]
        print(f"{label}: BPM within 0.01 % on {related}/{n} counting relatives, {strict}/{n} strictly; "
              f"|offset error| median {np.median(errors) if len(errors) else float('nan'):.1f} ms, "
              f"<= 10 ms on {within}/{n}; variable tempo: beats within 10 ms {variable}")


def _latency_leave_one_out(rows) -> None:
    from models.timing.audio_timing import ATTACK_LATENCY_MS as LATENCY_MS

    usable = [r for r in rows if not r["variable"] and r["ours"] and r["ours"]["relation"] != "-"]
    if len(usable) < 3:
        return
    # the error with no latency at all, folded into +-half of the finer beat as the offset error is
    raw = np.array([_fold(r["ours"]["offset_err"] + LATENCY_MS, r["ours"]["finer_beat"]) for r in usable])
    print(f"\nlatency: shipped ATTACK_LATENCY_MS = {LATENCY_MS:+.1f} ms; median raw bias over these songs "
          f"{np.median(raw):+.1f} ms")
    held_out = []
    for index, row in enumerate(usable):
        latency = float(np.median(np.delete(raw, index)))
        held_out.append(_fold(raw[index] - latency, row["ours"]["finer_beat"]))
        print(f"  {row['title'][:30]:30s} latency from the others {latency:+6.1f} ms -> offset error "
              f"{held_out[-1]:+6.1f} ms")
    held_out = np.abs(held_out)
    print(f"  leave-one-out |offset error|: median {np.median(held_out):.1f} ms, <= 10 ms on "
          f"{int(np.sum(held_out <= 10.0))}/{len(held_out)}")


def _fold(error_ms: float, beat_ms: float) -> float:
    return float((error_ms + beat_ms / 2) % beat_ms - beat_ms / 2)


def _rhythm_section(rows) -> None:
    from models.evaluation.rhythm import onset_scores
    from models.timing.rhythm_candidates import rhythm_candidates

    print("\nrhythm candidates: F1 at +-20 ms keeping the strongest as many as the map has objects")
    scores = collections.defaultdict(list)
    for row in rows:
        if row["timing"] is None:
            continue
        candidates = rhythm_candidates(row["samples"], SAMPLE_RATE, row["timing"])
        ranked = sorted(candidates, key=lambda c: -c.strength)
        for entry, beatmap in row["maps"]:
            times = sorted({float(o.time) for o in beatmap.hit_objects})
            if not times:
                continue
            kept = sorted(c.time_ms for c in ranked[:len(times)])
            f1 = onset_scores(kept, times, ONSET_TOLERANCE_MS)["f1"]
            scores["all"].append(f1)
            print(f"  {row['title'][:26]:26s} {entry['version'][:26]:26s} {entry['mode_name']:6s} "
                  f"{len(times):5d} objects  F1 {f1:.3f}")
    if scores["all"]:
        print(f"  median F1 {np.median(scores['all']):.3f} over {len(scores['all'])} maps "
              f"(min {min(scores['all']):.3f}, max {max(scores['all']):.3f})")


if __name__ == "__main__":
    main()
