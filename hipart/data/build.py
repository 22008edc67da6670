"""``hipart data build``: a capture source plus a hierarchy become a sharded, checksummed, resumable dataset.

Folder layout::

    OUT/manifest.json        written last: the dataset exists once it is there (fields, shards + sha256, counts,
                             hierarchy hash, source, settings, 2D normalization and statistics)
    OUT/hierarchy.npz/.json  the hierarchy the rows were pooled with
    OUT/train/*.npz, OUT/test/*.npz   shards, one per (subject, action, subaction) and up to shard_size frames
    OUT/build.json, OUT/journal.jsonl while building: the settings, and one line per finished shard

Each shard is written to a temporary name and renamed, then its checksum is appended to the journal. A rerun with
the same settings verifies the journal's shards, skips them (their frames are not even computed) and builds the
rest; shards are reproducible byte for byte, so a resumed build equals an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from hipart import __version__
from hipart.camera import normalize_pixels
from hipart.data.levels import LEVELS
from hipart.data.shards import memmap_shard, write_shard
from hipart.data.sources import CaptureSource, ShardData, Task, frame_fields
from hipart.errors import HipartError
from hipart.io import file_sha256, write_json_atomic
from hipart.parallel import parallel_map, threads_per_worker

FORMAT_VERSION = 2  # 2: the "normalization" key (was "normalisation")
MANIFEST = "manifest.json"
SETTINGS = "build.json"
JOURNAL = "journal.jsonl"
HIERARCHY = "hierarchy.npz"
SPLITS = ("train", "test")
MANIFEST_KEYS = ("shards", "counts", "hierarchy", "levels", "fields", "normalization", "settings", "note")
SHARD_KEYS = {"file", "split", "subject", "action", "subaction", "frames", "bytes", "sha256"}
NORMALIZATION = {
    "kind": "screen",
    "formula": "x_norm = x / w * 2 - [1, h / w] with (w, h) = image_size (VideoPose3D)",
    "inverse": "x = (x_norm + [1, h / w]) * w / 2",
}


def build_settings(source: CaptureSource, fast: bool) -> dict[str, Any]:
    """Everything that determines the shards' bytes; a resume must match it exactly."""
    return {"format_version": FORMAT_VERSION, "source": source.describe(), "data": vars(source.cfg).copy(),
            "hierarchy_hash": source.hierarchy.content_hash(), "levels": source.sizes,
            "path": "fast (pooling folded into skinning)" if fast else "full mesh, then pooled"}


def _settings_diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _settings_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}")
    return out


def _normalize_json(obj: Any) -> Any:
    return json.loads(json.dumps(obj))  # tuples -> lists etc., as they come back from disk


