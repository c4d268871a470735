"""Every corpus beatmap survives read -> write -> read with the same objects, timing and star rating."""

from __future__ import annotations

import rosu_pp_py as rosu

from tests.conftest import corpus_beatmaps, require_shared
from tokenization import format_beatmap, parse_beatmap, read_beatmap
from tokenization.beatmap import HoldNote, Slider, Spinner


def _objects(beatmap):
    rows = []
    for obj in beatmap.hit_objects:
        row = [type(obj).__name__, obj.x, obj.y, obj.time, obj.new_combo, obj.combo_skip, obj.hitsound,
               vars(obj.sample)]
        if isinstance(obj, Slider):
            row += [[(p.x, p.y, p.type, p.degree) for p in obj.path], obj.slides, obj.length,
                    [vars(e) for e in obj.edge_sounds]]
        elif isinstance(obj, Spinner):
            row.append(obj.spinner_end)
        elif isinstance(obj, HoldNote):
            row.append(obj.hold_end)
        rows.append(row)
    return rows


def _timing(beatmap):
    # NaN (allowed on green lines) never equals itself; compare it by name
    return [{k: ("NaN" if v != v else v) for k, v in vars(tp).items()} for tp in beatmap.timing_points]


def _stars(**source) -> float:
    return rosu.Difficulty().calculate(rosu.Beatmap(**source)).stars


def test_corpus_round_trip():
    require_shared("corpus")
    files = corpus_beatmaps()
    assert len(files) >= 300
    failures = []
    for path in files:
        name = str(path.relative_to(path.parents[2]))
        try:
            original = read_beatmap(path)
            text = format_beatmap(original)
            again = parse_beatmap(text)
        except Exception as exc:  # noqa: BLE001 - collect every failure, report them all
            failures.append(f"{name}: {exc}")
            continue
        if _timing(original) != _timing(again):
            failures.append(f"{name}: timing points differ")
        elif _objects(original) != _objects(again):
            failures.append(f"{name}: hit objects differ")
        else:
            before, after = _stars(path=str(path)), _stars(content=text)
            if abs(before - after) > 1e-6 * max(1.0, before):
                failures.append(f"{name}: star rating {before} -> {after}")
    assert not failures, f"{len(failures)} of {len(files)} failed:\n" + "\n".join(failures)
