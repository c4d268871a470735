"""Where a model comes from: `--model` (a folder, a Hugging Face hub id, or a short name of a published
Mapperatorinator checkpoint), else the MAPPER_MODEL environment variable, else the starter model bundled
inside the package (`models/starter/`, trained by this project on redistributable data; see its card),
so that `mapper generate song.mp3` works on a fresh machine with no network.

An install without the starter's files (a trimmed copy) names the other two ways instead.
Hub downloads use huggingface_hub's cache (HF_HOME, HF_HUB_CACHE) and its offline switch
(HF_HUB_OFFLINE=1); a model already in the cache is used without asking the hub.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tokenization.errors import MapperInputError

MODEL_ENV = "MAPPER_MODEL"
# The published checkpoints, by the version names the profiles use.
SHORT_NAMES = {version: f"OliBomby/Mapperatorinator-{version}" for version in ("v29", "v30", "v31", "v32")}
HUB_PATTERNS = ["*.json", "*.safetensors"]  # config, tokenizer and weights; never pickles
ALTERNATIVES = (f"pass a local model folder (config.json, model.safetensors, tokenizer.json) with --model, "
                f"or set {MODEL_ENV} to one")


STARTER_DIR = Path(__file__).resolve().parent / "starter"  # package data: config, fp16 weights, card
STARTER_FILES = ("config.json", "model.safetensors", "tokenizer.json")
CARD_FILE = "card.json"  # a model's card: data, training, measured quality (`mapper info --model`)


def starter_model() -> Path | None:
    """The bundled starter model's folder, or None when this install lacks any of its files."""
    return STARTER_DIR if all((STARTER_DIR / name).is_file() for name in STARTER_FILES) else None


def chosen_model(given: str | None, option: str = "--model") -> str:
    """The model to use: `given` (the command-line option), else $MAPPER_MODEL, else a published checkpoint
    already in the local Hugging Face cache (the newest version first), else the bundled starter (saying so
    on stderr, with how to get a published one); an error naming the first two when the starter is missing too."""
    if given is not None and given.strip():
        return given
    from_env = os.environ.get(MODEL_ENV, "").strip()
    if from_env:
        return from_env
    cached = cached_published_model()
    if cached is not None:
        return cached
    starter = starter_model()
    if starter is not None:
        print(f"mapper: using the small bundled starter model; for better maps use a published one: {option} v30 "
              f"(about 1 GB, downloaded once, with progress)", file=sys.stderr)
        return str(starter)
    raise MapperInputError(f"no model given: pass {option} (a model folder, a Hugging Face hub id, or "
                           f"{'/'.join(SHORT_NAMES)}) or set the {MODEL_ENV} environment variable "
                           f"(the bundled starter model is missing from this install: {STARTER_DIR})")


def cached_published_model() -> str | None:
    """The short name of the newest published checkpoint (v32, then v31, ...) whose snapshot is already in
    the local Hugging Face cache (HF_HUB_CACHE, else HF_HOME/hub), or None. Never asks the hub."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    for name in sorted(SHORT_NAMES, reverse=True):  # v32 first: version names sort by number
        try:
            folder = Path(snapshot_download(SHORT_NAMES[name], allow_patterns=HUB_PATTERNS, local_files_only=True,
                                            cache_dir=_hub_cache()))
        except (LocalEntryNotFoundError, OSError, ValueError):
            continue  # not cached (or a cache entry that cannot be read): the next one
        if (folder / "config.json").is_file() or any(folder.glob("*/config.json")):
            return name
    return None


def _hub_cache() -> str | None:
    """The hub cache folder the environment names now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None


def model_path(given: str | None, option: str = "--model") -> str:
    """`chosen_model`, located (hub models fetched) before anything heavy runs: a command that cannot
    have its model says so at once, not after loading audio and torch."""
    return str(locate_model(chosen_model(given, option)))


def hub_id(name: str) -> str | None:
    """The hub id a name stands for (a short name expanded), or None when it cannot be one."""
    name = SHORT_NAMES.get(name.strip().lower(), name.strip())
    owner, slash, repo = name.partition("/")
    if not slash or not owner or not repo or "/" in repo or name.startswith((".", "~")) or "\\" in name:
        return None
    return name


def locate_model(name: str | os.PathLike) -> Path:
    """A local path for the model: the folder itself when it exists, else the hub snapshot (from the
    cache, or downloaded with a progress bar when the hub is reachable)."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    repo_id = hub_id(str(name))
    if repo_id is None:
        raise MapperInputError(f"{name}: no such model folder (nor a hub id like owner/name, nor one of "
                               f"{', '.join(SHORT_NAMES)})")
    return _snapshot(repo_id)


def _snapshot(repo_id: str) -> Path:
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        pass  # not cached: ask the hub below
    except Exception as exc:  # noqa: BLE001 - a corrupt cache is reported, not raised
        raise MapperInputError(f"{repo_id}: cannot read the cached model ({exc})") from None
    unreachable = f"{repo_id}: not in the Hugging Face cache and the hub cannot be reached"
    # huggingface_hub reads HF_HUB_OFFLINE once, at import; the variable is read here too, so that a
    # process that imported it earlier (transformers does) still honours a later setting.
    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE"):
        raise MapperInputError(f"{unreachable} (offline: HF_HUB_OFFLINE is set); {ALTERNATIVES}")
    print(f"mapper: downloading {repo_id} from the Hugging Face hub", file=sys.stderr)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))  # tqdm progress on stderr
    except (RepositoryNotFoundError, GatedRepoError):
        raise MapperInputError(f"{repo_id}: no such model on the Hugging Face hub (or it needs a login); "
                               f"{ALTERNATIVES}") from None
    except LocalEntryNotFoundError:  # what huggingface_hub raises when it cannot connect
        raise MapperInputError(f"{unreachable}; {ALTERNATIVES}") from None
    except Exception as exc:  # noqa: BLE001 - network errors of every kind become one line
        raise MapperInputError(f"{unreachable} ({type(exc).__name__}); {ALTERNATIVES}") from None