def _read_journal(out: Path) -> dict[str, dict[str, Any]]:
    path = out / JOURNAL
    done: dict[str, dict[str, Any]] = {}
    if not path.is_file():
        return done
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            done[rec["name"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a crash: that shard is rebuilt
    return done


def _shard_ok(out: Path, rec: dict[str, Any]) -> bool:
    path = out / rec["file"]
    return path.is_file() and path.stat().st_size == rec["bytes"] and file_sha256(path) == rec["sha256"]


def _clean(out: Path) -> None:
    """Remove what a build writes (never anything else the folder may hold)."""
    for split in SPLITS:
        if (out / split).is_dir():
            for p in (out / split).glob("*.npz"):
                p.unlink()
    for name in (MANIFEST, SETTINGS, JOURNAL, HIERARCHY, "hierarchy.json"):
        if (out / name).exists():
            (out / name).unlink()


def _remove_stale_temporaries(out: Path) -> None:
    for split in SPLITS:
        if (out / split).is_dir():
            for p in (out / split).glob(".*.tmp*"):  # left by a killed process (atomic_path names)
                p.unlink()


# ---------------------------------------------------------------- work


def _source(source: CaptureSource, threads: int | None) -> CaptureSource:
    """A worker's source (heavy members are rebuilt on first use in each process)."""
    if threads is not None:
        torch.set_num_threads(threads)
    return source


def _write(out: Path, task: Task, shard: ShardData) -> dict[str, Any]:
    path = write_shard(out / f"{shard.name}.npz", shard.arrays)
    return {"name": shard.name, "task": task.name, "file": f"{shard.name}.npz", "split": shard.split,
            "subject": shard.subject,
            "action": shard.action, "subaction": shard.subaction, "frames": int(len(shard.arrays["frame"])),
            "bytes": path.stat().st_size, "sha256": file_sha256(path)}


def _task_shards(source: CaptureSource, item: tuple[Task, set[str], bool, str]) -> Iterator[dict[str, Any]]:
    task, done, fast, out = item
    for shard in source.run(task, done, fast):
        yield _write(Path(out), task, shard)


# ---------------------------------------------------------------- build


def build_dataset(source: CaptureSource, out: str | Path, workers: int = 1, force: bool = False, fast: bool = True,
                  progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build (or resume, or confirm) the dataset in ``out``; returns the manifest."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise HipartError(f"{out} is a file; give a folder for the dataset")
    if workers < 1:
        raise HipartError(f"--workers must be at least 1, got {workers}")
    source.check()
    settings = _normalize_json(build_settings(source, fast))
    manifest_path = out / MANIFEST
    if manifest_path.is_file() and not force:
        manifest = load_manifest_file(manifest_path)
        diff = _settings_diff(manifest.get("settings", {}), settings)
        if diff:
            raise HipartError(f"{out} holds a dataset built with other settings ({', '.join(diff[:5])}); "
                              "pass --force to replace it or choose another --out")
        good = [rec for rec in manifest["shards"] if _shard_ok(out, rec)]
        if len(good) == len(manifest["shards"]):
            log(f"{out}: dataset already complete ({manifest['counts']['train']} train, {manifest['counts']['test']} "
                "test frames, every shard verified); nothing to do (--force rebuilds it)")
            return manifest
        # Repair: reopen the build with the intact shards as its journal; only the damaged ones are redone.
        log(f"{out}: {len(manifest['shards']) - len(good)} shard(s) missing or corrupted; rebuilding them")
        write_json_atomic(out / SETTINGS, settings)
        with open(out / JOURNAL, "w") as fh:
            for rec in good:
                fh.write(json.dumps({"name": rec["file"][: -len(".npz")], **rec}) + "\n")
        manifest_path.unlink()
    if force and out.is_dir():
        _clean(out)
    fresh = not (out / SETTINGS).is_file()
    if not fresh:
        previous = json.loads((out / SETTINGS).read_text())
        diff = _settings_diff(previous, settings)
        if diff:
            raise HipartError(f"{out} holds an unfinished build with other settings ({', '.join(diff[:5])}); "
                              "rerun with those settings to resume, or pass --force to start over")
        _remove_stale_temporaries(out)
    elif out.is_dir() and not os.access(out, os.W_OK):
        raise HipartError(f"{out}: cannot write into the dataset folder; choose another --out")

    journal = _read_journal(out)
    done = {name for name, rec in journal.items() if _shard_ok(out, rec)}
    if journal:
        log(f"{out}: resuming; {len(done)} finished shard(s) verified"
            + (f", {len(journal) - len(done)} to redo" if len(done) < len(journal) else ""))
    records = {name: journal[name] for name in done}
    tasks = source.tasks()
    expected = source.expected_frames()
    bar = tqdm(total=expected, initial=sum(r["frames"] for r in records.values()), unit="frame", unit_scale=True,
               desc="data build", disable=not progress, dynamic_ncols=True)
    runner = parallel_map(_source, (source, threads_per_worker(workers)), _task_shards,
                          [(t, done, fast, str(out)) for t in tasks], workers)
    journal_fh = None
    try:
        with bar:
            for rec in runner:
                if journal_fh is None:  # the build's files appear with its first finished shard, never before
                    if fresh:
                        write_json_atomic(out / SETTINGS, settings)
                    if not (out / HIERARCHY).is_file():
                        source.hierarchy.save(out / HIERARCHY)
                    journal_fh = open(out / JOURNAL, "a")
                journal_fh.write(json.dumps(rec) + "\n")
                journal_fh.flush()
                os.fsync(journal_fh.fileno())
                records[rec["name"]] = rec
                bar.update(rec["frames"])
    finally:
        if journal_fh is not None:
            journal_fh.close()
    manifest = _manifest(out, source, settings, tasks, records)
    write_json_atomic(manifest_path, manifest)
    (out / JOURNAL).unlink(missing_ok=True)
    (out / SETTINGS).unlink(missing_ok=True)
    return manifest


def _manifest(out: Path, source: CaptureSource, settings: dict[str, Any], tasks: list[Task],
              records: dict[str, dict[str, Any]]) -> dict[str, Any]:
    order = {t.name: i for i, t in enumerate(tasks)}
    names = sorted(records, key=lambda n: (order.get(records[n]["task"], len(order)), n))
    shards = [{k: v for k, v in records[n].items() if k != "name"} for n in names]
    counts = {split: sum(r["frames"] for r in shards if r["split"] == split) for split in SPLITS}
    if counts["train"] == 0:
        raise HipartError("the build produced no training frames; check the source's subjects and strides")
    return {
        "format_version": FORMAT_VERSION, "hipart_version": __version__,
        "note": "frames of the embedded synthetic Anny capture, not Human3.6M" if source.kind == "default" else
                "frames from Pose2Mesh's Human3.6M SMPL fits",
        "hierarchy": {"hash": source.hierarchy.content_hash(), "file": HIERARCHY,
                      "levels": list(source.hierarchy.levels), "mesh_hash": source.hierarchy.mesh_hash},
        "levels": source.sizes, "fields": frame_fields(source.sizes),
        "normalization": {**NORMALIZATION, "train_statistics": _statistics(out, shards)},
        "counts": counts, "settings": settings, "shards": shards,
    }


def _statistics(out: Path, shards: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-joint mean and std of the screen-normalized 2D levels and of root-relative X_s (mm), train split."""
    sums: dict[str, list[np.ndarray]] = {}
    n = 0
    for rec in shards:
        if rec["split"] != "train":
            continue
        arrays = memmap_shard(out / rec["file"])
        size = np.asarray(arrays["image_size"], dtype=np.float64)
        values = {f"x_{lv}": normalize_pixels(np.asarray(arrays[f"x_{lv}"], np.float64), size) for lv in LEVELS}
        X = np.asarray(arrays["X_s"], np.float64)
        values["X_s_root_relative"] = X - X[:, :1]
        for name, v in values.items():
            acc = sums.setdefault(name, [np.zeros(v.shape[1:]), np.zeros(v.shape[1:])])
            acc[0] += v.sum(0)
            acc[1] += (v ** 2).sum(0)
        n += len(X)
    out_stats: dict[str, Any] = {"frames": n}
    for name, (s1, s2) in sums.items():
        mean = s1 / n
        std = np.sqrt(np.maximum(s2 / n - mean ** 2, 0.0))
        out_stats[name] = {"mean": np.round(mean, 6).tolist(), "std": np.round(std, 6).tolist()}
    return out_stats


def load_manifest_file(path: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HipartError(f"{path}: unreadable manifest ({exc}); rebuild with 'hipart data build --force'") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise HipartError(f"{path}: not a hipart dataset manifest of format {FORMAT_VERSION}; rebuild with "
                          "'hipart data build --force'")
    missing = [k for k in MANIFEST_KEYS if k not in manifest]
    shards = manifest.get("shards")
    if not missing and not (isinstance(shards, list) and all(isinstance(r, dict) and SHARD_KEYS <= set(r)
                                                                for r in shards)):
        missing = ["shards (a list of shard records)"]
    if missing:
        raise HipartError(f"{path}: the manifest lacks {', '.join(missing)} (edited or cut short); rebuild with "
                          "'hipart data build --force'")
    return manifest
