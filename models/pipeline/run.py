"""The whole of `mapper generate` for one difficulty: audio and options in, a new .osu file out.
The run itself is a `GenerationJob` (models.pipeline.job); `request` says what is asked, `output`
writes it; a list of difficulties is `mapset`'s."""

from __future__ import annotations

from collections.abc import Callable

from models.pipeline.request import GenerateRequest, GenerateResult


def run_generation(request: GenerateRequest, progress: Callable[[str, int, int], None] | None = None) -> GenerateResult:
    """Generate the one difficulty `request` asks for and write it (a new file, or spliced into the
    reference); the request is verified first, before anything is loaded."""
    from models.pipeline.job import GenerationJob
    from models.pipeline.output import write_output

    job = GenerationJob(request, progress)
    [(_, beatmap)] = job.run()
    return write_output(job.request, beatmap, job.reference, job.generator.generated_tokens, job.warnings)
