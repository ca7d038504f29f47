"""Local benchmark datasets: a Hugging Face ``datasets`` folder saved to disk, parquet files, or JSONL
with image files beside it, read into :class:`~vlmplanner.evaluation.scoring.Sample` rows.

Nothing is downloaded: evaluation runs on data the user has. Every needed column is checked before
the first sample runs (a missing column names itself and the columns there are), and so is every
image file a JSONL row names. The dataset's fingerprint (``datasets``' own for a saved folder, a
SHA-256 of the file bytes for parquet, of the JSONL bytes and each image's name and size otherwise)
is stored with each measured result, so two results on different data never look alike.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmplanner.errors import ValidationError
from vlmplanner.extras import require

from .benchmarks import BenchmarkDefinition
from .scoring import Sample

__all__ = ["LocalDataset", "load_dataset"]

#: Columns that carry MME's subtask / OCRBench's category, and MME's shared image, when present.
_CATEGORY_FIELDS = ("category", "question_type", "dataset")
_GROUP_FIELDS = ("question_id", "image_id", "image_path")
_ID_FIELDS = ("id", "question_id", "index", "doc_id")


@dataclass(frozen=True)
class LocalDataset:
    """The rows of a local dataset, what it is and its fingerprint."""

    path: str
    kind: str                    # "datasets" | "parquet" | "jsonl"
    fingerprint: str
    samples: tuple[Sample, ...]
    split: str = ""

    def __len__(self) -> int:
        return len(self.samples)


def load_dataset(path: str | Path, definition: BenchmarkDefinition, *, split: str | None = None) -> LocalDataset:
    """``path`` read for ``definition``: a saved ``datasets`` folder (``split`` picks one of a
    DatasetDict), a ``.parquet`` file or a folder of them, or a ``.jsonl`` file (or a folder with one)."""
    where = Path(path).expanduser()
    if not where.exists():
        raise ValidationError(f"no dataset at {str(path)!r}", field="data", value=str(path))
    if where.is_dir() and any((where / name).exists() for name in ("dataset_dict.json", "dataset_info.json",
                                                                   "state.json")):
        rows, fingerprint, chosen = _saved_datasets(where, split)
        return LocalDataset(str(where), "datasets", fingerprint, _samples(rows, definition, where), chosen)
    parquet = sorted(where.glob("*.parquet")) if where.is_dir() else ([where] if where.suffix == ".parquet" else [])
    if parquet:
        rows = list(_parquet_rows(parquet))
        return LocalDataset(str(where), "parquet", _digest(parquet),
                            _samples(rows, definition, where if where.is_dir() else where.parent))
    jsonl = sorted(where.glob("*.jsonl")) if where.is_dir() else ([where] if where.suffix == ".jsonl" else [])
    if len(jsonl) == 1:
        base = jsonl[0].parent
        rows = _jsonl_rows(jsonl[0])
        samples = _samples(rows, definition, base)
        images = [base / s.image for s in samples if isinstance(s.image, str)]
        return LocalDataset(str(where), "jsonl", _digest([jsonl[0]], extra=images), samples)
    raise ValidationError(
        f"{str(path)!r} is not a dataset vlmplanner reads: a folder saved with datasets' save_to_disk, .parquet"
        f" files, or one .jsonl file with images beside it{' (found several .jsonl files)' if jsonl else ''}",
        field="data", value=str(path))


def _saved_datasets(where: Path, split: str | None) -> tuple[list[dict[str, Any]], str, str]:
    datasets = require("datasets", feature="reading a saved datasets folder")
    loaded = datasets.load_from_disk(str(where))
    chosen = ""
    if isinstance(loaded, datasets.DatasetDict):
        splits = sorted(loaded)
        if split is None and len(splits) == 1:
            split = splits[0]
        if split not in loaded:
            raise ValidationError(f"choose a split of {str(where)!r} with --split: {', '.join(splits)}",
                                  field="split", value=split)
        loaded, chosen = loaded[split], str(split)
    elif split is not None:
        raise ValidationError(f"{str(where)!r} holds one split; --split {split!r} does not apply", field="split",
                              value=split)
    return [dict(row) for row in loaded], str(loaded._fingerprint), chosen


def _parquet_rows(files: Sequence[Path]) -> Iterator[dict[str, Any]]:
    parquet = require("pyarrow.parquet", feature="reading parquet datasets")
    for file in files:
        try:
            table = parquet.read_table(file)
        except Exception as exc:   # pyarrow's errors are its own classes
            raise ValidationError(f"cannot read {str(file)!r} as parquet: {exc}", field="data", value=str(file)) from exc
        yield from table.to_pylist()


def _jsonl_rows(file: Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ValidationError(f"{file.name} line {number} is not JSON: {exc}", field="data",
                                  value=f"{file}:{number}") from exc
        if not isinstance(row, dict):
            raise ValidationError(f"{file.name} line {number} is not a JSON object", field="data",
                                  value=f"{file}:{number}")
        rows.append(row)
    return rows


def _digest(files: Sequence[Path], *, extra: Sequence[Path] = ()) -> str:
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    for image in sorted(extra):
        digest.update(f"{image.name}:{image.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def _samples(rows: Sequence[Mapping[str, Any]], definition: BenchmarkDefinition, base: Path) -> tuple[Sample, ...]:
    if not rows:
        raise ValidationError(f"the dataset has no rows for {definition.name}", field="data", value=0)
    columns = set(rows[0])
    needed = [definition.question_field, definition.answer_field, definition.image_field]
    if len(definition.options_fields) == 1:
        needed.append(definition.options_fields[0])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise ValidationError(
            f"{definition.name} needs column(s) {', '.join(missing)}; the dataset has {', '.join(sorted(columns))}",
            field=missing[0], value=sorted(columns))
    if definition.metric == "mme" and not columns & set(_CATEGORY_FIELDS):
        raise ValidationError(f"MME needs each row's subtask (a 'category' column); the dataset has"
                              f" {', '.join(sorted(columns))}", field="category", value=sorted(columns))
    samples = []
    missing_images = []
    for index, row in enumerate(rows):
        image = _image(row.get(definition.image_field), base)
        if isinstance(image, str) and not (base / image).is_file():
            missing_images.append(image)
        samples.append(Sample(
            id=str(next((row[f] for f in _ID_FIELDS if row.get(f) not in (None, "")), index)),
            question=str(row[definition.question_field]), answer=row[definition.answer_field],
            options=_options(row, definition), hint=_hint(row, definition), image=image,
            category=str(next((row[f] for f in _CATEGORY_FIELDS if row.get(f)), "")),
            group=str(next((row[f] for f in _GROUP_FIELDS if row.get(f)), "")),
        ))
    if missing_images:
        raise ValidationError(f"{len(missing_images)} image file(s) the dataset names are missing under {str(base)!r},"
                              f" e.g. {missing_images[0]!r}", field=definition.image_field, value=missing_images[0])
    return tuple(samples)


def _image(value: Any, base: Path) -> Any:
    """A path relative to the dataset (JSONL), an HF image dict ({"bytes", "path"}), or a PIL image."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and value.get("bytes"):
        Image = require("PIL.Image", feature="reading dataset images")
        return Image.open(io.BytesIO(value["bytes"])).convert("RGB")
    if isinstance(value, Mapping) and value.get("path"):
        return str(value["path"])
    if value is None:
        raise ValidationError("a row has no image", field="image", value=None)
    return value   # a PIL image, as datasets decodes an Image feature


def _options(row: Mapping[str, Any], definition: BenchmarkDefinition) -> tuple[str, ...]:
    fields = definition.options_fields
    if len(fields) == 1:                       # one list column (ScienceQA's choices)
        value = row.get(fields[0]) or []
        return tuple(str(v) for v in value)
    out = []
    for name in fields:                        # one column per letter (MMBench); empty ones end the list
        value = row.get(name)
        if value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "nan"):
            break
        out.append(str(value))
    return tuple(out)


def _hint(row: Mapping[str, Any], definition: BenchmarkDefinition) -> str | None:
    if not definition.hint_field:
        return None
    value = row.get(definition.hint_field)
    if value is None or (isinstance(value, float) and value != value) or str(value).strip() in ("", "nan"):
        return None
    return str(value)
