"""A model's config.json from the Hugging Face Hub, by repo id (``ORG/NAME``).

The file comes from the local Hugging Face cache when it is there (so ``HF_HUB_OFFLINE=1`` works
after one download, and tests build a cache folder themselves), from the Hub otherwise, through
``huggingface_hub`` (the same cache transformers uses: ``HF_HOME`` / ``HF_HUB_CACHE``). Every
failure (a gated or missing repo, a missing revision, no network) is one line naming the repo.

``vramatlas estimate --model ORG/NAME`` and ``vramatlas add model ORG/NAME`` read configs here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

MAX_CONFIG_BYTES = 1 << 20
REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class HubError(ValueError):
    """A config that could not be had from the Hub or the cache: the message is one line."""


def is_repo_id(text: str) -> bool:
    return bool(REPO_ID.match(text or "")) and ".." not in text


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def config_path(repo_id: str, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """The local path of the repo's config.json: the cached copy, else one downloaded now."""
    if not is_repo_id(repo_id):
        raise HubError(f"'{repo_id}' is not a Hugging Face repo id (ORG/NAME)")
    try:
        import huggingface_hub
        from huggingface_hub import errors
    except ImportError:  # pragma: no cover - a dependency of the package
        raise HubError("reading a Hub model needs huggingface_hub (pip install huggingface_hub)") from None
    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    kwargs: dict[str, Any] = {"revision": revision, "cache_dir": str(cache_dir) if cache_dir else None}
    try:
        return Path(huggingface_hub.hf_hub_download(repo_id, "config.json", local_files_only=True, **kwargs))
    except (errors.LocalEntryNotFoundError, errors.EntryNotFoundError, FileNotFoundError):
        if _offline():
            raise HubError(
                f"{where}: config.json is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
            ) from None
    except errors.HFValidationError as exc:
        raise HubError(f"{where}: {str(exc).splitlines()[0]}") from None
    try:
        return Path(huggingface_hub.hf_hub_download(repo_id, "config.json", **kwargs))
    except errors.GatedRepoError:
        raise HubError(
            f"{where}: the repo is gated; accept its licence on huggingface.co and log in (hf auth login)"
        ) from None
    except errors.RepositoryNotFoundError:
        raise HubError(f"{where}: no such repo on the Hub (or it is private: log in with hf auth login)") from None
    except errors.RevisionNotFoundError:
        raise HubError(f"{where}: no such revision") from None
    except (errors.EntryNotFoundError, errors.RemoteEntryNotFoundError):
        raise HubError(f"{where}: the repo has no config.json") from None
    except errors.LocalEntryNotFoundError:
        raise HubError(f"{where}: not in the local cache and the Hub cannot be reached") from None
    except errors.HfHubHTTPError as exc:
        raise HubError(f"{where}: the Hub answered {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise HubError(
            f"{where}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'cannot reach the Hub'}"
        ) from None


def read_hub_config(repo_id: str, revision: str | None = None, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The repo's config.json as a dict (see the module docstring)."""
    path = config_path(repo_id, revision, cache_dir)
    where = repo_id + (f"@{revision}" if revision else "")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise HubError(f"{where}: config.json is larger than 1 MiB")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise HubError(f"{where}: cannot read config.json ({type(exc).__name__})") from None
    except json.JSONDecodeError as exc:
        raise HubError(f"{where}: config.json:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise HubError(f"{where}: config.json must be a JSON object")
    return data
