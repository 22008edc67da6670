"""``hipart data render``: every row of a default-capture dataset as the camera that saw it, stored beside the rows.

Folder layout (default ``DATA/images``)::

    images/settings.json                   what every unit was made with (a rerun must match it, else --force)
    images/test/S9_Walking_1.cam0.mp4      one sequence per (split, subject, action, subaction, camera index),
    images/test/S9_Walking_1.cam0.mp4.json   and its record: frames, dataset rows, person boxes, bytes, sha256
    images/index_test.npz                  per split, one entry per rendered image, in PoseDataset row order
    images/manifest.json                   written last: settings, units (file, bytes, sha256), counts, indexes

``index_<split>.npz`` holds ``row`` (the image's row in ``PoseDataset(DATA, split)`` order), ``unit`` (index into
the manifest's ``units``), ``position`` (frame within that file), ``subject``/``action``/``subaction``/
``camera``/``frame`` (as in the dataset) and ``box`` (x0, y0, x1, y1 px: the projected mesh's bounds).
Reruns skip units whose file matches its record; ``--shard i/N`` renders every N-th unit; the run that completes
the selection writes the index and the manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm import tqdm

from hipart import __version__
from hipart.camera import Camera
from hipart.data.build import MANIFEST, SPLITS
from hipart.data.dataset import PoseDataset, load_manifest
from hipart.errors import HipartError
from hipart.io import atomic_path, file_sha256, write_json_atomic
from hipart.parallel import parallel_map, threads_per_worker
from hipart.render.frames import CaptureFrames, dataset_capture
from hipart.render.jobs import Shard, read_record, record_path, remove_stale_temporaries, write_record
from hipart.render.offscreen import OffscreenRenderer, set_render_threads
from hipart.render.store import FORMATS, iter_images, write_images
from hipart.skeleton import H36M_ACTIONS

FORMAT_VERSION = 1
IMAGES = "images"
SETTINGS = "settings.json"
SCENE_VERSION = "lab-1"  # bump when the look changes: old images then no longer match their settings


@dataclass(frozen=True)
class ImageUnit:
    """One image sequence: a camera's view of one (subject, action, subaction), the frames the dataset kept."""

    split: str
    subject: str
    action: str
    subaction: int
    camera: int  # camera index (0-3), as the dataset's 'camera' field
    frames: tuple[int, ...]
    rows: tuple[int, ...]  # rows in PoseDataset(split) order

    @property
    def stem(self) -> str:
        return f"{self.split}/{self.subject}_{self.action}_{self.subaction}.cam{self.camera}"


def dataset_digest(data_dir: Path) -> str:
    """sha256 of the dataset's manifest: images and detections are bound to one build of the rows."""
    return file_sha256(Path(data_dir) / MANIFEST)


def plan_units(data_dir: str | Path, split: str, subjects: Iterable[str] | None = None,
               actions: Iterable[str] | None = None, every: int = 1) -> list[ImageUnit]:
    """The image sequences of a split (optionally some subjects/actions; every ``every``-th stored frame of each),
    in PoseDataset row order."""
    if every < 1:
        raise HipartError(f"--every must be at least 1, got {every}")
    ds = PoseDataset(data_dir, split, subjects=subjects, actions=actions, fields=("x_s",), normalize=False)
    everything = PoseDataset(data_dir, split, fields=("x_s",), normalize=False, verify=False)
    meta = ds.meta
    # Rows are numbered in the whole split's order even when only some subjects or actions are selected.
    key = lambda m, i: tuple(int(m[k][i]) for k in ("subject", "action", "subaction", "camera", "frame"))  # noqa: E731
    row_of = {key(everything.meta, i): i for i in range(len(everything))}
    starts, _ = ds.sequence_bounds()
    units = []
    for start in np.unique(starts):
        seq = np.flatnonzero(starts == start)[::every]
        first = seq[0]
        units.append(ImageUnit(split, f"S{int(meta['subject'][first])}", H36M_ACTIONS[int(meta["action"][first])],
                               int(meta["subaction"][first]), int(meta["camera"][first]),
                               tuple(int(meta["frame"][i]) for i in seq),
                               tuple(row_of[key(meta, i)] for i in seq)))
    return units


def render_settings(data_dir: Path, fmt: str, quality: int) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "dataset_manifest_sha256": dataset_digest(data_dir), "format": fmt,
            "quality": quality if fmt == "jpeg" else None, "scene": SCENE_VERSION,
            "camera_model": "pinhole (hipart.camera.project_pinhole), pixel centres at integer coordinates"}


