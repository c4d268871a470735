"""Shared test helpers: where ../shared is, and skipping cleanly without it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = PROJECT_ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
FIXTURES = SHARED / "fixtures"


def require_shared(*parts: str) -> Path:
    """The path under ../shared, or skip the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (not present beside this checkout)")
    return path


def corpus_beatmaps() -> list[Path]:
    return sorted(CORPUS.rglob("*.osu")) if CORPUS.exists() else []


def corpus_manifest() -> dict:
    return json.loads(require_shared("corpus", "manifest.json").read_text())
