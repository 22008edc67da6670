"""``hipart detect --data DIR``: the built-in detector on a dataset's rendered images, adapted to the H36M joints.

Folder layout (``DATA/detections/<detector>/``)::

    settings.json                       detector fingerprint and the images' manifest digest
    test/S9_Walking_1.cam0.npz (+.json) per image sequence: the detector's raw keypoints (n, K, 2) px, confidence
                                        (n, K), detected (n,), and the dataset rows; the record binds it to the
                                        sequence file's sha256
    adapter.npz                         JointAdapter fitted on the train split (or the one given with --adapter)
    train.npz, test.npz                 row-aligned 17-joint detections: x_s (N, 17, 2) px (NaN where no person or
                                        no image), confidence (N, 17), detected (N,) bool, has_image (N,) bool
    data_2d_h36m_<detector>.npz         the same in VideoPose3D's layout (positions_2d[subject][action][camera])
    manifest.json                       written last

Shards and workers split the per-sequence detection exactly like ``data render``; the run that completes the
last sequence fits the adapter and writes the row-aligned files, the archive and the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from hipart import __version__
from hipart.data.build import MANIFEST
from hipart.data.dataset import PoseDataset
from hipart.data.videopose3d import save_positions_2d
from hipart.detect.adapter import JointAdapter
from hipart.detect.base import Detections, Detector
from hipart.detect.blazepose import make_detector
from hipart.errors import HipartError
from hipart.io import atomic_path, file_sha256, write_json_atomic
from hipart.occlusion import box_diagonals, person_boxes
from hipart.parallel import parallel_map
from hipart.render.dataset import ImageSet, dataset_digest, resolve_splits
from hipart.render.jobs import Shard, read_record, remove_stale_temporaries, write_record
from hipart.skeleton import H36M

FORMAT_VERSION = 1
DETECTIONS = "detections"
ADAPTER = "adapter.npz"


def detections_dir(data_dir: str | Path, detector: str = "blazepose") -> Path:
    return Path(data_dir) / DETECTIONS / detector


def _unit_output(out: Path, unit: dict[str, Any]) -> Path:
    stem = unit["file"].rsplit(".", 1)[0]
    return out / f"{stem}.npz"


def _detect_unit(detector: Detector, images: ImageSet, out: Path, unit: dict[str, Any]) -> dict[str, Any]:
    frames = list(images.unit_images(unit))
    rec = images.record(unit)
    if len(frames) != len(rec["rows"]):
        raise HipartError(f"{images.root / unit['file']}: {len(frames)} images, its record lists {len(rec['rows'])}; "
                          "rerun 'hipart data render'")
    det = detector.detect(frames)
    path = _unit_output(out, unit)
    with atomic_path(path) as tmp:
        np.savez(tmp, rows=np.asarray(rec["rows"], np.int64), **det.arrays())
    return write_record(path, {"images": unit["file"], "images_sha256": unit["sha256"], "split": unit["split"],
                               "frames": len(frames), "detected": int(det.detected.sum())})


def _detector(name: str, data_dir: str, images_dir: str) -> tuple[Detector, ImageSet]:
    """A worker's detector and image reader."""
    return make_detector(name), ImageSet(data_dir, images_dir)