# ---------------------------------------------------------------- rendering one unit


def pixels(camera: Camera, X: np.ndarray) -> np.ndarray:
    """World points (n, 3) mm -> pinhole pixels (n, 2), as the dataset's rows (no distortion); plain numpy, for
    whole meshes per frame."""
    Xc = X @ camera.R.T + camera.t
    return camera.f * Xc[:, :2] / Xc[:, 2:] + camera.c


class UnitRenderer:
    """Re-poses and draws units of one dataset; one per process (it holds an OpenGL context)."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.frames: CaptureFrames = dataset_capture(manifest)
        self.renderer = OffscreenRenderer(self.frames.body.faces, self.frames.body.num_vertices)

    def images(self, unit: ImageUnit) -> tuple[list[np.ndarray], np.ndarray]:
        """The unit's images and the person's box (n, 4) px in each."""
        posed = self.frames.pose(unit.subject, unit.action, unit.subaction, np.asarray(unit.frames))
        camera = self.frames.cameras[unit.subject][unit.camera]
        self.renderer.set_scene(self.frames.scene(unit.subject))
        colours = self.frames.colours(unit.subject)
        images, boxes = [], []
        for i in range(len(unit.frames)):
            images.append(self.renderer.render(posed.vertices[i], camera, colours, props=self.frames.props(posed, i)))
            uv = pixels(camera, posed.vertices[i])
            boxes.append(np.r_[uv.min(axis=0), uv.max(axis=0)])
        return images, np.round(np.asarray(boxes), 2)


def _render_unit(worker: UnitRenderer, out: Path, unit: ImageUnit, fmt: str, quality: int) -> dict[str, Any]:
    images, boxes = worker.images(unit)
    path = write_images(out / f"{unit.stem}{FORMATS[fmt]}", images, fmt, quality)
    return write_record(path, {"split": unit.split, "subject": unit.subject, "action": unit.action,
                               "subaction": unit.subaction, "camera": unit.camera, "frames": list(unit.frames),
                               "rows": list(unit.rows), "boxes": boxes.tolist()})


def _renderer(manifest: dict[str, Any], threads: int | None) -> UnitRenderer:
    """A worker's renderer (one OpenGL context per process)."""
    if threads is not None:
        torch.set_num_threads(threads)
        set_render_threads(threads)
    return UnitRenderer(manifest)


def _render_item(worker: UnitRenderer, item: tuple[str, ImageUnit, str, int]) -> list[dict[str, Any]]:
    out, unit, fmt, quality = item
    return [_render_unit(worker, Path(out), unit, fmt, quality)]


# ---------------------------------------------------------------- the job


def resolve_splits(split: str) -> tuple[str, ...]:
    if split == "all":
        return SPLITS
    if split not in SPLITS:
        raise HipartError(f"--split must be train, test or all, got '{split}'")
    return (split,)


def check_settings(out: Path, settings: dict[str, Any], force: bool) -> None:
    """Write the folder's settings, or check them against an earlier run's."""
    path = out / SETTINGS
    if force and out.is_dir():
        for split in SPLITS:
            for p in (out / split).glob("*") if (out / split).is_dir() else ():
                if p.suffix in (".mp4", ".zip", ".json"):
                    p.unlink()
        for p in out.glob("index_*.npz"):
            p.unlink()
        for name in (MANIFEST, SETTINGS):
            (out / name).unlink(missing_ok=True)
    if path.is_file():
        try:
            previous = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            previous = None
        if previous != settings:
            changed = sorted(k for k in settings if not isinstance(previous, dict) or previous.get(k) != settings[k])
            raise HipartError(f"{out} holds images made with other settings ({', '.join(changed) or 'unreadable'}); "
                              "pass --force to replace them or choose another --out")
    else:
        write_json_atomic(path, settings)


