"""The embedded default capture: Anny subjects performing the 15 H36M action families, seen by the H36M cameras.

Seven subjects named like Human3.6M's (S1, S5, S6, S7, S8 train; S9, S11 test), each a fixed Anny phenotype and
movement style drawn from a seed, with the sexes of the real subjects. Two repetitions (subactions) per action,
50 fps, recorded by the four calibrated Human3.6M cameras of the same-named subject, the person moving around
the point the cameras look at. Nothing here is licensed data; every number comes from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from hipart.body.anny_body import AnnyBody
from hipart.body.anny_rig import AnnyRig
from hipart.body.base import SkinnedRows
from hipart.body.motion import FPS, Motion, Style, generate_motion, motion_seed
from hipart.camera import Camera, capture_centre, load_h36m_cameras
from hipart.errors import HipartError
from hipart.skeleton import H36M_ACTIONS, TEST_SUBJECTS, TRAIN_SUBJECTS

SUBJECTS = TRAIN_SUBJECTS + TEST_SUBJECTS
SUBJECT_SEX = {"S1": "female", "S5": "female", "S6": "male", "S7": "female", "S8": "male", "S9": "male",
               "S11": "male"}
SUBACTIONS = (1, 2)
DEFAULT_FRAMES = 1000  # 20 s per repetition at 50 fps


@dataclass(frozen=True)
class SyntheticSubject:
    name: str
    phenotype: dict[str, float]  # Anny phenotype
    style: Style

    @property
    def split(self) -> str:
        return "train" if self.name in TRAIN_SUBJECTS else "test"


def synthetic_subjects(seed: int = 0) -> dict[str, SyntheticSubject]:
    """Seven adults: sex as in Human3.6M, other phenotype values and movement style drawn with the seed."""
    out = {}
    for i, name in enumerate(SUBJECTS):
        rng = np.random.default_rng([seed, i])
        gender = rng.uniform(0.0, 0.15) if SUBJECT_SEX[name] == "male" else rng.uniform(0.85, 1.0)
        phenotype = {"gender": gender, "age": rng.uniform(0.62, 0.85), "muscle": rng.uniform(0.3, 0.7),
                     "weight": rng.uniform(0.3, 0.7), "height": rng.uniform(0.33, 0.5),  # ~1.58-1.85 m
                     "proportions": rng.uniform(0.3, 0.6)}
        out[name] = SyntheticSubject(name, {k: round(float(v), 4) for k, v in phenotype.items()}, Style.draw(rng))
    return out


@dataclass
class Sequence:
    subject: str
    action: str
    subaction: int
    motion: Motion
    pose: torch.Tensor  # (T, J, 4, 4) Anny pose parameters, root translation in mm
    transforms: torch.Tensor  # (T, J, 4, 4) skinning transforms, mm

    @property
    def num_frames(self) -> int:
        return self.motion.num_frames


class SyntheticH36M:
    """Generates sequences on demand; nothing is stored. ``frames`` per subject/action/subaction."""

    def __init__(self, body: AnnyBody | None = None, frames: int = DEFAULT_FRAMES, seed: int = 0) -> None:
        if frames < 2:
            raise HipartError(f"frames per action must be at least 2, got {frames}")
        self.body = body if body is not None else AnnyBody()
        self.rig = AnnyRig(self.body)
        self.frames = frames
        self.seed = seed
        self.subjects = synthetic_subjects(seed)
        self.actions = H36M_ACTIONS
        self.subactions = SUBACTIONS
        self.fps = FPS
        self._joint_rows: dict[str, SkinnedRows] = {}

    @cached_property
    def _cameras(self) -> dict[str, tuple[Camera, ...]]:
        return load_h36m_cameras()

    def cameras(self, subject: str) -> tuple[Camera, ...]:
        self._check_subject(subject)
        return self._cameras[subject]

    def centre(self, subject: str) -> np.ndarray:
        """Where the subject's cameras look (mm); the motion's root path is centred on its floor point."""
        return capture_centre(self.cameras(subject))

    def _check_subject(self, subject: str) -> None:
        if subject not in self.subjects:
            raise HipartError(f"unknown synthetic subject '{subject}'; choose from {', '.join(self.subjects)}")

    def motion(self, subject: str, action: str, subaction: int) -> Motion:
        self._check_subject(subject)
        if subaction not in self.subactions:
            raise HipartError(f"subaction must be one of {self.subactions}, got {subaction}")
        seed = motion_seed(subject, action, subaction, self.seed)
        return generate_motion(action, self.subjects[subject].style, self.frames, seed)

    def sequence(self, subject: str, action: str, subaction: int, frames: np.ndarray | None = None) -> Sequence:
        """Posed sequence; ``frames`` (indices into the full sequence) poses only those frames."""
        motion = self.motion(subject, action, subaction)
        if frames is not None:
            motion = motion.take(frames)
        pose, T = self.rig.pose(motion, self.subjects[subject].phenotype, self.centre(subject))
        return Sequence(subject, action, subaction, motion, pose, T)

    def rows(self, subject: str, A) -> SkinnedRows:
        """The subject's skinning terms folded by a (K, num_points) matrix (see SkinnedRows.fold)."""
        return self.body.skinning(self.subjects[subject].phenotype).fold(A)

    def joints_world(self, seq: Sequence) -> torch.Tensor:
        """The 17 Human3.6M joints (T, 17, 3), world mm, through the folded fast path."""
        if seq.subject not in self._joint_rows:  # folded once per subject, reused by every sequence
            self._joint_rows[seq.subject] = self.rows(seq.subject, self.body.sparse_rows)
        return self._joint_rows[seq.subject].apply(seq.transforms)

    def vertices_world(self, seq: Sequence, frames: np.ndarray | None = None) -> torch.Tensor:
        """Full meshes (F, V, 3), world mm, for chosen frames (all by default)."""
        T = seq.transforms if frames is None else seq.transforms[torch.as_tensor(frames)]
        points = self.body.skinning(self.subjects[seq.subject].phenotype).apply(T)
        return points[:, : self.body.num_vertices]

