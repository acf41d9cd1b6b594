"""Checkpoint directories: our own format, and X's published export, both validated.

Both layouts are a folder of three files::

    config.json            model configuration
    model_params.npz       "<haiku module path>/<param>" -> float32 array
    embedding_tables.npz   user_embeddings, item_embeddings, author_embeddings

Ours writes ``config.json`` as ``{"format": "feedmixer.phoenix", "format_version": 1,
"kind": "ranker" | "retrieval", "model": PhoenixConfig.to_dict()}``, so hash parameters,
action names, position mode and attention mode travel with the weights. X's ``config.json``
is a flat object (``emb_size``, ``num_heads``, ``hash_params``, ...) without those; the
published loader fixes widening 2.0, multiplier 0.125, default positions and causal
attention, and so do we. X's tables file holds the same three arrays we use (X stacks
them after 65 zero rows; hash 0 reading a zero row is what our lookup does).

Loading checks every array the config implies against the file before any JAX code runs:
a missing key, a wrong shape or dtype, a truncated file or a bad config field raises a
:class:`~phoenix_models.errors.CheckpointError` subclass naming file, key, expected and
found. The config's sizes are checked (finite, within bounds, an estimated parameter count
under :data:`~phoenix_models.config.MAX_PARAMETERS`) before any array is read; each array's
``.npy`` header (shape, dtype, and the bytes it claims against the bytes stored) before its
data; and every value after: a NaN or an infinity raises :class:`NonFiniteParameterError`.

Saving builds the folder whole beside the target and swaps it in as one unit
(:func:`~phoenix_models.atomic.atomic_folder`), so a crash never leaves new weights beside
old tables.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import jax
import numpy as np

from phoenix_models.atomic import atomic_folder
from phoenix_models.config import PUBLISHED_ACTIONS, EntityHash, PhoenixConfig, preview
from phoenix_models.errors import (
    CheckpointConfigError,
    CheckpointError,
    ConfigError,
    CorruptFileError,
    DtypeMismatchError,
    MissingFileError,
    MissingPackageError,
    MissingParameterError,
    ParameterError,
    ShapeMismatchError,
    WrongModelError,
)
from phoenix_models.features import HASH_TABLES_MODULE

FORMAT_NAME = "feedmixer.phoenix"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
PARAMS_FILE = "model_params.npz"
TABLES_FILE = "embedding_tables.npz"
CONTENT_FILE = "content.npz"
TABLE_KEYS = {"user": "user_embeddings", "item": "item_embeddings", "author": "author_embeddings"}
ModelKind = Literal["ranker", "retrieval"]
_MODULE_OF_KIND = {"ranker": "phoenix_model", "retrieval": "phoenix_retrieval_model"}

# Fields of X's config.json, and the defaults its loader uses for the optional ones.
_PUBLISHED_REQUIRED = (
    "emb_size",
    "key_size",
    "num_heads",
    "num_layers",
    "history_seq_len",
    "candidate_seq_len",
    "num_user_hashes",
    "num_item_hashes",
    "num_author_hashes",
    "num_actions",
    "user_vocab_size",
    "item_vocab_size",
    "author_vocab_size",
    "hash_params",
)
_PUBLISHED_OPTIONAL = {"product_surface_vocab_size": 16, "post_age_granularity_mins": 60}


class NonFiniteParameterError(ParameterError):
    """An array of the checkpoint holds NaN or infinite values (``count`` of them)."""

    def __init__(self, message: str, *, key: str, count: int) -> None:
        super().__init__(message, key=key)
        self.count = count


def save_checkpoint(
    path: str | Path,
    *,
    kind: ModelKind,
    config: PhoenixConfig,
    params: Mapping[str, Any],
    content: Any = None,
) -> None:
    """Write ``params`` (a haiku params dict) and ``config`` to a checkpoint folder, as one
    unit: the three files are built in a temporary sibling and swapped in together (other
    entries of an existing folder, such as a training state, stay). ``content`` (a
    :class:`~phoenix_models.content.ContentModel`, for models with content inputs) is
    written beside them as ``content.npz``."""
    weights, tables = {}, {}
    for module, entries in params.items():
        for name, value in entries.items():
            array = np.asarray(value, dtype=np.float32)
            if module == HASH_TABLES_MODULE:
                tables[name] = array
            else:
                weights[f"{module}/{name}"] = array
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "model": config.to_dict(),
    }
    with atomic_folder(Path(path)) as folder:
        np.savez(folder / PARAMS_FILE, **weights)
        np.savez(folder / TABLES_FILE, **tables)
        (folder / CONFIG_FILE).write_bytes(json.dumps(header, indent=2).encode())
        if content is not None:
            content.save(folder / CONTENT_FILE)


def load_checkpoint(path: str | Path, *, kind: ModelKind) -> tuple[PhoenixConfig, dict]:
    """Read and validate a checkpoint folder (ours or X's) -> (config, haiku params dict)."""
    folder = Path(path)
    if not folder.is_dir():
        raise MissingFileError(f"{folder}: checkpoint folder not found")
    for name in (CONFIG_FILE, PARAMS_FILE, TABLES_FILE):
        if not (folder / name).is_file():
            raise MissingFileError(f"{folder / name}: required checkpoint file is missing")
    raw = _read_json(folder / CONFIG_FILE)
    with _open_npz(folder / PARAMS_FILE) as weights, _open_npz(folder / TABLES_FILE) as tables:
        if "format" in raw:
            config = _our_config(raw, kind, folder / CONFIG_FILE)
        else:
            _check_published_kind(weights.files, kind, folder / PARAMS_FILE)
            config = config_from_published(raw, source=folder / CONFIG_FILE)
        params = _read_params(config, kind, weights, tables, folder)
    return config, params


def load_content(path: str | Path, config: PhoenixConfig) -> Any:
    """The checkpoint's :class:`~phoenix_models.content.ContentModel` (None when the model
    reads no semantic IDs); its levels and codebook size must match the config."""
    if not config.sid_levels:
        return None
    from phoenix_models.content import ContentModel

    file = Path(path) / CONTENT_FILE
    if not file.is_file():
        raise MissingFileError(
            f"{file}: the model reads semantic IDs (sid_levels {config.sid_levels}) but its "
            "content model is missing"
        )
    try:
        content = ContentModel.load(file)
    except MissingPackageError:
        raise  # the file is fine: its text encoder's package is not installed here
    except ValueError as exc:  # InputError
        raise CorruptFileError(f"{exc}") from exc
    found = (content.quantizer.levels, content.quantizer.codebook_size)
    if found != (config.sid_levels, config.sid_codebook_size):
        raise CheckpointConfigError(
            f"{file}: {found[0]} levels of {found[1]} codes, but the config reads "
            f"{config.sid_levels} of {config.sid_codebook_size}"
        )
    return content


def config_from_published(
    raw: Mapping[str, Any], *, source: Path | str = CONFIG_FILE
) -> PhoenixConfig:
    """Translate X's flat ``config.json`` into a :class:`PhoenixConfig`."""
    for name in _PUBLISHED_REQUIRED:
        if name not in raw:
            raise CheckpointConfigError(f"{source}: missing field {name!r}")
    fields = {name: raw[name] for name in _PUBLISHED_REQUIRED if name != "hash_params"}
    fields.update({k: raw.get(k, v) for k, v in _PUBLISHED_OPTIONAL.items()})
    for name, value in fields.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise CheckpointConfigError(
                f"{source}: field {name!r} must be a positive integer, got {preview(value)}"
            )
    hashes = {
        entity: _published_hash(raw["hash_params"], entity, fields, source)
        for entity in ("user", "item", "author")
    }
    num_actions = fields["num_actions"]
    names = (
        PUBLISHED_ACTIONS
        if num_actions == len(PUBLISHED_ACTIONS)
        else tuple(f"action_{i}" for i in range(num_actions))
    )
    try:
        return PhoenixConfig(
            emb_size=fields["emb_size"],
            num_layers=fields["num_layers"],
            num_q_heads=fields["num_heads"],
            num_kv_heads=fields["num_heads"],
            key_size=fields["key_size"],
            widening_factor=2.0,
            attn_output_multiplier=0.125,
            history_seq_len=fields["history_seq_len"],
            candidate_seq_len=fields["candidate_seq_len"],
            num_actions=num_actions,
            action_names=names,
            product_surface_vocab_size=fields["product_surface_vocab_size"],
            post_age_granularity_mins=fields["post_age_granularity_mins"],
            user_hash=hashes["user"],
            item_hash=hashes["item"],
            author_hash=hashes["author"],
            position_mode="default",
            history_attention="causal",
        )
    except ConfigError as exc:
        raise CheckpointConfigError(f"{source}: {exc}") from exc


# ---- helpers ------------------------------------------------------------------------------


def _published_hash(
    hash_params: Any, entity: str, fields: Mapping[str, int], source: Path | str
) -> EntityHash:
    if not isinstance(hash_params, dict):
        raise CheckpointConfigError(f"{source}: field 'hash_params' must be an object")
    keys = (f"{entity}_hash_scales", f"{entity}_biases", f"{entity}_modulus")
    for key in keys:
        if key not in hash_params:
            raise CheckpointConfigError(f"{source}: missing field 'hash_params.{key}'")
    scales, biases, modulus = (hash_params[k] for k in keys)
    for key, values in zip(keys[:2], (scales, biases), strict=True):
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values
        ):
            raise CheckpointConfigError(f"{source}: 'hash_params.{key}' must be a list of integers")
    if isinstance(modulus, bool) or not isinstance(modulus, int):
        raise CheckpointConfigError(f"{source}: 'hash_params.{keys[2]}' must be an integer")
    expected = fields[f"num_{entity}_hashes"]
    if len(scales) != expected or len(biases) != expected:
        raise CheckpointConfigError(
            f"{source}: num_{entity}_hashes is {expected} but hash_params has "
            f"{len(scales)} scales and {len(biases)} biases for {entity}"
        )
    spec = EntityHash(
        vocab_size=fields[f"{entity}_vocab_size"],
        scales=tuple(scales),
        biases=tuple(biases),
        modulus=modulus,
    )
    try:
        spec.validate(f"hash_params ({entity})")
    except ConfigError as exc:
        raise CheckpointConfigError(f"{source}: {exc}") from exc
    return spec


