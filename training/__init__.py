"""Training side: building and reading MMRS datasets (and, later, the training loop).

Importing this package is cheap: the public functions load pandas, pyarrow and rosu-pp only when
they run, and are looked up here on first use.
"""

from __future__ import annotations

_EXPORTS = {
    "build_dataset": "training.dataset_build",
    "BuildReport": "training.dataset_build",
    "SkippedFile": "training.dataset_build",
    "check_dataset": "training.dataset_check",
    "dataset_info": "training.dataset_check",
    "DatasetInfo": "training.dataset_check",
    "Problem": "training.dataset_check",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'training' has no attribute {name!r}")
