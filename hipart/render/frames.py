"""The frames of a default-capture dataset, re-posed from the settings its manifest records.

The dataset's rows were made by :class:`hipart.data.synthetic.SyntheticH36M` (seed, frames per action) through the
cameras listed in its manifest; here the same capture poses the *full* mesh for the same (subject, action,
subaction, frame), so a rendered image and its row come from one body, one motion and one camera. The 17 joints
are computed from the same skinned points (:attr:`SkinnedBody.sparse_rows`), which is what the render/row
agreement test compares with the stored x_s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from hipart.body.anny_body import AnnyBody
from hipart.camera import Camera
from hipart.data.synthetic import SyntheticH36M
from hipart.errors import HipartError
from hipart.render.appearance import draw_wardrobe, face_colours, face_regions
from hipart.render.scene import Scene, SceneMesh, lab_scene, stool

SEAT_BAND = (-220.0, 40.0)  # mm around the hip joints' rest height: the buttocks, which rest on a stool


@dataclass
class PosedFrames:
    """Frames of one sequence: full meshes (n, V, 3) and the 17 joints (n, 17, 3), world mm."""

    vertices: np.ndarray
    joints: np.ndarray
    seated: np.ndarray  # (n,) bool
    yaw: np.ndarray  # (n,) radians


def dataset_capture(manifest: dict[str, Any], body: AnnyBody | None = None) -> "CaptureFrames":
    """The capture that built a dataset (from its manifest); refuses data it cannot re-pose or draw."""
    settings = manifest.get("settings", {})
    source = settings.get("source", {})
    if source.get("kind") != "default":
        raise HipartError(f"only datasets of the embedded default capture can be rendered (this one is "
                          f"'{source.get('kind')}'); real Human3.6M images come with the dataset, run "
                          "'hipart detect --videos' on them")
    if settings.get("data", {}).get("distortion"):
        raise HipartError("this dataset was built with lens distortion, which the renderer does not draw (pinhole "
                          "only); rebuild it with 'hipart data build --no-distortion'")
    cameras = {subject: tuple(Camera.from_dict(c) for c in cams) for subject, cams in source["cameras"].items()}
    return CaptureFrames(SyntheticH36M(body, frames=int(source["frames_per_action"]), seed=int(source["seed"])),
                         cameras)


class CaptureFrames:
    """Poses, looks and surroundings of the synthetic capture's subjects."""

    def __init__(self, capture: SyntheticH36M, cameras: dict[str, tuple[Camera, ...]] | None = None) -> None:
        self.capture = capture
        self.body = capture.body
        self.cameras = cameras if cameras is not None else {s: capture.cameras(s) for s in capture.subjects}
        self._colours: dict[str, np.ndarray] = {}
        self._scenes: dict[str, Scene] = {}

    @cached_property
    def regions(self) -> np.ndarray:
        return face_regions(self.body)

    @cached_property
    def seat_vertices(self) -> np.ndarray:
        """Rest-pose vertices of the buttocks (behind and just below the hip joints)."""
        rest = self.body.rest_model(None)
        v, heads = rest["vertices"].numpy(), rest["bone_heads"].numpy()
        hip = (heads[self.body.bone("upperleg01.L")] + heads[self.body.bone("upperleg01.R")]) / 2
        dz = v[:, 2] - hip[2]
        return np.flatnonzero((dz > SEAT_BAND[0]) & (dz < SEAT_BAND[1]) & (v[:, 1] > hip[1]) &
                              (np.abs(v[:, 0] - hip[0]) < 180))

    def colours(self, subject: str) -> np.ndarray:
        """(F, 3) uint8 face colours of a subject's clothes and skin."""
        if subject not in self._colours:
            self._colours[subject] = face_colours(self.regions, draw_wardrobe(self.capture.seed, subject))
        return self._colours[subject]

    def scene(self, subject: str) -> Scene:
        """The lab around the subject's capture centre."""
        if subject not in self._scenes:
            self._scenes[subject] = lab_scene(self.capture.centre(subject), self.capture.seed)
        return self._scenes[subject]

    def pose(self, subject: str, action: str, subaction: int, frames: np.ndarray) -> PosedFrames:
        """The full mesh and the 17 joints at chosen frames of one sequence."""
        seq = self.capture.sequence(subject, action, subaction, frames=np.asarray(frames))
        points = self.body.skinning(self.capture.subjects[subject].phenotype).apply(seq.transforms).numpy()
        joints = np.einsum("jp,npc->njc", self.body.sparse_rows.toarray(), points)
        seated = seq.motion.seated if len(seq.motion.seated) else np.zeros(len(frames), dtype=bool)
        return PosedFrames(points[:, : self.body.num_vertices], joints, seated, seq.motion.yaw)

    def props(self, posed: PosedFrames, i: int) -> tuple[SceneMesh, ...]:
        """Objects that move with the person in frame i: a stool under a seated person."""
        if not posed.seated[i]:
            return ()
        seat = posed.vertices[i][self.seat_vertices]
        return (stool(seat[:, :2].mean(axis=0), float(posed.yaw[i]), float(seat[:, 2].min()) - 2.0),)
