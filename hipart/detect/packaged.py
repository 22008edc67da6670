"""The packaged BlazePose -> Human3.6M joint adapter, and which adapter a command uses.

A :class:`~hipart.detect.adapter.JointAdapter` fitted on the default data's renders ships in the package
(``hipart/resources/blazepose_h36m_adapter.npz``, a few kB), so that ``predict --image/--video`` and
``bench 3dpw --twod detector`` work for a run whose dataset has no renders (a run on real Human3.6M, or a run
copied without its dataset). Its file records its provenance: the dataset, its build, the number of frames the fit
saw and the adapted detections' error on that dataset's train and test renders.

Refit it (after ``hipart data render --data D --split train`` and ``hipart detect --data D``)::

    hipart detect --data data/default-demo --package-adapter

which copies ``D/detections/blazepose/adapter.npz`` into the package resources with that provenance.

Lookup wherever an adapter is needed (:func:`choose_adapter`): an explicit ``--adapter`` file, else the run's
dataset's own adapter (``DATA/detections/blazepose/adapter.npz``), else the packaged one; the command says which in
one line. The packaged adapter knows the joints of the default data's synthetic bodies (the Anny rig), not
Human3.6M's marker-based ones: a dataset's own adapter, where there is one, is closer to that dataset's joints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from hipart import __version__
from hipart.data.build import MANIFEST
from hipart.detect.adapter import JointAdapter
from hipart.detect.dataset import ADAPTER, detections_dir
from hipart.errors import HipartError
from hipart.io import file_sha256

PACKAGED_FILE = "blazepose_h36m_adapter.npz"
PACKAGED_DETECTOR = "blazepose"


def packaged_adapter_path() -> Path:
    """Where the packaged adapter lives (``hipart/resources/blazepose_h36m_adapter.npz``); it may be absent."""
    return Path(str(resources.files("hipart.resources").joinpath(PACKAGED_FILE)))


def load_packaged_adapter() -> JointAdapter:
    """The packaged BlazePose adapter, or a one-line error saying how to make it."""
    path = packaged_adapter_path()
    if not path.is_file():
        raise HipartError(f"{path}: no packaged joint adapter in this install; make it with 'hipart detect --data "
                          "DIR --package-adapter' on a detected dataset, or pass --adapter")
    return JointAdapter.load(path)


def _read_json(path: Path, fix: str) -> dict[str, Any]:
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise HipartError(f"{path}: not found; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HipartError(f"{path}: unreadable ({type(exc).__name__}); {fix}") from None
    if not isinstance(obj, dict):
        raise HipartError(f"{path}: not a JSON object; {fix}")
    return obj


def adapter_provenance(data_dir: str | Path, detector: str = PACKAGED_DETECTOR) -> dict[str, Any]:
    """What a dataset's fitted adapter was fitted on, from the dataset's and its detections' manifests (which must
    belong to the same build of the dataset)."""
    data_dir = Path(data_dir)
    out = detections_dir(data_dir, detector)
    fix = f"run 'hipart detect --data {data_dir}' to the end first"
    if not (out / MANIFEST).is_file():
        raise HipartError(f"{out}: no finished detections, so no fitted joint adapter to package; {fix}")
    det = _read_json(out / MANIFEST, fix)
    dataset = _read_json(data_dir / MANIFEST, f"{data_dir} is not a built dataset")
    if det.get("dataset_manifest_sha256") != file_sha256(data_dir / MANIFEST):
        raise HipartError(f"{out}: detections were made for another build of {data_dir}; rerun 'hipart data render "
                          "--force' and 'hipart detect'")
    adapter_file = out / det.get("adapter", {}).get("file", ADAPTER)
    splits = det.get("splits", {})
    note = str(dataset.get("note", ""))
    return {
        "dataset": data_dir.as_posix(),
        "dataset_name": data_dir.name,
        "dataset_note": note,
        "synthetic": "synthetic" in note.lower(),
        "dataset_manifest_sha256": det["dataset_manifest_sha256"],
        "hierarchy_hash": dataset.get("hierarchy", {}).get("hash"),
        "detector": detector,
        "detector_fingerprint": det.get("settings", {}).get("fingerprint"),
        "fit": det.get("adapter", {}).get("source"),
        "fitted_on_frames": det.get("adapter", {}).get("fitted_on_frames"),
        "mean_error_px": {s: v.get("mean_error_px") for s, v in splits.items()},
        "pck_0.05": {s: v.get("pck_0.05") for s, v in splits.items()},
        "source_file": adapter_file.as_posix(),
        "source_sha256": file_sha256(adapter_file) if adapter_file.is_file() else None,
        "hipart_version": __version__,
        "command": f"hipart detect --data {data_dir.as_posix()} --package-adapter",
    }


def package_adapter(data_dir: str | Path, detector: str = PACKAGED_DETECTOR, dest: str | Path | None = None
                    ) -> tuple[Path, JointAdapter]:
    """Copy ``DATA/detections/<detector>/adapter.npz`` (a finished ``hipart detect --data DATA``) with its
    provenance to ``dest`` (default: the package resources, where :func:`choose_adapter` finds it); atomic.
    Reads the dataset only; detects and fits nothing."""
    if detector != PACKAGED_DETECTOR:
        raise HipartError(f"only a {PACKAGED_DETECTOR} adapter can be packaged, not '{detector}'")
    provenance = adapter_provenance(data_dir, detector)
    adapter = JointAdapter.load(provenance["source_file"])
    if adapter.detector != detector:
        raise HipartError(f"{provenance['source_file']}: an adapter for '{adapter.detector}', not '{detector}'")
    if provenance["fitted_on_frames"] not in (None, adapter.fitted_on):
        raise HipartError(f"{provenance['source_file']}: fitted on {adapter.fitted_on} frames, its manifest says "
                          f"{provenance['fitted_on_frames']}; rerun 'hipart detect --data {data_dir}'")
    provenance["fitted_on_frames"] = adapter.fitted_on
    adapter.provenance = provenance
    path = adapter.save(Path(dest) if dest is not None else packaged_adapter_path())
    return path, adapter


def describe_packaged(adapter: JointAdapter) -> str:
    """One line on where the packaged adapter comes from, e.g. 'fitted on 4,200 renders of default-demo (the
    default data: synthetic bodies, not Human3.6M); 6.17 px mean error on its test renders'."""
    p = adapter.provenance or {}
    what = f"fitted on {adapter.fitted_on:,} renders of {p.get('dataset_name', 'an unrecorded dataset')}"
    if p.get("synthetic"):
        what += " (the default data: synthetic bodies, not Human3.6M)"
    err = (p.get("mean_error_px") or {}).get("test")
    return what + (f"; {err} px mean error on its test renders" if err is not None else "")


