"""Which model weights a run may load: safetensors, and pickle only when the user says so.

A ``pytorch_model.bin`` is a pickle: unpickling a file from an untrusted source can run any code.
transformers 5 unpickles with ``torch.load(weights_only=True)``, which blocks the known ways, but
safetensors holds only tensors and cannot run anything, so that is all a run loads unless
``--allow_pickle_weights`` is passed. Code shipped with a checkpoint (``trust_remote_code``) is a
separate switch, also off by default (``ModelArguments``).
"""

from __future__ import annotations

import os
from typing import Any

from tasks import TaskError

SAFE_FILES = ("model.safetensors", "model.safetensors.index.json")
PICKLE_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
CONVERT_HINT = (
    'convert it once where you trust it: python -c "from transformers import AutoModel; '
    "AutoModel.from_pretrained('IN', use_safetensors=False).save_pretrained('OUT')\""
)


def has_any(folder: str, names: tuple[str, ...]) -> bool:
    return any(os.path.isfile(os.path.join(folder, name)) for name in names)


def pickle_only_error(name: str) -> TaskError:
    return TaskError(
        f"{name} has weights only as a pickle (pytorch_model.bin), which can run code when loaded; "
        f"{CONVERT_HINT}, or pass --allow_pickle_weights if you trust its source"
    )


def unsafe_pickle_error(name: str, detail: str) -> TaskError:
    return TaskError(
        f"{name}: its pickle weights hold more than tensors and were refused by torch.load(weights_only=True) "
        f"({detail[:120]}); do not use this checkpoint unless you know what it contains"
    )


def remote_code_error(name: str) -> TaskError:
    return TaskError(
        f"{name} ships its own Python code (auto_map in config.json), which would run on this machine when "
        "loaded; read that code, and pass --trust_remote_code only if you trust its source"
    )


def check_weights(name: str, allow_pickle: bool) -> None:
    """Refuse a local checkpoint whose only weights are pickles, unless ``allow_pickle``."""
    if allow_pickle or not os.path.isdir(name):
        return  # Hub ids are held to the same rule by ``use_safetensors=True`` in ``load_kwargs``
    if not has_any(name, SAFE_FILES) and has_any(name, PICKLE_FILES):
        raise pickle_only_error(name)


def load_kwargs(allow_pickle: bool) -> dict[str, Any]:
    """``from_pretrained`` arguments: safetensors only, or (opted in) safetensors first, then pickle."""
    return {"use_safetensors": None if allow_pickle else True}


def is_missing_safetensors(error: Exception) -> bool:
    """transformers' error for a Hub repo without safetensors when ``use_safetensors=True``."""
    text = str(error)
    return "safetensors" in text and ("does not appear to have" in text or "no file named" in text)