def _detect_item(state: tuple[Detector, ImageSet], item: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
    out, unit = item
    return [_detect_unit(state[0], state[1], Path(out), unit)]


def _done(out: Path, unit: dict[str, Any]) -> bool:
    rec = read_record(_unit_output(out, unit))
    return rec is not None and rec.get("images_sha256") == unit["sha256"]


def detect_dataset(data_dir: str | Path, split: str = "all", shard: Shard = Shard(), workers: int = 1,
                   detector: str = "blazepose", images_dir: str | Path | None = None,
                   adapter: str | Path | None = None, out: str | Path | None = None, progress: bool = True,
                   log: Callable[[str], None] = print) -> dict[str, Any] | None:
    """Detect (or resume) every rendered image of the chosen splits; returns the manifest once all are done.
    ``out`` defaults to DATA/detections/<detector> (where :func:`load_row_detections` reads)."""
    data_dir = Path(data_dir)
    images = ImageSet(data_dir, images_dir)
    if workers < 1:
        raise HipartError(f"--workers must be at least 1, got {workers}")
    wanted = [s for s in resolve_splits(split) if s in images.splits]
    if not wanted:
        raise HipartError(f"{images.root}: no rendered {split} images; run 'hipart data render --split {split}'")
    det = make_detector(detector)  # fails now, with the install hint, when the extra is missing
    out = Path(out) if out is not None else detections_dir(data_dir, detector)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"format_version": FORMAT_VERSION, "detector": detector, "fingerprint": det.fingerprint(),
                "images_manifest_sha256": file_sha256(images.root / MANIFEST)}
    write_json_atomic(out / "settings.json", settings)
    if shard.count == 1:
        remove_stale_temporaries(out)
    plan = [u for u in images.units if u["split"] in wanted]
    mine = shard.take(plan)
    todo = [u for u in mine if not _done(out, u)]
    if todo:
        (out / MANIFEST).unlink(missing_ok=True)
        if len(todo) < len(mine):
            log(f"{out}: resuming; {len(mine) - len(todo)} of {len(mine)} sequence(s) already detected and verified")
    total = sum(u["frames"] for u in mine)
    bar = tqdm(total=total, initial=total - sum(u["frames"] for u in todo), unit="img", desc="detect",
               disable=not progress, dynamic_ncols=True)
    with bar:
        for record in parallel_map(_detector, (detector, str(images.data_dir), str(images.root)), _detect_item,
                                   [(str(out), u) for u in todo], workers):
            bar.update(record["frames"])
    all_units = [u for u in images.units if u["split"] in images.splits]
    missing = [u for u in all_units if not _done(out, u)]
    if missing:
        log(f"{out}: shard {shard} done; {len(missing)} sequence(s) still to detect (other shards, or other "
            "splits: run 'hipart detect' for them) before the adapter and outputs are written")
        return None
    if (out / MANIFEST).is_file() and not todo and adapter is None:
        log(f"{out}: detections already complete; nothing to do")
        return json.loads((out / MANIFEST).read_text())
    return finish(data_dir, images, out, settings, detector, adapter, log)


def _raw(out: Path, images: ImageSet, split: str, names: tuple[str, ...]) -> tuple[np.ndarray, Detections]:
    rows, parts = [], []
    for u in images.units:
        if u["split"] != split:
            continue
        with np.load(_unit_output(out, u), allow_pickle=False) as z:
            rows.append(z["rows"])
            parts.append(Detections(z["keypoints"], z["confidence"], z["detected"], names))
    return np.concatenate(rows), Detections.concatenate(parts, names)


