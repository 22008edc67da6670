"""Splitting long image jobs across machines and processes, and resuming them.

A job is a list of *units* (one image sequence each) in a fixed order. ``--shard i/N`` takes every N-th unit
starting at the i-th, so N array-job tasks cover the list exactly once. Each finished unit leaves its output
file and, written after it, a small JSON *record* beside it (file size, sha256, what it holds); a unit whose
record is present and whose file matches it is done. Records are per unit, so shards running at once on a shared
folder never write the same file; whoever finishes the last unit writes the folder's manifest (last of all).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, TypeVar

from hipart.errors import HipartError
from hipart.io import file_sha256, write_json_atomic

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Task ``index`` (1-based) of ``count``."""

    index: int = 1
    count: int = 1

    def take(self, units: Sequence[T]) -> list[T]:
        return list(units[self.index - 1:: self.count])

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str | None) -> Shard:
    """'i/N' (1 <= i <= N) -> Shard; None -> the whole job."""
    if text is None:
        return Shard()
    try:
        i, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        raise HipartError(f"--shard must look like i/N (e.g. 2/8), got '{text}'") from None
    if not 1 <= i <= n:
        raise HipartError(f"--shard {text}: i must lie in 1..N (N >= 1), e.g. 1/{max(n, 1)}")
    return Shard(i, n)


def record_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def write_record(output: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Checksum a finished output and write its record beside it (after it: the record marks it done)."""
    record = {**record, "file": output.name, "bytes": output.stat().st_size, "sha256": file_sha256(output)}
    write_json_atomic(record_path(output), record)
    return record


def read_record(output: Path, verify: bool = True) -> dict[str, Any] | None:
    """The record of a finished output, or None when it is missing, unreadable or (``verify``) does not match."""
    path = record_path(output)
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not output.is_file():
        return None
    if verify and (output.stat().st_size != record.get("bytes") or file_sha256(output) != record.get("sha256")):
        return None
    return record


def remove_stale_temporaries(folder: Path) -> None:
    """Temporary files (hipart.io.atomic_path names) left by killed processes."""
    if folder.is_dir():
        for p in folder.rglob(".*.tmp*"):
            p.unlink(missing_ok=True)
