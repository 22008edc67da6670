"""``hipart detect --videos DIR``: a folder of Human3.6M videos -> a VideoPose3D-layout 2D archive.

Videos are found by Human3.6M's naming (:mod:`hipart.data.h36m_videos`). Each video's
detections are kept in ``<archive>.parts/`` with a record (resumable, shardable); the archive is written once all
videos are done. The joint adapter: ``--adapter``, else the one fitted on the ``--data`` dataset's train renders,
else the packaged one (:mod:`hipart.detect.packaged`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

from hipart.data.h36m_videos import Video, find_videos
from hipart.data.videopose3d import write_archive
from hipart.detect.base import Detections, Detector
from hipart.detect.blazepose import make_detector
from hipart.detect.packaged import choose_adapter
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.parallel import parallel_map
from hipart.render.jobs import Shard, read_record, write_record
from hipart.render.store import iter_images

BATCH = 64  # frames detected per call while streaming a video


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


def _video_item(detector: Detector, item: tuple[Video, str, int]) -> list[dict[str, Any]]:
    video, parts, every = item
    return [_detect_video(detector, video, Path(parts), every)]


def detect_videos(folder: str | Path, out: str | Path, adapter: str | Path | None, shard: Shard = Shard(),
                  workers: int = 1, every: int = 1, detector: str = "blazepose", progress: bool = True,
                  log: Callable[[str], None] = print, data_dir: str | Path | None = None) -> Path | None:
    """Detect every video (resumable, shardable) and write the archive once all are done; returns its path. The
    joint adapter: ``adapter``, else ``data_dir``'s own, else the packaged one (logged in one line)."""
    out = Path(out)
    if out.suffix != ".npz":  # numpy would append .npz to the temporary file and leave ``out`` empty
        raise HipartError(f"{out}: the detections are written as a VideoPose3D .npz archive; give --out NAME.npz")
    if every < 1:
        raise HipartError(f"--every must be at least 1, got {every}")
    if workers < 1:
        raise HipartError(f"--workers must be at least 1, got {workers}")
    choice = choose_adapter(adapter, data_dir, detector)
    joint_adapter = choice.adapter
    videos = find_videos(folder)
    make_detector(detector)  # the install hint before any work
    log(choice.describe())  # once the arguments are checked: an error stays one line
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
        for _ in parallel_map(make_detector, (detector,), _video_item, [(v, str(parts), every) for v in todo], workers):
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
