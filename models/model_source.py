"""Where a model comes from: `--model` (a folder, a Hugging Face hub id, or a short name of a published
Mapperatorinator checkpoint), else the MAPPER_MODEL environment variable, else the starter model bundled
inside the package (`models/starter/`, trained by this project on redistributable data; see its card),
so that `mapper generate song.mp3` works on a fresh machine with no network.

An install without the starter's files (a trimmed copy) names the other two ways instead.
Hub downloads use huggingface_hub's cache (HF_HOME, HF_HUB_CACHE) and its offline switch
(HF_HUB_OFFLINE=1); a model already in the cache is used without asking the hub.

A name that looks like a path (it starts with `.`, `~` or `/`, its first part is a folder here, or it
is a link leading nowhere) is a missing folder, never a hub id: a typo must not become a download.
Every call to the hub has a deadline (huggingface_hub's listing call has none of its own, and a
network that accepts connections but never answers would hold it for ever): the hub must answer
within MAPPER_HUB_TIMEOUT seconds and the download end within MAPPER_HUB_DOWNLOAD_TIMEOUT.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
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


# Seconds the hub has to answer (the repository listing), and to deliver the files; both overridable.
HUB_TIMEOUT_ENV, HUB_TIMEOUT_S = "MAPPER_HUB_TIMEOUT", 30.0
HUB_DOWNLOAD_TIMEOUT_ENV, HUB_DOWNLOAD_TIMEOUT_S = "MAPPER_HUB_DOWNLOAD_TIMEOUT", 3600.0  # ~1 GB on a slow line


def locate_model(name: str | os.PathLike, download: bool = True) -> Path:
    """A local path for the model: the folder itself when it exists, else the hub snapshot (from the
    cache, or downloaded with a progress bar when the hub is reachable and `download` is true)."""
    path = Path(name).expanduser()
    if path.exists():
        return path
    if path.is_symlink():  # exists() is false for a link whose target is missing or loops back
        raise MapperInputError(f"{name}: a link that leads nowhere (its target is missing, or it loops); "
                               f"no such model folder")
    repo_id = hub_id(str(name))
    if repo_id is None:
        raise MapperInputError(f"{name}: no such model folder (nor a hub id like owner/name, nor one of "
                               f"{', '.join(SHORT_NAMES)})")
    first = str(name).strip().split("/")[0]
    if repo_id == str(name).strip() and Path(first).expanduser().exists():
        raise MapperInputError(f"{name}: no such model folder ({first} exists here, so this is a path, "
                               f"not a hub id)")
    return _snapshot(repo_id, download)


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it at import, or as set since (transformers imports
    huggingface_hub early, before a test or an embedding program may set the variable)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")


def _seconds(env: str, default: float) -> float:
    text = os.environ.get(env, "").strip()
    try:
        value = float(text) if text else default
    except ValueError:
        raise MapperInputError(f"{env}={text!r}: give a number of seconds") from None
    if not value > 0:
        raise MapperInputError(f"{env}={text!r}: give a positive number of seconds")
    return value


def within_deadline(seconds: float, call: Callable[[], object], late: str) -> object:
    """`call()`, or MapperInputError(`late`) once `seconds` have passed. The call runs in a daemon
    thread, which is left behind when late: a socket that never answers cannot be interrupted from
    outside, and the command ends at once with the error anyway."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="mapper-hub", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise MapperInputError(late)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _snapshot(repo_id: str, download: bool = True) -> Path:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True))
    except LocalEntryNotFoundError:
        pass  # not cached: ask the hub below
    except Exception as exc:  # noqa: BLE001 - a corrupt cache is reported, not raised
        raise MapperInputError(f"{repo_id}: cannot read the cached model ({exc})") from None
    if not download:
        raise MapperInputError(f"{repo_id}: not downloaded (not in the Hugging Face cache)")
    unreachable = f"{repo_id}: not in the Hugging Face cache and the hub cannot be reached"
    if hub_offline():
        raise MapperInputError(f"{unreachable} (offline: HF_HUB_OFFLINE is set); {ALTERNATIVES}")
    answer_s = _seconds(HUB_TIMEOUT_ENV, HUB_TIMEOUT_S)
    download_s = _seconds(HUB_DOWNLOAD_TIMEOUT_ENV, HUB_DOWNLOAD_TIMEOUT_S)
    hint = f"HF_HUB_OFFLINE is not set; set HF_HUB_OFFLINE=1 to use downloaded models only, or {ALTERNATIVES}"
    try:
        # the listing first, under the short deadline: a hub that never answers is found in seconds
        info = within_deadline(answer_s, lambda: HfApi().model_info(repo_id, timeout=answer_s),
                               f"{repo_id}: the Hugging Face hub did not answer within {answer_s:g} s "
                               f"({HUB_TIMEOUT_ENV}); {hint}")
        print(f"mapper: downloading {repo_id} from the Hugging Face hub", file=sys.stderr)
        return Path(within_deadline(  # tqdm progress on stderr
            download_s, lambda: snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, revision=info.sha,
                                                  etag_timeout=answer_s),
            f"{repo_id}: the download from the Hugging Face hub did not end within {download_s:g} s "
            f"({HUB_DOWNLOAD_TIMEOUT_ENV}); {hint}"))
    except MapperInputError:
        raise
    except (RepositoryNotFoundError, GatedRepoError):
        raise MapperInputError(f"{repo_id}: no such model on the Hugging Face hub (or it needs a login); "
                               f"{ALTERNATIVES}") from None
    except LocalEntryNotFoundError:  # what huggingface_hub raises when it cannot connect
        raise MapperInputError(f"{unreachable} ({hint})") from None
    except Exception as exc:  # noqa: BLE001 - network errors of every kind become one line
        raise MapperInputError(f"{unreachable} ({type(exc).__name__}; {hint})") from None