def render_dataset(data_dir: str | Path, out: str | Path | None = None, split: str = "test",
                   shard: Shard = Shard(), workers: int = 1, fmt: str = "mp4", quality: int = 90,
                   subjects: Iterable[str] | None = None, actions: Iterable[str] | None = None, force: bool = False,
                   progress: bool = True, log: Callable[[str], None] = print, every: int = 1) -> dict[str, Any] | None:
    """Render (or resume, or confirm) the images of a dataset; returns the manifest, or None while other shards
    still have units to do. ``every`` renders every k-th stored frame of each sequence (e.g. enough training
    images to fit the joint adapter and train on detections); a rerun with another ``every`` redoes the sequences
    whose frames differ."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    dataset_capture(manifest)  # refuses other sources and distortion before anything is written
    out = Path(out) if out is not None else data_dir / IMAGES
    if workers < 1:
        raise HipartError(f"--workers must be at least 1, got {workers}")
    if fmt not in FORMATS:
        raise HipartError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    if not 1 <= quality <= 100:
        raise HipartError(f"--quality must lie in 1..100, got {quality}")
    settings = render_settings(data_dir, fmt, quality)
    plan = [u for s in resolve_splits(split) for u in plan_units(data_dir, s, subjects, actions, every)]  # checks names
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HipartError(f"{out}: cannot create the image folder ({exc.strerror}); choose another --out") from None
    check_settings(out, settings, force)
    if shard.count == 1:
        remove_stale_temporaries(out)  # with shards running at once, another task's temporary may be live
    mine = shard.take(plan)

    def rendered(unit: ImageUnit, verify: bool = True) -> bool:
        record = read_record(out / f"{unit.stem}{FORMATS[fmt]}", verify=verify)
        return record is not None and tuple(record["frames"]) == unit.frames

    todo = [u for u in mine if not rendered(u)]
    total = sum(len(u.frames) for u in mine)
    if todo:
        (out / MANIFEST).unlink(missing_ok=True)  # the folder is changing: no manifest until it is complete
        if len(todo) < len(mine):
            log(f"{out}: resuming; {len(mine) - len(todo)} of {len(mine)} sequence(s) already rendered and verified")
    bar = tqdm(total=total, initial=total - sum(len(u.frames) for u in todo), unit="img", desc="data render",
               disable=not progress, dynamic_ncols=True)
    with bar:
        for record in parallel_map(_renderer, (manifest, threads_per_worker(workers)), _render_item,
                                   [(str(out), u, fmt, quality) for u in todo], workers):
            bar.update(len(record["frames"]))
    missing = [u for u in plan if not rendered(u, verify=False)]
    if missing:
        log(f"{out}: shard {shard} done; {len(missing)} sequence(s) of this selection remain for other shards "
            "(the run that finishes them writes the manifest)")
        return None
    if (out / MANIFEST).is_file() and not todo:
        log(f"{out}: images already complete ({total} in this selection, every file verified); nothing to do")
        return json.loads((out / MANIFEST).read_text())
    return write_manifest(data_dir, out, settings)


def write_manifest(data_dir: Path, out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Index every finished unit in the folder (verified) and write the manifest last."""
    records = []
    for split in SPLITS:
        folder = out / split
        for path in sorted(folder.glob(f"*{FORMATS[settings['format']]}")) if folder.is_dir() else ():
            rec = read_record(path)
            if rec is not None:
                records.append({**rec, "file": f"{split}/{rec['file']}"})
    return write_index(data_dir, out, settings, records, "renders of the embedded synthetic Anny capture (not "
                                                         "Human3.6M footage)")


def write_index(data_dir: Path, out: Path, settings: dict[str, Any], records: list[dict[str, Any]], note: str
                ) -> dict[str, Any]:
    """The per-split image indexes and the manifest (written last) of an image folder whose units are
    ``records`` (each: file, split, subject, action, subaction, camera, frames, rows, boxes, bytes, sha256; optional
    ``source`` and ``positions`` for frames read out of another file)."""
    counts, indexes = {}, {}
    for split in SPLITS:
        recs = [(k, r) for k, r in enumerate(records) if r["split"] == split]
        if not recs:
            continue
        rows = np.concatenate([np.asarray(r["rows"], np.int64) for _, r in recs])
        index = {
            "row": rows,
            "unit": np.concatenate([np.full(len(r["rows"]), k, np.int32) for k, r in recs]),
            "position": np.concatenate([np.arange(len(r["rows"]), dtype=np.int32) for _, r in recs]),
            "subject": np.concatenate([np.full(len(r["rows"]), int(r["subject"].lstrip("S")), np.int16)
                                       for _, r in recs]),
            "action": np.concatenate([np.full(len(r["rows"]), H36M_ACTIONS.index(r["action"]), np.int8)
                                      for _, r in recs]),
            "subaction": np.concatenate([np.full(len(r["rows"]), r["subaction"], np.int8) for _, r in recs]),
            "camera": np.concatenate([np.full(len(r["rows"]), r["camera"], np.int8) for _, r in recs]),
            "frame": np.concatenate([np.asarray(r["frames"], np.int32) for _, r in recs]),
            "box": np.concatenate([np.asarray(r["boxes"], np.float32).reshape(-1, 4) for _, r in recs]),
        }
        order = np.argsort(rows, kind="stable")
        index = {k: v[order] for k, v in index.items()}
        if len(np.unique(index["row"])) != len(rows):
            raise HipartError(f"{out}: two image files claim the same {split} row; delete the folder and render again")
        name = f"index_{split}.npz"
        with atomic_path(out / name) as tmp:
            np.savez(tmp, **index)
        counts[split] = int(len(rows))
        indexes[split] = {"file": name, "sha256": file_sha256(out / name)}
    manifest = {
        "format_version": FORMAT_VERSION, "hipart_version": __version__, "settings": settings,
        "note": note,
        "dataset": str(Path(data_dir).resolve()), "counts": counts, "indexes": indexes,
        "units": [{k: v for k, v in r.items() if k not in ("rows", "boxes", "frames")} | {"frames": len(r["frames"])}
                  for r in records],
    }
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


