"""Pretrained weights for the default data: how they are made from scratch, what ships in the package, and where
``hipart predict`` finds them when no run is given.

The shipped folder (``hipart/resources/pretrained/``) is a run folder in the :mod:`hipart.runs` layout holding only
what inference reads: MSST, HiARM and the hier lifter, each as ``checkpoint.pt`` without optimiser state (the
checkpoint contract of :mod:`hipart.checkpoints`) beside its ``config.yaml``, ``metrics.csv`` and ``summary.json``,
plus ``pretrained.json``: where the weights come from and their test MPJPE on true and detected 2D. They were
trained on the **default data** (synthetic Anny bodies seen by the four Human3.6M cameras), with the stages after
MSST on BlazePose's keypoints of the rendered images (preset ``pretrained``), so they see what ``predict --image``
feeds them; they are not Human3.6M models.

Made from scratch by one resumable command (each step skips what is finished)::

    hipart train pretrained --data data/default-demo --out runs/pretrained [--package]

which builds the demo dataset (when missing), renders its test split and every 8th training row, runs BlazePose on
the renders (fitting the joint adapter), trains the ``pretrained`` preset, then exports the weights to
``runs/pretrained/export/`` (``--package``: into the package, with the dataset's joint adapter as the packaged one).
Training is deterministic for a seed on one machine and torch version, so the export reproduces the shipped test
MPJPE.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hipart import __version__
from hipart.checkpoints import save_checkpoint
from hipart.config import load_config
from hipart.detect.dataset import ADAPTER, detect_dataset, detections_dir
from hipart.detect.packaged import package_adapter
from hipart.errors import HipartError
from hipart.io import atomic_path, file_sha256, write_json_atomic
from hipart.metrics import mpjpe, p_mpjpe
from hipart.models.hipart import HiPART
from hipart.pipeline import dataset_for, train_all
from hipart.render.dataset import render_dataset
from hipart.runs import CONFIG, METRICS, SUMMARY, RunLayout, StageDir, read_json
from hipart.training.inputs import split_frames

PRESET = "pretrained"
RENDER_TRAIN_EVERY = 8  # training rows rendered: 4,200 of the demo's 30,000, enough to fit the adapter and train
INFO = "pretrained.json"
MAX_BYTES = 25 * 2**20  # what the package may carry for the weights and their records
STAGES = ("msst", "hiarm", "lifter_hier")  # what HiPART.from_run reads
OPTIMISER_KEYS = ("optimizer", "scheduler")  # resume state: not needed for inference, 2/3 of a checkpoint
TEST_INPUTS = {"true_2d": "true 2D", "detections": "BlazePose detections"}  # pretrained.json's test entries
SYNTHETIC_NOTE = ("trained on the default data (synthetic Anny bodies, four Human3.6M cameras, BlazePose keypoints "
                  "of rendered images), not on Human3.6M")


def packaged_run() -> Path:
    """The shipped pretrained run folder (``hipart/resources/pretrained``); it may be absent in a bare checkout."""
    return Path(str(resources.files("hipart.resources").joinpath("pretrained")))


def is_pretrained(run: str | Path) -> bool:
    """Whether ``run`` is an exported pretrained folder (it holds ``pretrained.json``)."""
    return (Path(run) / INFO).is_file()


def require_packaged() -> Path:
    """The shipped pretrained run, or a one-line error saying how to make it or what to use instead."""
    run = packaged_run()
    if not is_pretrained(run):
        raise HipartError(f"{run}: no pretrained weights in this install; give a trained run with --run, or make "
                          "them with 'hipart train pretrained --package'")
    return run


def describe(run: str | Path) -> str:
    """One line on a pretrained folder: what it was trained on and its test MPJPE."""
    info = read_json(Path(run) / INFO, "re-export it with 'hipart train pretrained'")
    scores = ", ".join(f"{v['mpjpe']:.1f} mm from {TEST_INPUTS.get(k, k)}" for k, v in info.get("test", {}).items())
    where = "packaged" if Path(run).resolve() == packaged_run().resolve() else str(run)
    return f"pretrained weights ({where}): {SYNTHETIC_NOTE}; test MPJPE {scores}"


def retrain(data_dir: str | Path, out: str | Path, package: bool = False, workers: int = 1, progress: bool = True,
            log: Callable[[str], None] = print) -> dict[str, Any]:
    """The pretrained weights from scratch: dataset, renders, detections, the ``pretrained`` preset's stages, then
    the export (``OUT/export``; ``package``: also into the package with the dataset's joint adapter). Every step
    resumes or skips what is done. Returns the export's ``pretrained.json``."""
    cfg = load_config(PRESET)
    data = dataset_for(load_config("demo"), data_dir, progress, log)  # the demo dataset: shared with `hipart demo`
    log(f"== render: {data}/images (test split, every {RENDER_TRAIN_EVERY}th training row)")
    render_dataset(data, split="test", workers=workers, progress=progress, log=log)
    render_dataset(data, split="train", workers=workers, progress=progress, log=log, every=RENDER_TRAIN_EVERY)
    log(f"== detect: {detections_dir(data)}")
    detections = detect_dataset(data, "all", workers=workers, progress=progress, log=log)
    if detections is None:
        raise HipartError(f"{data}: detections are unfinished; rerun 'hipart train pretrained'")
    for name, s in detections["splits"].items():
        log(f"{name}: a person in {s['detected']} of {s['images']} images, {s['mean_error_px']} px mean joint error")
    train_all(cfg, data, out, progress=progress, log=log, lifter_inputs=("hier",))  # the only lifter shipped
    export_dir = Path(out) / "export"
    info = export(out, data, export_dir, log=log)
    if package:
        adapter_path, _ = package_adapter(data)
        log(f"packaged joint adapter: {adapter_path}")
        install(export_dir, packaged_run())
        log(f"packaged pretrained weights: {packaged_run()}")
    return info


def _slim_checkpoint(src: Path, dest: Path, renamed: dict[str, str]) -> None:
    """``src`` without its resume state, written to ``dest``; the sha256 of upstream checkpoints it names are
    replaced by those of their slimmed copies (``renamed``: old -> new), so provenance checks still hold."""
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    for key in OPTIMISER_KEYS:
        ckpt.pop(key, None)
    if "msst_sha256" in ckpt:
        if ckpt["msst_sha256"] not in renamed:
            raise HipartError(f"{src}: trained on another MSST checkpoint than the run's msst/; retrain the run")
        ckpt["msst_sha256"] = renamed[ckpt["msst_sha256"]]
    if isinstance(ckpt.get("upstream"), dict):
        ckpt["upstream"] = {k: renamed.get(v, v) for k, v in ckpt["upstream"].items()}
    save_checkpoint(dest, ckpt)


def _copy_stage(src: StageDir, dest: StageDir, renamed: dict[str, str]) -> None:
    if not src.trained:
        raise HipartError(f"{src.path}: not a finished stage; finish the run first ('hipart train pretrained')")
    dest.path.mkdir(parents=True, exist_ok=True)
    _slim_checkpoint(src.checkpoint, dest.checkpoint, renamed)
    renamed[file_sha256(src.checkpoint)] = file_sha256(dest.checkpoint)
    summary = src.read_summary()
    summary.pop("data", None)  # a path on the training machine: the provenance is in pretrained.json
    write_json_atomic(dest.summary, summary)
    for name in (CONFIG, METRICS):
        with atomic_path(dest.path / name) as tmp:
            shutil.copyfile(src.path / name, tmp)


def copy_inference_stages(run: str | Path, dest: str | Path) -> RunLayout:
    """The run folder ``dest`` holding ``run``'s config and its MSST, HiARM and hier lifter (:data:`STAGES`) with
    slimmed checkpoints: the same weights, so ``HiPART.from_run(dest)`` gives ``HiPART.from_run(run)``'s outputs."""
    layout, target = RunLayout(run).require(), RunLayout(dest)
    renamed: dict[str, str] = {}
    for name in STAGES:
        _copy_stage(layout.stage(name), target.stage(name), renamed)
    with atomic_path(target.config) as tmp:
        shutil.copyfile(layout.config, tmp)
    return target


def evaluate(run: str | Path, data_dir: str | Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """HiPART of ``run`` on the test split of ``data_dir`` from its true and from its detected sparse 2D poses:
    MPJPE and P-MPJPE (mm) over every test frame (frames without a detection read the nearest detected one), with
    the frames' confidence where the models read it (1 for the true poses)."""
    model = HiPART.from_run(run, "cpu", compile=False)
    out: dict[str, Any] = {}
    for keypoints, name in (("gt", "true_2d"), ("detected", "detections")):
        frames = split_frames(data_dir, "test", keypoints, log=log)
        c = frames.confidence if model.reads_confidence else None
        X = model(frames.x_s, frames.image_size, confidence=c)["X"].numpy()  # batches decoding and lifting itself
        truth = frames.X_s - frames.X_s[:, :1]
        out[name] = {"mpjpe": round(float(np.mean(mpjpe(X, truth))), 2),
                     "p_mpjpe": round(float(np.mean(p_mpjpe(X, truth))), 2), "frames": len(frames),
                     "held_frames": int(frames.held.sum())}
    return out


def export(run: str | Path, data_dir: str | Path, dest: str | Path, log: Callable[[str], None] = print
           ) -> dict[str, Any]:
    """Copy a finished pretrained run's inference stages to ``dest`` (slimmed checkpoints and their records), score
    them on the dataset's test split (:func:`evaluate`) and write ``pretrained.json``. Refuses a run not trained on
    detections, and more than 25 MB in all."""
    layout, dest = RunLayout(run).require(), Path(dest)
    hier = layout.lifter("hier")
    if hier.trained and hier.read_summary().get("keypoints") != "detected":
        raise HipartError(f"{hier.path}: trained on true keypoints; pretrained weights are trained on detections "
                          "('hipart train pretrained')")
    target = copy_inference_stages(layout.root, dest)
    test = evaluate(dest, data_dir, log)
    adapter = detections_dir(data_dir) / ADAPTER
    info = {
        "note": SYNTHETIC_NOTE,
        "preset": PRESET,
        "stages": list(STAGES),
        "dataset_manifest_sha256": file_sha256(Path(data_dir) / "manifest.json"),
        "adapter_sha256": file_sha256(adapter) if adapter.is_file() else None,
        "test": test,
        "hipart_version": __version__,
        "torch_version": torch.__version__,
        "command": f"hipart train pretrained --data {Path(data_dir).as_posix()} --out {Path(run).as_posix()}",
    }
    write_json_atomic(target.root / INFO, info)
    size = sum(p.stat().st_size for p in target.root.rglob("*") if p.is_file())
    if size > MAX_BYTES:
        raise HipartError(f"{dest}: the export holds {size / 2**20:.1f} MB, more than the 25 MB the package may "
                          "carry; shrink the preset")
    info["bytes"] = size
    log(f"exported {dest} ({size / 2**20:.2f} MB): test MPJPE "
        + ", ".join(f"{k} {v['mpjpe']:.2f} mm" for k, v in test.items()))
    return info


def install(export_dir: str | Path, dest: str | Path) -> Path:
    """Replace the folder ``dest`` by a copy of an export (copied beside it, then renamed into place)."""
    export_dir, dest = Path(export_dir), Path(dest)
    if not is_pretrained(export_dir):
        raise HipartError(f"{export_dir}: not an exported pretrained folder (no {INFO}); run 'hipart train "
                          "pretrained' first")
    staging, old = dest.with_name(f".{dest.name}.tmp"), dest.with_name(f".{dest.name}.old")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(export_dir, staging)
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        staging.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:  # an installed (non-editable) package is usually read-only
        raise HipartError(f"{dest}: cannot install the weights there ({exc.strerror or exc}); install hipart with "
                          f"'pip install -e .' or pass --run {export_dir} to predict") from None
    return dest

