"""The rich tables of `mapper eval`: one map side by side with its reference, and a model's songs."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

# (label, path in the report's "generated"/"reference" part, kind of number)
SIDE_ROWS = [
    ("objects", "objects", "int"), ("BPM (main)", "timing.bpm", "num"), ("offset (ms)", "timing.offset_ms", "num"),
    ("red lines", "timing.red_lines", "int"), ("star rating", "stars", "num"), ("target stars", "target_stars", "num"),
    ("star error", "star_error", "signed"), ("objects / min", "objects_per_minute", "num"),
]
COMPARISON_ROWS = [
    ("BPM error (%)", "bpm_error_pct", "signed"), ("offset error (ms, modulo the beat)", "offset_error_ms", "signed"),
    ("red lines matched within 2 ms", "red_lines_matched_2ms", "share"),
    ("red lines matched within 10 ms", "red_lines_matched_10ms", "share"),
    ("onset precision / recall / F1, ±10 ms", "onset_*_10ms", "prf"),
    ("onset precision / recall / F1, ±20 ms", "onset_*_20ms", "prf"),
    ("on the reference's grid within 2 ms", "on_reference_grid_2ms", "share"),
    ("on the reference's grid within 10 ms", "on_reference_grid_10ms", "share"),
    ("star difference (generated - real)", "star_difference", "signed"),
    ("density ratio (objects / min)", "density_ratio", "num"),
]
NAME_WIDTH = 32
AGGREGATE_SHOWN = ("comparison.", "generated.stars", "generated.star_error", "generated.objects_per_minute",
                   "generated.problem_total")
MODEL_COLUMNS = [("real stars", "reference.stars", "num"), ("stars", "generated.stars", "num"),
                 ("BPM err %", "comparison.bpm_error_pct", "signed"),
                 ("offset err ms", "comparison.offset_error_ms", "signed"),
                 ("F1 ±20 ms", "comparison.onset_f1_20ms", "share"),
                 ("on grid 10 ms", "comparison.on_reference_grid_10ms", "share"),
                 ("problems", "generated.problem_total", "int")]


def fmt(value, kind: str = "num") -> str:
    if value is None:
        return "—"
    if kind == "int":
        return str(int(value))
    if kind == "share":
        return f"{100 * value:.1f} %"
    if kind == "signed":
        return f"{value:+.2f}"
    return f"{value:.2f}"


def lookup(report: dict, path: str):
    value = report
    for key in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def print_report(report: dict, generated: str, reference: str | None, shown_problems: int) -> None:
    console = Console()
    gen, ref = report["generated"], report.get("reference")
    side = Table(title=f"{generated}" + (f"  vs  {reference}" if reference else ""), title_justify="left")
    side.add_column("figure")
    side.add_column("generated", justify="right")
    if ref is not None:
        side.add_column("reference", justify="right")
    rows = SIDE_ROWS + [(key.replace("_", " "), f"composition.{key}", "share")
                        for key in gen["composition"] if key != "column_shares"]
    for label, path, kind in rows:
        side.add_row(label, fmt(lookup(gen, path), kind), *([fmt(lookup(ref, path), kind)] if ref else []))
    if "column_shares" in gen["composition"]:
        shares = [_columns(part) for part in (gen, ref) if part is not None]
        side.add_row("mania column use", *shares)
    side.add_row("problems", str(gen["problem_total"]), *([str(ref["problem_total"])] if ref else []))
    for key in gen["problem_counts"]:
        side.add_row(f"  {key.replace('_', ' ')}", str(gen["problem_counts"][key]),
                     *([str(ref["problem_counts"][key])] if ref else []))
    console.print(side)
    comparison = report.get("comparison")
    if comparison is not None:
        table = Table(title="against the reference", title_justify="left")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for label, key, kind in COMPARISON_ROWS:
            if kind == "prf":
                values = [comparison.get(key.replace("*", part)) for part in ("precision", "recall", "f1")]
                table.add_row(label, " / ".join(fmt(v, "share") for v in values))
            else:
                table.add_row(label, fmt(comparison.get(key), kind))
        if not comparison["same_mode"]:
            table.add_row("[yellow]note[/]", "[yellow]the maps are of different modes[/]")
        console.print(table)
    problems = gen["problems"]
    if problems:
        listing = Table(title=f"problems in the generated map ({len(problems)}"
                              + (f", first {shown_problems})" if len(problems) > shown_problems else ")"),
                        title_justify="left")
        for column in ("time", "check", "severity", "what"):
            listing.add_column(column)
        for p in problems[:shown_problems]:
            style = "bold red" if p["severity"] == "problem" else ""
            listing.add_row(_timestamp(p["time"]), p["check"], f"[{style}]{p['severity']}[/]" if style else
                            p["severity"], p["message"])
        console.print(listing)


def print_model_results(results: list[dict], summary: dict) -> None:
    console = Console()
    songs = Table(title="per song", title_justify="left")
    songs.add_column("real map", no_wrap=True)
    for label, _, _ in MODEL_COLUMNS:
        songs.add_column(label, justify="right")
    for result in results:
        name = result["reference"].rsplit("/", 1)[-1].removesuffix(".osu")
        name = name if len(name) <= NAME_WIDTH else name[:NAME_WIDTH - 1] + "…"
        songs.add_row(name, *(fmt(lookup(result["report"], path), kind) for _, path, kind in MODEL_COLUMNS))
    console.print(songs)
    table = Table(title=f"aggregate over {len(results)} map(s): median and spread", title_justify="left")
    for column in ("figure", "n", "median", "q1 - q3", "min - max"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for key, stats in summary.items():
        if not key.startswith(AGGREGATE_SHOWN):
            continue  # the rest is in --json
        table.add_row(key.removeprefix("comparison."), str(stats["n"]), fmt(stats["median"]), f"{fmt(stats['q1'])} - {fmt(stats['q3'])}",
                      f"{fmt(stats['min'])} - {fmt(stats['max'])}")
    console.print(table)


def _columns(part: dict) -> str:
    return " ".join(f"{100 * s:.0f}%" if s is not None else "—" for s in part["composition"]["column_shares"])


def _timestamp(ms: float) -> str:
    """mm:ss:mmm, as the osu! editor shows and links times."""
    ms = max(0, int(ms))
    return f"{ms // 60000:02d}:{ms // 1000 % 60:02d}:{ms % 1000:03d}"