@dataclass
class AdapterChoice:
    """The joint adapter a command uses, which one it is (``given``, ``dataset`` or ``packaged``), and its file."""

    adapter: JointAdapter
    kind: str
    path: Path

    def describe(self) -> str:
        """The one line a command logs: 'joint adapter: packaged (...)', or the file and why it was chosen."""
        if self.kind == "packaged":
            return f"joint adapter: packaged ({describe_packaged(self.adapter)})"
        if self.kind == "dataset":
            return f"joint adapter: {self.path} (fitted on this run's dataset)"
        return f"joint adapter: {self.path} (given with --adapter)"


def choose_adapter(adapter: str | Path | None, data_dir: str | Path | None, detector: str = PACKAGED_DETECTOR,
                   log: Callable[[str], None] | None = None) -> AdapterChoice:
    """``adapter`` if given, else ``DATA/detections/<detector>/adapter.npz`` if the dataset has one, else the packaged
    adapter; ``log`` gets one line saying which. A corrupt file is a one-line error naming it, never skipped."""
    if adapter is not None:
        choice = AdapterChoice(JointAdapter.load(adapter), "given", Path(adapter))
    else:
        own = detections_dir(data_dir, detector) / ADAPTER if data_dir is not None else None
        if own is not None and own.is_file():
            choice = AdapterChoice(JointAdapter.load(own), "dataset", own)
        elif detector == PACKAGED_DETECTOR and packaged_adapter_path().is_file():
            choice = AdapterChoice(JointAdapter.load(packaged_adapter_path()), "packaged", packaged_adapter_path())
        else:
            where = f"{own}: no joint adapter for this run's dataset" if own is not None else "no joint adapter"
            raise HipartError(f"{where}, and no packaged one ({packaged_adapter_path()}); fit one with 'hipart data "
                              f"render --data {data_dir or 'DIR'} --split train' and 'hipart detect --data "
                              f"{data_dir or 'DIR'}', or pass --adapter")
    if log is not None:
        log(choice.describe())
    return choice