def _our_config(raw: Mapping[str, Any], kind: ModelKind, source: Path) -> PhoenixConfig:
    if raw.get("format") != FORMAT_NAME:
        raise CheckpointConfigError(
            f"{source}: unknown format {raw.get('format')!r}; expected {FORMAT_NAME!r}"
        )
    version = raw.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointConfigError(
            f"{source}: format_version {version!r} is not supported (this version reads "
            f"1..{FORMAT_VERSION}); upgrade feedmixer to read it"
        )
    if raw.get("kind") not in _MODULE_OF_KIND:
        raise CheckpointConfigError(
            f"{source}: field 'kind' must be 'ranker' or 'retrieval', got {raw.get('kind')!r}"
        )
    if raw["kind"] != kind:
        raise WrongModelError(f"{source}: this is a {raw['kind']} checkpoint, not a {kind}")
    try:
        return PhoenixConfig.from_dict(raw.get("model"))
    except ConfigError as exc:
        raise CheckpointConfigError(f"{source}: {exc}") from exc


def _check_published_kind(keys: list[str], kind: ModelKind, source: Path) -> None:
    for other, module in _MODULE_OF_KIND.items():
        if other != kind and any(k.startswith(module + "/") for k in keys):
            raise WrongModelError(
                f"{source}: holds {other} parameters ({module}/...), not a {kind}; "
                f"point --artifacts at the {kind} folder"
            )