def finish(data_dir: Path, images: ImageSet, out: Path, settings: dict[str, Any], detector: str,
           adapter_path: str | Path | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Fit (or load) the adapter, write the row-aligned files, the VideoPose3D archive and the manifest."""
    names = make_detector(detector).keypoint_names
    raw = {split: _raw(out, images, split, names) for split in images.splits}
    if adapter_path is not None:
        adapter = JointAdapter.load(adapter_path)
        source = str(adapter_path)
    else:
        if "train" not in raw:
            raise HipartError(f"the joint adapter is fitted on the train split's images, and {images.root} has none; "
                              "run 'hipart data render --split train' and 'hipart detect' again, or pass --adapter")
        rows, det = raw["train"]
        x_true = PoseDataset(data_dir, "train", fields=("x_s",), normalize=False, verify=False).arrays()["x_s"]
        adapter = JointAdapter.fit(det, x_true[rows], detector)
        source = "fitted on the train split's clean renders"
    adapter.save(out / ADAPTER)
    splits: dict[str, Any] = {}
    per_split_rows: dict[str, dict[str, np.ndarray]] = {}
    for split, (rows, det) in raw.items():
        ds = PoseDataset(data_dir, split, fields=("x_s",), normalize=False, verify=False)
        joints = adapter.apply(det)
        n = len(ds)
        arrays = {"x_s": np.full((n, H36M.num_joints, 2), np.nan, np.float32),
                  "confidence": np.zeros((n, H36M.num_joints), np.float32), "detected": np.zeros(n, bool),
                  "has_image": np.zeros(n, bool)}
        arrays["x_s"][rows], arrays["confidence"][rows] = joints.keypoints, joints.confidence
        arrays["detected"][rows], arrays["has_image"][rows] = joints.detected, True
        with atomic_path(out / f"{split}.npz") as tmp:
            np.savez(tmp, **arrays)
        per_split_rows[split] = {**arrays, **{k: ds.meta[k] for k in ("subject", "action", "subaction", "camera",
                                                                       "frame")}}
        truth = ds.arrays()["x_s"]
        splits[split] = {"file": f"{split}.npz", "sha256": file_sha256(out / f"{split}.npz"), "rows": n,
                         "images": int(arrays["has_image"].sum()), "detected": int(arrays["detected"].sum()),
                         **accuracy(arrays["x_s"], truth, arrays["detected"])}
    archive = out / f"data_2d_h36m_{detector}.npz"
    save_positions_2d(archive, per_split_rows, detector)
    manifest = {"format_version": FORMAT_VERSION, "hipart_version": __version__, "settings": settings,
                "dataset_manifest_sha256": dataset_digest(data_dir), "adapter": {"file": ADAPTER, "source": source,
                                                                                 "fitted_on_frames": adapter.fitted_on},
                "splits": splits, "videopose3d": {"file": archive.name, "sha256": file_sha256(archive)},
                "note": "17 Human3.6M joints in px; NaN and detected=False where the detector found no person"}
    write_json_atomic(out / MANIFEST, manifest)
    return manifest


def accuracy(detected: np.ndarray, truth: np.ndarray, found: np.ndarray) -> dict[str, Any]:
    """How close the adapted detections (N, 17, 2) px are to the rows' truth on the frames with a detection: mean
    2D error (px) overall and per joint, and PCK, the share of joints within 0.05 of the true joints' padded box
    diagonal (``pck_0.05``) and within 10 px (``pck_10px``)."""
    if not found.any():
        return {"mean_error_px": None, "per_joint_error_px": None, "pck_0.05": None, "pck_10px": None}
    err = np.linalg.norm(detected[found] - truth[found], axis=-1)
    diag = box_diagonals(person_boxes(truth[found].astype(np.float64)))[:, None]
    return {"mean_error_px": round(float(err.mean()), 2),
            "per_joint_error_px": dict(zip(H36M.names, np.round(err.mean(axis=0, dtype=np.float64), 2).tolist())),
            "pck_0.05": round(float((err < 0.05 * diag).mean()), 4), "pck_10px": round(float((err < 10).mean()), 4)}


def load_row_detections(data_dir: str | Path, split: str, detector: str = "blazepose",
                         folder: str | Path | None = None) -> dict[str, Any]:
    """Detected 17-joint 2D poses in ``PoseDataset(data_dir, split)`` row order.

    Returns ``x_s`` (N, 17, 2) float32 px (NaN where no person was found or no image exists), ``confidence``
    (N, 17) float32 and ``detected`` (N,) bool (plus ``has_image`` (N,) bool), and ``sha256``, the file's checksum
    (a key for caches made from them). ``folder`` defaults to DATA/detections/<detector>.
    """
    out = Path(folder) if folder is not None else detections_dir(data_dir, detector)
    path = out / MANIFEST
    if not path.is_file():
        raise HipartError(f"{out}: no finished detections; run 'hipart data render --data {data_dir}' and "
                          f"'hipart detect --data {data_dir}' first")
    manifest = json.loads(path.read_text())
    if manifest.get("dataset_manifest_sha256") != dataset_digest(Path(data_dir)):
        raise HipartError(f"{out}: detections were made for another build of {data_dir}; rerun 'hipart data render "
                          "--force' and 'hipart detect'")
    if split not in manifest["splits"]:
        raise HipartError(f"{out}: no {split} detections; render and detect the {split} split first")
    entry = manifest["splits"][split]
    if file_sha256(out / entry["file"]) != entry["sha256"]:
        raise HipartError(f"{out / entry['file']}: changed since it was written; rerun 'hipart detect'")
    with np.load(out / entry["file"], allow_pickle=False) as z:
        return {**{k: z[k] for k in ("x_s", "confidence", "detected", "has_image")}, "sha256": entry["sha256"]}
