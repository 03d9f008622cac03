"""Tokenized splits kept on disk, so that a re-run with the same data, tokenizer and options skips tokenizing.

Tasks build their splits in memory (``Dataset.from_dict``), so datasets' own ``map`` cache, which lives
beside a dataset's cache files, never applies: without this, every run tokenizes every text again.

Each split's tokenized form is one Arrow file, ``<fingerprint>-<split>.arrow``. The fingerprint covers
everything the encoding depends on: each split's content (its Arrow data and features, hashed here: datasets'
``_fingerprint`` turns random after a transform it cannot hash, and every run would then miss and write a new
file), the tokenizer (its full definition, not its path), the encoding options, this module's format version
and the library versions. Any change gives another fingerprint, so an outdated file is never read; nothing is
evicted (the folder can be deleted at any time).

Files are written under a temporary name and renamed into place: a reader (another process of a launch, or
the next run after a killed one) finds a whole file or none. A file that does not read back whole (truncated,
overwritten) is reported, tokenized again and replaced. The files hold token ids, masks, lengths and labels:
no text, no paths, no credentials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable

from datasets import Dataset, DatasetDict

logger = logging.getLogger(__name__)

# Bump when tokenize_splits encodes differently (new columns, other arguments to the tokenizer): files written
# by the older code then never match.
FORMAT_VERSION = 1
FOLDER_VARIABLE = "TRAINER_TASKS_CACHE"  # a cache root for this project (tests point it at a temporary folder)


def cache_folder(cache_dir: str | None = None) -> str:
    """``--cache_dir``/tokenized when given (the run's own cache), else ``$TRAINER_TASKS_CACHE``/tokenized, else
    ``$XDG_CACHE_HOME/trainer-tasks/tokenized`` (``~/.cache/trainer-tasks``, beside the kept ``--help``)."""
    if cache_dir:
        return os.path.join(cache_dir, "tokenized")
    root = os.environ.get(FOLDER_VARIABLE)
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "trainer-tasks")
    return os.path.join(root, "tokenized")


def tokenize_with_cache(
    raw: DatasetDict,
    encode: Callable[[Dataset], Dataset],
    settings: dict,
    tokenizer,
    folder: str,
    one_row_per_text: bool = True,
) -> DatasetDict:
    """``encode`` applied to every split of ``raw``, read from ``folder`` where an earlier run left the result.

    ``settings`` are the JSON-able options ``encode`` depends on besides the tokenizer (max_length, padding,
    the columns): they enter the fingerprint with the tokenizer and every split's content. Logs one line
    saying whether the splits were reused or tokenized, and where they are kept. ``one_row_per_text``: a kept
    file must have as many rows as its split (False for ``--long_text chunk``, whose windows outnumber texts).
    """
    fingerprint = run_fingerprint(raw, tokenizer, settings)
    splits, reused, tokenized, unsaved = {}, [], [], []
    for name, split in raw.items():
        path = os.path.join(folder, f"{fingerprint}-{name}.arrow")
        cached = read_split(path, len(split) if one_row_per_text else None, f"{fingerprint}-{name}")
        if cached is not None:
            splits[name] = cached
            reused.append(name)
            continue
        splits[name] = encode(split)
        tokenized.append(name)
        try:
            write_split(splits[name], path)
        except OSError as error:  # a read-only or full disk costs the next run its reuse, never this run
            unsaved.append(name)
            logger.warning("could not keep the tokenized %s split in %s (%s)", name, folder, error)
    kept = "not cached (see the warning)" if unsaved else "cached"
    if not tokenized:
        logger.info("tokenized splits: reused from %s (fingerprint %s)", folder, fingerprint)
    elif not reused:
        logger.info("tokenized splits: tokenized and %s in %s (fingerprint %s)", kept, folder, fingerprint)
    else:
        reused_names, tokenized_names = ", ".join(reused), ", ".join(tokenized)
        message = "tokenized splits: %s reused from %s; %s tokenized and %s (fingerprint %s)"
        logger.info(message, reused_names, folder, tokenized_names, kept, fingerprint)
    return DatasetDict(splits)


def run_fingerprint(raw: DatasetDict, tokenizer, settings: dict) -> str:
    """16 hex digits over every split's name and content, the tokenizer, ``settings`` and the versions."""
    import datasets
    import pyarrow
    import tokenizers
    import transformers

    versions = [FORMAT_VERSION, datasets.__version__, transformers.__version__, tokenizers.__version__]
    digest = hashlib.sha256()
    digest.update(json.dumps([versions, pyarrow.__version__, settings], sort_keys=True, default=str).encode())
    digest.update(tokenizer_digest(tokenizer).encode())
    for name, split in raw.items():
        digest.update(f"\0split {name} {content_digest(split)}".encode())
    return digest.hexdigest()[:16]


def content_digest(dataset: Dataset) -> str:
    """SHA-256 of a split's Arrow data as an IPC stream (schema with features, then every batch), and of its
    indices mapping when a selection made one: the rows it holds, without copying them out (0.15 s for 400k
    headlines, where gathering the selected rows first took seconds)."""
    import pyarrow as pa

    sink = _HashingSink()
    indices = getattr(dataset, "_indices", None)  # datasets' mapping from a selection to the rows of its table
    for table in (dataset.data.table, *([indices.table] if indices is not None else [])):
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return sink.digest.hexdigest()


def tokenizer_digest(tokenizer) -> str:
    """The tokenizer's definition: its backend's full JSON (vocabulary, normalizer, pre-tokenizer, template,
    added tokens) and the attributes the Python side adds. The backend's truncation and padding are left out:
    every call sets them from its own arguments (which ``settings`` hold), so they say what ran last."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    digest = hashlib.sha256()
    if backend is not None:
        state = json.loads(backend.to_str())
        state.pop("truncation", None)
        state.pop("padding", None)
        digest.update(json.dumps(state, sort_keys=True).encode())
    else:  # a sentencepiece or pure-Python tokenizer: the files it saves
        with tempfile.TemporaryDirectory() as folder:
            tokenizer.save_pretrained(folder)
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as handle:
                    digest.update(name.encode() + b"\0" + handle.read())
    attributes = {
        "class": type(tokenizer).__name__,
        "special_tokens": tokenizer.special_tokens_map,
        "model_max_length": tokenizer.model_max_length,
        "padding_side": tokenizer.padding_side,
        "truncation_side": tokenizer.truncation_side,
        "model_input_names": tokenizer.model_input_names,
    }
    digest.update(json.dumps(attributes, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def read_split(path: str, rows: int | None, fingerprint: str) -> Dataset | None:
    """The tokenized split kept at ``path``, read into memory (as a freshly tokenized split is: later maps stay
    in memory and write no cache files), or None when there is none or it does not read back whole."""
    if not os.path.exists(path):
        return None
    import pyarrow as pa
    from datasets.table import InMemoryTable

    try:
        table = InMemoryTable.from_file(path)
        table.table.validate(full=True)  # offsets and lengths within their buffers
        if rows is not None and table.num_rows != rows:
            raise ValueError(f"{table.num_rows} rows where the split has {rows}")
        if not {"input_ids", "length"} <= set(table.column_names):
            raise ValueError(f"columns {table.column_names}")
        return Dataset(table, fingerprint=fingerprint)
    except (OSError, ValueError, pa.ArrowException) as error:
        logger.warning("tokenized split %s is unreadable (%s): tokenizing it again", path, str(error)[:200])
        return None


def write_split(dataset: Dataset, path: str) -> None:
    """Write under a temporary name in the same folder, then rename (atomic on POSIX and Windows): a reader never
    sees a partial file, and two processes writing the same fingerprint leave one whole file (the same bytes)."""
    import pyarrow as pa

    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    table = dataset.data.table  # a map's output: no indices mapping
    table = table.replace_schema_metadata(dataset.features.arrow_schema.metadata)  # the features, for reading back
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".arrow.partial")
    try:
        with os.fdopen(handle, "wb") as file:
            with pa.ipc.new_stream(file, table.schema) as writer:
                writer.write_table(table)
            file.flush()
            os.fsync(file.fileno())
        umask = os.umask(0o666)  # mkstemp's 0600 -> the permissions any new file gets (datasets does the same)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


class _HashingSink:
    """A writable file for pyarrow whose bytes go into SHA-256 instead of memory."""

    closed = False

    def __init__(self) -> None:
        self.digest = hashlib.sha256()

    def write(self, data) -> int:
        self.digest.update(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:  # pyarrow closes its sink with the stream; the digest is read after
        pass
