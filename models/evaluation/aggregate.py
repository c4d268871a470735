"""Many evaluations summed up: median and spread of every figure, as a model card reports them."""

from __future__ import annotations

import math
import statistics

# The figures worth summing up across songs, by their path in an `evaluate` report.
SECTIONS = ("comparison", "generated")
SKIPPED = {"problems", "timing.offset_ms"}  # a list, and a phase that means nothing across songs


def flatten(report: dict) -> dict[str, float]:
    """Numeric leaves of the report's comparison and generated parts, keyed by their dotted path."""
    out: dict[str, float] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[prefix] = float(value)

    for section in SECTIONS:
        for key, value in report.get(section, {}).items():
            if key not in SKIPPED:
                walk(f"{section}.{key}", value)
    return {k: v for k, v in out.items() if k.split(".", 1)[1] not in SKIPPED}


def aggregate(reports: list[dict]) -> dict[str, dict[str, float]]:
    """Per figure: n (songs where it is defined), median, quartiles, min and max."""
    values: dict[str, list[float]] = {}
    for report in reports:
        for key, value in flatten(report).items():
            values.setdefault(key, []).append(value)
    summary = {}
    for key, vs in values.items():
        vs.sort()
        q1, q3 = (statistics.quantiles(vs, n=4, method="inclusive")[::2] if len(vs) > 1 else (vs[0], vs[0]))
        summary[key] = {"n": len(vs), "median": statistics.median(vs), "q1": q1, "q3": q3, "min": vs[0], "max": vs[-1]}
    return summary