def _expected_shapes(config: PhoenixConfig, kind: ModelKind) -> dict[str, dict[str, Any]]:
    if kind == "ranker":
        from phoenix_models.ranker import ranker_network

        init = ranker_network(config).init
    else:
        from phoenix_models.retrieval import retrieval_network

        init = retrieval_network(config).init
    return jax.eval_shape(init, jax.random.PRNGKey(0))


def _read_params(
    config: PhoenixConfig,
    kind: ModelKind,
    weights: np.lib.npyio.NpzFile,
    tables: np.lib.npyio.NpzFile,
    folder: Path,
) -> dict[str, dict[str, np.ndarray]]:
    params: dict[str, dict[str, np.ndarray]] = {}
    for module, entries in _expected_shapes(config, kind).items():
        params[module] = {}
        for name, spec in entries.items():
            if module == HASH_TABLES_MODULE:
                source, key = tables, name
                file = folder / TABLES_FILE
            else:
                source, key = weights, f"{module}/{name}"
                file = folder / PARAMS_FILE
            params[module][name] = _checked_array(source, key, tuple(spec.shape), file)
    return params


def _checked_array(
    source: np.lib.npyio.NpzFile, key: str, shape: tuple[int, ...], file: Path
) -> np.ndarray:
    if key not in source.files:
        raise MissingParameterError(
            f"{file}: missing array {key!r} (expected shape {shape})", key=key
        )
    try:
        found, dtype = _npy_header(source, key, file)
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CorruptFileError(f"{file}: array {key!r} cannot be read ({exc})") from exc
    if found != shape:
        raise ShapeMismatchError(
            f"{file}: array {key!r} has shape {found}, expected {shape} "
            "from the checkpoint's config",
            key=key,
            expected=shape,
            found=found,
        )
    if dtype != np.float32:
        raise DtypeMismatchError(
            f"{file}: array {key!r} has dtype {dtype}, expected float32", key=key
        )
    try:
        array = source[key]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CorruptFileError(f"{file}: array {key!r} cannot be read ({exc})") from exc
    bad = array.size - int(np.count_nonzero(np.isfinite(array)))
    if bad:
        raise NonFiniteParameterError(
            f"{file}: array {key!r} holds {bad} NaN or infinite value(s) of {array.size}; "
            "the checkpoint is damaged or came from a diverged training run",
            key=key,
            count=bad,
        )
    return array


