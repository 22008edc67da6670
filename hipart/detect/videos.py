"""``hipart detect --videos DIR``: a folder of Human3.6M videos -> a VideoPose3D-layout 2D archive.

Videos are found by Human3.6M's naming, ``<subject>/Videos/<action>[ <subaction>].<camera id>.mp4`` (e.g.
``S9/Videos/Directions 1.54138969.mp4``): the subject is the nearest folder named ``S<number>``, the action key is
the name before the camera id (VideoPose3D's keys: "Directions 1", "Directions"), the camera index is the
camera id's position in the Human3.6M calibration. Names starting with ``_`` (``_ALL``) are skipped. Each video's
detections are kept in ``<archive>.parts/`` with a record (resumable, shardable); the archive is written once all
videos are done. The joint adapter comes from a rendered dataset (``--adapter``), fitted on its train split.
"""

from __future__ import annotations

import re
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
from tqdm import tqdm

from hipart.camera import load_h36m_cameras
from hipart.detect.adapter import JointAdapter
from hipart.detect.base import Detections
from hipart.detect.blazepose import make_detector
from hipart.detect.videopose3d import write_archive
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.render.jobs import Shard, read_record, write_record
from hipart.render.store import iter_images

VIDEO_NAME = re.compile(r"^(?P<action>[^.]+)\.(?P<camera>\d+)\.(mp4|avi|mov|mkv)$", re.IGNORECASE)
BATCH = 64  # frames detected per call while streaming a video


@dataclass(frozen=True)
class Video:
    path: Path
    subject: str
    action: str  # VideoPose3D key, e.g. "Directions 1"
    camera: int  # index in the calibration's camera order
    camera_id: str

    @property
    def stem(self) -> str:
        return f"{self.subject}/{self.action}.{self.camera_id}"


def find_videos(folder: str | Path) -> list[Video]:
    """Human3.6M videos under ``folder`` (sorted by subject, action, camera)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise HipartError(f"{folder}: no such folder; give the folder holding S1/Videos/..., S9/Videos/...")
    ids = [c.id for c in next(iter(load_h36m_cameras().values()))]
    videos = []
    for path in sorted(folder.rglob("*")):
        m = VIDEO_NAME.match(path.name)
        if not path.is_file() or m is None or m["action"].startswith("_"):
            continue
        subject = next((p.name for p in path.parents if re.fullmatch(r"S\d+", p.name)), None)
        if subject is None:
            raise HipartError(f"{path}: no subject folder (S<number>) above this video; keep Human3.6M's layout "
                              "S9/Videos/<action>.<camera id>.mp4")
        if m["camera"] not in ids:
            raise HipartError(f"{path}: camera id {m['camera']} is not a Human3.6M camera ({', '.join(ids)})")
        videos.append(Video(path, subject, m["action"], ids.index(m["camera"]), m["camera"]))
    if not videos:
        raise HipartError(f"{folder}: no videos named like 'S9/Videos/Directions 1.54138969.mp4'")
    return videos


def _detect_video(detector: Any, video: Video, parts: Path, every: int) -> dict[str, Any]:
    chunks, batch, frames, k = [], [], [], 0
    for image in iter_images(video.path):
        if k % every == 0:
            batch.append(image)
            frames.append(k)
            if len(batch) == BATCH:
                chunks.append(detector.detect(batch))
                batch = []
        k += 1
    if batch:
        chunks.append(detector.detect(batch))
    if k == 0:
        raise HipartError(f"{video.path}: no frames could be read; check the file")
    det = Detections.concatenate(chunks, detector.keypoint_names)
    path = parts / f"{video.stem}.npz"
    with atomic_path(path) as tmp:
        np.savez(tmp, frame=np.asarray(frames, np.int32), **det.arrays())
    return write_record(path, {"video": str(video.path), "frames": len(frames), "every": every,
                               "detected": int(det.detected.sum())})


_DETECTOR: Any = None


def _worker_init(name: str) -> None:
    global _DETECTOR
    _DETECTOR = make_detector(name)


def _worker_video(video: Video, parts: str, every: int) -> dict[str, Any]:
    return _detect_video(_DETECTOR, video, Path(parts), every)


def _run(name: str, videos: list[Video], parts: Path, every: int, workers: int) -> Iterator[dict[str, Any]]:
    if workers == 1:
        detector = make_detector(name)
        for v in videos:
            yield _detect_video(detector, v, parts, every)
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_init,
                             initargs=(name,)) as pool:
        futures = [pool.submit(_worker_video, v, str(parts), every) for v in videos]
        for fut in as_completed(futures):
            yield fut.result()


def detect_videos(folder: str | Path, out: str | Path, adapter: str | Path, shard: Shard = Shard(), workers: int = 1,
                  every: int = 1, detector: str = "blazepose", progress: bool = True,
                  log: Callable[[str], None] = print) -> Path | None:
    """Detect every video (resumable, shardable) and write the archive once all are done; returns its path."""
    out = Path(out)
    if out.suffix != ".npz":  # numpy would append .npz to the temporary file and leave ``out`` empty
        raise HipartError(f"{out}: the detections are written as a VideoPose3D .npz archive; give --out NAME.npz")
    if every < 1:
        raise HipartError(f"--every must be at least 1, got {every}")
    if workers < 1:
        raise HipartError(f"--workers must be at least 1, got {workers}")
    joint_adapter = JointAdapter.load(adapter)
    videos = find_videos(folder)
    make_detector(detector)  # the install hint before any work
    parts = out.with_name(out.name + ".parts")

    def done(v: Video) -> bool:
        rec = read_record(parts / f"{v.stem}.npz")
        return rec is not None and rec.get("every") == every

    mine = shard.take(videos)
    todo = [v for v in mine if not done(v)]
    if len(todo) < len(mine):
        log(f"{parts}: resuming; {len(mine) - len(todo)} of {len(mine)} video(s) already detected")
    with tqdm(total=len(mine), initial=len(mine) - len(todo), unit="video", desc="detect", disable=not progress,
              dynamic_ncols=True) as bar:
        for _ in _run(detector, todo, parts, every, workers):
            bar.update(1)
    missing = [v for v in videos if not done(v)]
    if missing:
        log(f"shard {shard} done; {len(missing)} video(s) remain for other shards")
        return None
    names = make_detector(detector).keypoint_names
    sequences = {}
    for v in videos:
        with np.load(parts / f"{v.stem}.npz", allow_pickle=False) as z:
            joints = joint_adapter.apply(Detections(z["keypoints"], z["confidence"], z["detected"], names))
            sequences[(v.subject, v.action, v.camera)] = {"x_s": joints.keypoints, "confidence": joints.confidence,
                                                          "detected": joints.detected, "frame": z["frame"]}
    return write_archive(out, sequences, detector, f"videos of {Path(folder).resolve()}, every {every} frame(s)")
