"""One map's evaluation: its own figures, and side by side with the song's real map when there is one."""

from __future__ import annotations

import re

from models.evaluation.difficulty import composition, objects_per_minute, star_rating
from models.evaluation.grid import Grid
from models.evaluation.problems import find_problems, problem_counts
from models.evaluation.rhythm import compare_rhythm
from models.evaluation.timing import compare_timing, timing_summary
from models.postprocess.build import TARGET_STARS_TAG
from tokenization.beatmap import Beatmap

# `mapper generate` writes the star rating it was asked for into the tags (models.pipeline.run).
_TARGET_TAG = re.compile(re.escape(TARGET_STARS_TAG) + r"(\d+(?:\.\d+)?)$")


def target_stars_from_tags(tags: list[str]) -> float | None:
    for tag in tags:
        match = _TARGET_TAG.match(tag)
        if match:
            return float(match.group(1))
    return None


def evaluate(generated: Beatmap, reference: Beatmap | None = None, target_stars: float | None = None) -> dict:
    """{"generated": its own figures, and with a reference: "reference": the same for it, "comparison"}.

    The target star rating is `target_stars`, else the one the generated map's tags record."""
    if target_stars is None:
        target_stars = target_stars_from_tags(generated.metadata.tags)
    report = {"generated": describe(generated, target_stars)}
    if reference is None:
        return report
    report["reference"] = describe(reference, None)
    gen_start, gen_end = _span(generated)
    gen_grid, ref_grid = Grid(generated), Grid(reference)
    comparison = {"same_mode": generated.mode is reference.mode}
    comparison |= compare_timing(gen_grid, ref_grid, gen_start, gen_end)
    comparison |= compare_rhythm([o.time for o in generated.hit_objects], [o.time for o in reference.hit_objects],
                                 ref_grid)
    stars, ref_stars = report["generated"]["stars"], report["reference"]["stars"]
    comparison["star_difference"] = stars - ref_stars if stars is not None and ref_stars is not None else None
    density, ref_density = report["generated"]["objects_per_minute"], report["reference"]["objects_per_minute"]
    comparison["density_ratio"] = density / ref_density if density and ref_density else None
    report["comparison"] = comparison
    return report


def describe(beatmap: Beatmap, target_stars: float | None) -> dict:
    """The reference-free figures: timing, difficulty, composition and problems."""
    start, end = _span(beatmap)
    stars = star_rating(beatmap)
    problems = find_problems(beatmap)
    counts = problem_counts(problems)
    return {
        "mode": beatmap.mode.name.lower(), "version": beatmap.metadata.version, "objects": len(beatmap.hit_objects),
        "timing": timing_summary(Grid(beatmap), start, end),
        "stars": stars, "target_stars": target_stars,
        "star_error": stars - target_stars if stars is not None and target_stars is not None else None,
        "objects_per_minute": objects_per_minute(beatmap), "composition": composition(beatmap),
        "problem_total": sum(counts.values()), "problem_counts": counts, "problems": [p.to_dict() for p in problems],
    }


def _span(beatmap: Beatmap) -> tuple[float, float]:
    objects = beatmap.hit_objects
    if not objects:
        return 0.0, 0.0
    return min(o.time for o in objects), max(o.end_time for o in objects)