# ---------------------------------------------------------------- reading


class ImageSet:
    """The rendered images of a dataset folder: which exist, and each unit's images in order."""

    def __init__(self, data_dir: str | Path, images_dir: str | Path | None = None, verify: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.root = Path(images_dir) if images_dir is not None else self.data_dir / IMAGES
        path = self.root / MANIFEST
        if not path.is_file():
            raise HipartError(f"{self.root}: no rendered images (no {MANIFEST}); run 'hipart data render --data "
                              f"{self.data_dir}' first (or finish its shards)")
        try:
            self.manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise HipartError(f"{path}: unreadable ({exc}); rerun 'hipart data render'") from None
        if self.manifest.get("format_version") != FORMAT_VERSION:
            raise HipartError(f"{path}: image folder of another format; rerun 'hipart data render --force'")
        if (self.data_dir / MANIFEST).is_file() and \
                self.manifest["settings"]["dataset_manifest_sha256"] != dataset_digest(self.data_dir):
            raise HipartError(f"{self.root}: these images were rendered for another build of {self.data_dir}; rerun "
                              "'hipart data render --force'")
        self.units: list[dict[str, Any]] = self.manifest["units"]
        if verify:
            for u in self.units:
                p = Path(u["source"]) if "source" in u else self.root / u["file"]
                if not p.is_file() or p.stat().st_size != u["bytes"] or file_sha256(p) != u["sha256"]:
                    raise HipartError(f"{p}: missing or changed since rendering; rerun 'hipart data render'")

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(s for s in SPLITS if s in self.manifest["counts"])

    def index(self, split: str) -> dict[str, np.ndarray]:
        """The split's image index (see the module docstring), sorted by dataset row."""
        if split not in self.manifest["indexes"]:
            raise HipartError(f"{self.root}: no {split} images; run 'hipart data render --split {split}'")
        with np.load(self.root / self.manifest["indexes"][split]["file"]) as z:
            return {k: z[k] for k in z.files}

    def unit_images(self, unit: int | dict[str, Any]) -> Iterator[np.ndarray]:
        """The images of one unit (an index into ``units`` or its entry), in frame order. Units indexed from other
        files (``hipart data footage``) read their ``positions`` out of their ``source`` video."""
        entry = self.units[unit] if isinstance(unit, int) else unit
        if "source" not in entry:
            return iter_images(self.root / entry["file"])
        return _frames_at(iter_images(entry["source"]), entry["positions"], entry["source"])

    def record(self, unit: int | dict[str, Any]) -> dict[str, Any]:
        """A unit's full record: frames, dataset rows and person boxes as well."""
        entry = self.units[unit] if isinstance(unit, int) else unit
        rec = json.loads(record_path(self.root / entry["file"]).read_text())
        return rec


def _frames_at(frames: Iterator[np.ndarray], positions: list[int], source: str) -> Iterator[np.ndarray]:
    """The frames at ascending ``positions`` of a sequence, decoding it once."""
    wanted = iter(positions)
    target, i = next(wanted, None), -1
    for i, frame in enumerate(frames):
        if target is None:
            return
        if i == target:
            yield frame
            target = next(wanted, None)
    if target is not None:
        raise HipartError(f"{source}: has no frame {target} (ends at {i}); the video is shorter than its annotations")
