"""Human3.6M's video files by their naming: ``<subject>/Videos/<action>[ <subaction>].<camera id>.mp4`` (e.g.
``S9/Videos/Directions 1.54138969.mp4``). The subject is the nearest folder named ``S<number>``, the action key is
the name before the camera id (VideoPose3D's keys: "Directions 1", "Directions"), the camera index is the camera
id's position in the Human3.6M calibration. Names starting with ``_`` (``_ALL``) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from hipart.camera import load_h36m_cameras
from hipart.errors import HipartError

VIDEO_NAME = re.compile(r"^(?P<action>[^.]+)\.(?P<camera>\d+)\.(mp4|avi|mov|mkv)$", re.IGNORECASE)


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