def _npy_header(
    source: np.lib.npyio.NpzFile, key: str, file: Path
) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an archived array's ``.npy`` header, without reading its data;
    a header that claims more bytes than the archive stores raises ``CorruptFileError``."""
    member = source.zip.getinfo(f"{key}.npy")
    with source.zip.open(member) as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
        header_bytes = handle.tell()
    claimed = math.prod(shape) * dtype.itemsize
    if dtype.hasobject or header_bytes + claimed != member.file_size:
        raise CorruptFileError(
            f"{file}: array {key!r} claims shape {shape} of {dtype} ({claimed:,} bytes) but "
            f"the archive holds {member.file_size - header_bytes:,} bytes of data"
        )
    return tuple(shape), dtype


class _open_npz:
    """``np.load`` of an .npz, translating "not a zip / truncated" into CorruptFileError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.file = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise CorruptFileError(f"{path}: not a readable .npz file ({exc})") from exc
        if not isinstance(self.file, np.lib.npyio.NpzFile):
            raise CorruptFileError(f"{path}: expected an .npz archive, found a single .npy array")

    def __enter__(self) -> np.lib.npyio.NpzFile:
        return self.file

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # bad UTF-8 or JSON, or an integer of 4,300+ digits
        raise CheckpointConfigError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(raw, dict):
        raise CheckpointConfigError(f"{path}: expected a JSON object, found {type(raw).__name__}")
    return raw
