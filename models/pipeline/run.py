"""The whole of `mapper generate` for one difficulty: audio and options in, a new .osu file out.
The run itself is a `GenerationJob` (models.pipeline.job); `request` says what is asked, `output`
writes it; a list of difficulties is `mapset`'s."""

from __future__ import annotations

from collections.abc import Callable

from models.pipeline.request import GenerateRequest, GenerateResult


def run_generation(request: GenerateRequest, progress: Callable[..., None] | None = None, *,
                   token_progress: bool = False) -> GenerateResult:
    """Generate the one difficulty `request` asks for and write it (a new file, or spliced into the
    reference); the request is verified first, before anything is loaded. `progress(pass, done, total)`
    after each window; with `token_progress`, also the tokens decoded so far as a fourth argument."""
    from models.pipeline.job import GenerationJob
    from models.pipeline.output import write_output

    job = GenerationJob(request, counting_tokens(progress, lambda: job) if token_progress else progress)
    [(_, beatmap)] = job.run()
    return write_output(job.request, beatmap, job.reference, job.generator.generated_tokens, job.warnings)


def counting_tokens(progress, job_of: Callable[[], object]):
    """`progress` called with the job's decoded-token count as a fourth argument (None before its
    generator exists)."""
    if progress is None:
        return None

    def report(name: str, done: int, total: int) -> None:
        generator = getattr(job_of(), "generator", None)
        progress(name, done, total, generator.generated_tokens if generator is not None else None)

    return report
