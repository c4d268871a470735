"""`mapper generate --trace FILE.jsonl`: one JSON line per decoder call.

Each record says which pass and window the call was for, the time zones that ended it, the prompt
ids the model saw and the ids it wrote. That is what a user needs to debug a model, and what makes
runs comparable across versions and implementations (the original's logged calls have the same
fields). The records are kept in memory (a few hundred calls of a few thousand ids) and written
in one atomic step at the end, so a trace file is always whole.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Trace:
    path: Path
    records: list[dict] = field(default_factory=list)

    def __call__(self, record: dict) -> None:
        self.records.append(record)

    def write(self) -> Path:
        from tokenization.atomic_files import write_atomic

        def fill(temporary: Path) -> None:
            with open(temporary, "w", encoding="utf-8") as out:
                for record in self.records:
                    out.write(json.dumps(record, separators=(",", ":")) + "\n")

        return write_atomic(self.path, fill, overwrite=True)

def call_record(pass_name: str, window_index: int, window_start_ms: float, lookback_ms: float,
                lookahead_ms: float, prompt: list[int], generated: list[int], ended: bool,
                negative_prompt: list[int] | None = None) -> dict:
    record = {"pass": pass_name, "window_index": window_index, "window_start_ms": window_start_ms,
              "lookback_ms": lookback_ms, "lookahead_ms": lookahead_ms, "prompt_ids": list(prompt),
              "generated_ids": list(generated), "ended": ended}
    if negative_prompt is not None:
        record["negative_prompt_ids"] = list(negative_prompt)
    return record
