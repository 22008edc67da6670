"""Human3.6M's own videos as a dataset's images: ``hipart data footage --data DATA --videos DIR`` indexes the frames
of a Pose2Mesh build (``hipart data build --source``) in its videos, in the same layout as rendered images, so
``hipart detect --data DATA``, training on detections and ``hipart bench occlusion --level image`` run on real
frames unchanged.

Nothing is copied: each unit is one video (``<subject>/Videos/<action>[ <n>].<camera id>.mp4``, as
:func:`hipart.data.h36m_videos.find_videos` reads them), recorded with its sha256, the dataset rows it holds, their
frame numbers in the video (Pose2Mesh's ``frame_idx``: the 50 fps video's frames) and the person's box per frame
(the row's 161 projected joints, padded as :func:`hipart.occlusion.person_boxes` pads them). Takes: Human3.6M names
the two takes of an action ``<action>`` / ``<action> 1`` / ``<action> 2`` inconsistently across subjects; the
takes found for a subject and action are sorted by their number (none = 0) and subaction k is the k-th
("TakingPhoto" and "WalkingDog" count as Photo and WalkDog). Rows whose video is missing have no image.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np

from hipart import __version__
from hipart.data.dataset import PoseDataset, load_manifest
from hipart.data.h36m_videos import Video, find_videos
from hipart.errors import HipartError
from hipart.io import file_sha256, write_json_atomic
from hipart.occlusion import person_boxes
from hipart.render.dataset import FORMAT_VERSION, IMAGES, check_settings, dataset_digest, resolve_splits, write_index
from hipart.render.jobs import record_path
from hipart.skeleton import H36M_ACTIONS

ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
_TAKE = re.compile(r"^(?P<base>.+?)(?: (?P<n>\d+))?$")


def take_index(videos: list[Video]) -> dict[tuple[str, str, int, int], Video]:
    """(subject, action name, subaction 1.., camera index) -> video, with the naming rules of the module docstring."""
    takes: dict[tuple[str, str], set[tuple[int, str]]] = defaultdict(set)
    for v in videos:
        m = _TAKE.match(v.action)
        base = ALIASES.get(m["base"], m["base"])
        takes[(v.subject, base)].add((int(m["n"] or 0), v.action))
    order = {(subject, key): k + 1 for (subject, _), found in takes.items()
             for k, (_, key) in enumerate(sorted(found))}
    out = {}
    for v in videos:
        base = ALIASES.get(_TAKE.match(v.action)["base"], _TAKE.match(v.action)["base"])
        out[(v.subject, base, order[(v.subject, v.action)], v.camera)] = v
    return out


def index_footage(data_dir: str | Path, videos_dir: str | Path, split: str = "all", force: bool = False,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """Index the dataset's rows in the videos (see the module docstring); returns the image folder's manifest."""
    data_dir = Path(data_dir)
    manifest = load_manifest(data_dir)
    if manifest["settings"]["source"].get("kind") != "pose2mesh":
        raise HipartError(f"{data_dir}: footage indexes a Pose2Mesh build (real Human3.6M rows); render the default "
                          "capture with 'hipart data render' instead")
    videos = take_index(find_videos(videos_dir))
    out = data_dir / IMAGES
    out.mkdir(parents=True, exist_ok=True)
    settings = {"format_version": FORMAT_VERSION, "dataset_manifest_sha256": dataset_digest(data_dir),
                "format": "footage", "videos": str(Path(videos_dir).resolve()), "hipart_version": __version__}
    check_settings(out, settings, force)
    records, missing = [], 0
    for s in resolve_splits(split):
        ds = PoseDataset(data_dir, s, fields=("x_s", "x_d", "x_f"), normalize=False)
        a = ds.arrays()
        joints = np.concatenate([a["x_s"], a["x_d"], a["x_f"]], axis=1).astype(np.float64)
        boxes = person_boxes(joints)
        groups: dict[tuple[int, int, int, int], list[int]] = defaultdict(list)
        for row in range(len(a["action"])):
            groups[(int(a["subject"][row]), int(a["action"][row]), int(a["subaction"][row]),
                    int(a["camera"][row]))].append(row)
        for (subject, action, subaction, camera), rows in sorted(groups.items()):
            video = videos.get((f"S{subject}", H36M_ACTIONS[action], subaction, camera))
            if video is None:
                missing += len(rows)
                continue
            rows = sorted(rows, key=lambda r: int(a["frame"][r]))
            frames = [int(a["frame"][r]) for r in rows]
            name = f"{s}/S{subject}_{H36M_ACTIONS[action]}_{subaction}.cam{camera}.mp4"
            record = {"split": s, "subject": f"S{subject}", "action": H36M_ACTIONS[action], "subaction": subaction,
                      "camera": camera, "frames": frames, "rows": rows, "boxes": np.round(boxes[rows], 2).tolist(),
                      "source": str(video.path.resolve()), "positions": frames}
            # the record sits where a rendered unit's would; the checksum is the video's
            rec = write_record_for(out / name, video.path, record)
            records.append({**rec, "file": name})
        log(f"{s}: {sum(len(r['rows']) for r in records if r['split'] == s)} rows indexed in "
            f"{sum(r['split'] == s for r in records)} videos")
    if missing:
        log(f"{missing} rows have no video in {videos_dir} (no image; detection and the image-level benchmark skip "
            "them)")
    if not records:
        raise HipartError(f"{videos_dir}: none of {data_dir}'s rows has a video there; give the folder holding "
                          "S1/Videos/..., S9/Videos/...")
    return write_index(data_dir, out, settings, records, f"Human3.6M footage from {videos_dir}")


def write_record_for(logical: Path, source: Path, record: dict[str, Any]) -> dict[str, Any]:
    """A unit's record where a rendered unit's would be (``<logical>.json``), checksumming the ``source`` video."""
    full = {**record, "file": logical.name, "bytes": source.stat().st_size, "sha256": file_sha256(source)}
    write_json_atomic(record_path(logical), full)
    return full
