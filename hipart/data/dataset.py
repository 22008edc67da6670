"""Reading a built dataset: the manifest, checksum verification, and :class:`PoseDataset` for training.

Shards are memory-mapped (see :mod:`hipart.data.shards`), so opening a dataset reads only the per-frame metadata;
pose rows are read when an item is asked for. ``PoseDataset.arrays()`` loads a whole selection at once for
training loops that keep the data in memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch
from torch.utils.data import Dataset

from hipart.camera import normalize_pixels
from hipart.data.build import HIERARCHY, JOURNAL, MANIFEST, SPLITS, load_manifest_file
from hipart.data.shards import memmap_shard
from hipart.errors import HipartError
from hipart.io import file_sha256
from hipart.skeleton import H36M_ACTIONS

POSE_FIELDS = ("x_s", "x_d", "x_f", "X_s", "X_d", "X_f")
META_FIELDS = ("subject", "action", "subaction", "camera", "frame", "image_size")
DEFAULT_FIELDS = ("x_s", "x_d", "x_f", "X_s")


def load_manifest(root: str | Path) -> dict[str, Any]:
    root = Path(root)
    path = root / MANIFEST
    if not root.is_dir():
        raise HipartError(f"{root}: no such dataset folder; build one with 'hipart data build --out {root}'")
    if not path.is_file():
        if (root / JOURNAL).is_file():
            raise HipartError(f"{root}: the build was interrupted (no {MANIFEST} yet); rerun 'hipart data build' with "
                              f"the same settings and --out {root} to resume it")
        raise HipartError(f"{root}: no {MANIFEST}; this is not a hipart dataset (build one with 'hipart data build')")
    return load_manifest_file(path)


def verify_shards(root: str | Path, shards: Iterable[dict[str, Any]]) -> list[str]:
    """Problems found (missing file, wrong size, checksum mismatch), one line per bad shard."""
    root = Path(root)
    bad = []
    for rec in shards:
        path = root / rec["file"]
        if not path.is_file():
            bad.append(f"{rec['file']}: missing")
        elif path.stat().st_size != rec["bytes"]:
            bad.append(f"{rec['file']}: {path.stat().st_size} bytes, the manifest says {rec['bytes']}")
        elif file_sha256(path) != rec["sha256"]:
            bad.append(f"{rec['file']}: checksum mismatch (corrupted or modified)")
    return bad


def check_hierarchy(manifest: dict[str, Any], expected_hash: str, root: str | Path = "", what: str = "the model"
                    ) -> None:
    got = manifest["hierarchy"]["hash"]
    if got != expected_hash:
        raise HipartError(f"dataset {root} was built with hierarchy {got[:12]} but {what} uses {expected_hash[:12]}; "
                          "rebuild the dataset with that model's --hierarchy, or train the model on this dataset")


def _resolve_subjects(manifest: dict[str, Any], subjects: Iterable[str | int] | None) -> set[str] | None:
    if subjects is None:
        return None
    known = {rec["subject"] for rec in manifest["shards"]}
    wanted = {s if str(s).startswith("S") else f"S{s}" for s in subjects}
    unknown = wanted - known
    if unknown:
        raise HipartError(f"unknown subject(s) {', '.join(sorted(unknown))}; this dataset has {', '.join(sorted(known))}")
    return wanted


def _resolve_actions(actions: Iterable[str] | None) -> set[str] | None:
    if actions is None:
        return None
    wanted = set(actions)
    unknown = wanted - set(H36M_ACTIONS)
    if unknown:
        raise HipartError(f"unknown action(s) {', '.join(sorted(unknown))}; choose from {', '.join(H36M_ACTIONS)}")
    return wanted


class PoseDataset(Dataset):
    """Frames (or temporal windows) of one split of a built dataset.

    Items are dicts of float32 tensors: ``x_*`` (J, 2) screen-normalized when ``normalize`` (else pixels), ``X_*``
    (J, 3) camera-space mm, plus the metadata as int64 scalars / ``image_size`` (2,). With ``window = f`` (odd)
    pose fields become (f, J, C), centred on the item's frame within its (subject, action, subaction, camera)
    sequence, edges repeated. Frames are consecutive *stored* frames: build with stride 1 for temporal models.
    """

    def __init__(self, root: str | Path, split: str = "train", subjects: Iterable[str | int] | None = None,
                 actions: Iterable[str] | None = None, window: int = 1, fields: Iterable[str] = DEFAULT_FIELDS,
                 normalize: bool = True, verify: bool = True, hierarchy_hash: str | None = None) -> None:
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        if split not in SPLITS:
            raise HipartError(f"split must be one of {', '.join(SPLITS)}, got '{split}'")
        if window < 1 or window % 2 == 0:
            raise HipartError(f"window must be a positive odd number of frames, got {window}")
        self.fields = tuple(fields)
        bad_fields = [f for f in self.fields if f not in POSE_FIELDS]
        if bad_fields:
            raise HipartError(f"unknown field(s) {', '.join(bad_fields)}; choose from {', '.join(POSE_FIELDS)}")
        if hierarchy_hash is not None:
            check_hierarchy(self.manifest, hierarchy_hash, self.root)
        self.split, self.window, self.normalize = split, window, normalize
        want_s, want_a = _resolve_subjects(self.manifest, subjects), _resolve_actions(actions)
        self.shards = [r for r in self.manifest["shards"] if r["split"] == split
                       and (want_s is None or r["subject"] in want_s) and (want_a is None or r["action"] in want_a)]
        if not self.shards:
            raise HipartError(f"{self.root}: no {split} frames match the subject/action filters")
        if verify:
            bad = verify_shards(self.root, self.shards)
            if bad:
                raise HipartError(f"{self.root}: {len(bad)} bad shard(s), first: {bad[0]}; rebuild with "
                                  "'hipart data build --force' (or delete those files and rerun the build)")
        self._maps = [memmap_shard(self.root / r["file"]) for r in self.shards]
        for rec, m in zip(self.shards, self._maps):
            if len(m["frame"]) != rec["frames"]:
                raise HipartError(f"{self.root / rec['file']}: {len(m['frame'])} frames, the manifest says "
                                  f"{rec['frames']}; rebuild the dataset")
        self._index()

    def _index(self) -> None:
        """Order frames by sequence then frame; remember where each sequence starts and ends."""
        shard_of = np.concatenate([np.full(r["frames"], i) for i, r in enumerate(self.shards)])
        row_of = np.concatenate([np.arange(r["frames"]) for r in self.shards])
        meta = {k: np.concatenate([np.asarray(m[k]) for m in self._maps]).astype(np.int64)
                for k in ("subject", "action", "subaction", "camera", "frame")}
        order = np.lexsort((meta["frame"], meta["camera"], meta["subaction"], meta["action"], meta["subject"]))
        self._shard, self._row = shard_of[order], row_of[order]
        self.meta = {k: v[order] for k, v in meta.items()}
        self.image_size = np.concatenate([np.asarray(m["image_size"]) for m in self._maps])[order].astype(np.float32)
        seq = np.stack([self.meta[k] for k in ("subject", "action", "subaction", "camera")], axis=1)
        new = np.r_[True, (seq[1:] != seq[:-1]).any(axis=1)]
        seq_id = np.cumsum(new) - 1
        starts = np.flatnonzero(new)
        ends = np.r_[starts[1:], len(seq)]
        self._seq_start, self._seq_end = starts[seq_id], ends[seq_id]
        self.num_sequences = len(starts)

    def __len__(self) -> int:
        return len(self._row)

    @property
    def hierarchy_hash(self) -> str:
        return self.manifest["hierarchy"]["hash"]

    @property
    def hierarchy_path(self) -> Path:
        return self.root / HIERARCHY

    @property
    def levels(self) -> dict[str, int]:
        return dict(self.manifest["levels"])

    def _gather(self, positions: np.ndarray, field: str) -> np.ndarray:
        shard, row = self._shard[positions], self._row[positions]
        out = np.empty((len(positions), *self._maps[0][field].shape[1:]), dtype=np.float32)
        for s in np.unique(shard):
            sel = shard == s
            out[sel] = self._maps[s][field][row[sel]]
        return out

    def _values(self, positions: np.ndarray, field: str) -> np.ndarray:
        values = self._gather(positions, field)
        if self.normalize and field.startswith("x_"):
            values = normalize_pixels(values, self.image_size[positions])
        return values

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        i = i % len(self)
        if self.window == 1:
            positions = np.array([i])
        else:
            half = self.window // 2
            positions = np.clip(np.arange(i - half, i + half + 1), self._seq_start[i], self._seq_end[i] - 1)
        item = {}
        for field in self.fields:
            v = self._values(positions, field)
            item[field] = torch.from_numpy(v[0] if self.window == 1 else v)
        for k, v in self.meta.items():
            item[k] = torch.tensor(int(v[i]))
        item["image_size"] = torch.from_numpy(self.image_size[i].copy())
        return item

    def sequence_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Per item: the first and one-past-the-last item index of its (subject, action, subaction, camera)
        sequence; items are ordered by sequence, then frame."""
        return self._seq_start.copy(), self._seq_end.copy()

    def arrays(self, fields: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """Every selected frame at once, in item order: pose fields (N, J, C) float32 plus metadata (N,)."""
        fields = self.fields if fields is None else tuple(fields)
        positions = np.arange(len(self))
        out = {f: self._values(positions, f) for f in fields}
        out.update({k: v.copy() for k, v in self.meta.items()})
        out["image_size"] = self.image_size.copy()
        return out
