"""The MMRS dataset layout (Mapperator's `dataset2` format) and reading it back.

```
<root>/
  metadata.parquet            one row per beatmap (difficulty); columns below
  data/<BeatmapSetFolder>/    one folder per beatmap set: its audio and its .osu files
```

Row position in `metadata.parquet` is the beatmap's style class (`BeatmapIdx`) for training, so the
builder only appends rows; only a source rebuilt because its files changed loses its old rows, which
moves the rows after them (rebuild before training a tokenizer on the dataset, not after). The column set is Mapperator's `BeatmapMetadata`, all nullable, plus
`AudioDuration` (seconds), which the original does not have and readers may ignore.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokenization.errors import MapperInputError

if TYPE_CHECKING:  # pandas and pyarrow cost ~0.3 s to import; only the functions below need them
    import pandas as pd
    import pyarrow as pa

METADATA_FILE = "metadata.parquet"
DATA_DIR = "data"

# StarRating holds the star rating at each of these playback rates (1.0 = nomod, 1.5 = DT).
STAR_RATING_RATES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
NOMOD_RATE_INDEX = STAR_RATING_RATES.index(1.0)

MODE_NAMES = {0: "osu", 1: "taiko", 2: "fruits", 3: "mania"}  # ModeInt -> Mode, as osu! API v2 spells them

# Key of the builder's bookkeeping inside the parquet file's schema metadata. Keeping it in the same
# file as the rows means one atomic rename commits both.
BUILD_STATE_KEY = b"mapper.build_state"
BUILD_STATE_VERSION = 1

# What a dataset must have for training to read it (training.md §1.2).
REQUIRED_COLUMNS = ("BeatmapSetId", "Id", "ModeInt", "Ranked", "RankedDate", "SubmittedDate", "DifficultyRating",
                    "StarRating", "UserId", "OmdbTags", "AudioFile", "BeatmapSetFolder", "BeatmapFile")
# Of those, the ones that locate and identify a beatmap and so can never be null.
KEY_COLUMNS = ("BeatmapSetId", "Id", "ModeInt", "AudioFile", "BeatmapSetFolder", "BeatmapFile")


def _column_types() -> list[tuple[str, pa.DataType]]:
    import pyarrow as pa

    text, integer, real, flag = pa.string(), pa.int64(), pa.float64(), pa.bool_()
    # Timezone-naive, as the original's year filters compare against naive datetimes.
    moment = pa.timestamp("ms")
    return [
        ("Artist", text), ("ArtistUnicode", text), ("Title", text), ("TitleUnicode", text),
        ("Creator", text), ("Source", text), ("Tags", text), ("Description", text),
        ("FavouriteCount", integer), ("BeatmapSetPlayCount", integer), ("Offset", integer),
        ("BeatmapSetId", integer),
        ("Nsfw", flag), ("Spotlight", flag), ("Video", flag), ("Storyboard", flag), ("DownloadDisabled", flag),
        ("CanBeHyped", flag), ("DiscussionLocked", flag), ("BeatmapSetIsScoreable", flag),
        ("BeatmapSetStatus", text), ("BeatmapSetUserId", integer),
        ("GenreId", integer), ("LanguageId", integer), ("GenreName", text), ("LanguageName", text),
        ("PackTags", pa.list_(text)), ("Ratings", pa.list_(integer)), ("BeatmapSetBpm", real),
        ("BeatmapSetLastUpdated", moment), ("BeatmapSetRanked", integer),
        ("RankedDate", moment), ("SubmittedDate", moment),
        ("DifficultyRating", real), ("Id", integer), ("Mode", text), ("ModeInt", integer), ("Status", text),
        ("TotalLength", integer), ("HitLength", integer), ("MaxCombo", integer),
        ("CountCircles", integer), ("CountSliders", integer), ("CountSpinners", integer),
        ("PassCount", integer), ("PlayCount", integer),
        ("UserId", integer), ("Version", text), ("Checksum", text),
        ("Accuracy", real), ("Ar", real), ("Cs", real), ("Drain", real), ("Bpm", real),
        ("IsScoreable", flag), ("LastUpdated", moment), ("Ranked", integer), ("Owners", pa.list_(integer)),
        ("TopTagIds", pa.list_(integer)), ("TopTagCounts", pa.list_(integer)),
        ("StarRating", pa.list_(real)), ("OmdbTags", pa.list_(text)),
        ("AudioFile", text), ("BeatmapSetFolder", text), ("BeatmapFile", text),
        ("AudioDuration", real),  # seconds; ours, not Mapperator's
    ]


def metadata_schema() -> pa.Schema:
    """The parquet schema the builder writes: every column nullable."""
    import pyarrow as pa

    return pa.schema([pa.field(name, kind, nullable=True) for name, kind in _column_types()])


def column_names() -> list[str]:
    return [name for name, _ in _column_types()]


def metadata_path(root: str | os.PathLike) -> Path:
    return Path(root) / METADATA_FILE


def set_folder_path(root: str | os.PathLike, set_folder: str) -> Path:
    return Path(root) / DATA_DIR / set_folder


def beatmap_path(root: str | os.PathLike, row: Any) -> Path:
    """Where the .osu of a metadata row (anything indexable by column name) lies."""
    return set_folder_path(root, row["BeatmapSetFolder"]) / row["BeatmapFile"]


def audio_path(root: str | os.PathLike, row: Any) -> Path:
    return set_folder_path(root, row["BeatmapSetFolder"]) / row["AudioFile"]


def read_metadata_table(root: str | os.PathLike) -> pa.Table:
    """The parquet as written (schema and its metadata included); MapperInputError when unreadable."""
    import pyarrow.parquet as pq

    path = metadata_path(root)
    if not path.is_file():
        raise MapperInputError(f"{root}: not an MMRS dataset (no {METADATA_FILE})")
    try:
        return pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types for a bad file
        raise MapperInputError(f"{path}: cannot read parquet ({exc})") from None


def read_metadata(root: str | os.PathLike) -> pd.DataFrame:
    """Rows in file order, with `BeatmapIdx` = row position (the style class id training uses)."""
    frame = read_metadata_table(root).to_pandas()
    frame["BeatmapIdx"] = range(len(frame))
    return frame


def index_by_set(frame: pd.DataFrame) -> pd.DataFrame:
    """The training view: indexed by (BeatmapSetId, Id), sorted, as the original's loader builds it."""
    return frame.set_index(["BeatmapSetId", "Id"]).sort_index()


def read_build_state(table: pa.Table) -> dict:
    """The builder's record of which sources are done (empty when the file holds none)."""
    raw = (table.schema.metadata or {}).get(BUILD_STATE_KEY)
    if raw is None:
        return {"version": BUILD_STATE_VERSION, "sources": {}}
    try:
        state = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise MapperInputError(f"build state in {METADATA_FILE} is not valid JSON ({exc})") from None
    if not isinstance(state, dict) or state.get("version") != BUILD_STATE_VERSION:
        raise MapperInputError(f"build state in {METADATA_FILE} has an unknown version")
    return state


def write_metadata_table(root: str | os.PathLike, table: pa.Table, state: dict) -> Path:
    """Write rows and build state atomically: a temporary file in the same folder, then a rename."""
    import pyarrow.parquet as pq

    path = metadata_path(root)
    metadata = dict(table.schema.metadata or {})
    metadata[BUILD_STATE_KEY] = json.dumps(state, ensure_ascii=False, sort_keys=True).encode()
    table = table.replace_schema_metadata(metadata)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temp)
        with open(temp, "rb") as handle:  # the rename must not land before the bytes do
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path
