"""Anatomical angles (hipart.body.motion) -> Anny pose parameters, with the feet kept on the floor.

Each driven bone gets a rotation about axes measured on that person's rest skeleton (world axes at rest, which
is what Anny's ``local-ref`` parameterisation expects): hip flexion turns the thigh towards the front (-y), knee
flexion turns the shank backwards, and so on. The root gets the heading (yaw about z) and the floor position;
its height is solved per frame so that the lowest point of the soles touches z = 0.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hipart.body.anny_body import AnnyBody
from hipart.body.base import SkinnedRows
from hipart.body.lbs import axis_angle_to_matrix
from hipart.body.motion import Motion

SPINE = ("spine04", "spine03", "spine02", "spine01")
NECK = ("neck01", "neck02", "head")
X, Y, Z = np.eye(3)
FRONT = -Y
LATERAL = {"L": X, "R": -X}
SOLE_BAND_MM = 20.0  # vertices this close to the lowest rest vertex form the soles


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


class AnnyRig:
    """Poses an :class:`AnnyBody` from a :class:`Motion`."""

    def __init__(self, body: AnnyBody) -> None:
        self.body = body
        self._cache: dict[tuple[float, ...], dict[str, Any]] = {}

    def _setup(self, shape: Any) -> dict[str, Any]:
        key = self.body.phenotype(shape)
        if key in self._cache:
            return self._cache[key]
        b = self.body
        rest = b.rest_model(key)
        heads = rest["bone_heads"].numpy()
        h = lambda label: heads[b.bone(label)]  # noqa: E731
        axes: dict[str, np.ndarray] = {}
        rest_angle: dict[str, float] = {}  # radians already present in the rest pose, per angle name
        for s in ("L", "R"):
            thigh = _unit(h(f"lowerleg01.{s}") - h(f"upperleg01.{s}"))
            shank = _unit(h(f"foot.{s}") - h(f"lowerleg01.{s}"))
            arm = _unit(h(f"lowerarm01.{s}") - h(f"upperarm01.{s}"))
            forearm = _unit(h(f"wrist.{s}") - h(f"lowerarm01.{s}"))
            axes.update({
                f"hip_flex_{s}": _unit(np.cross(thigh, FRONT)), f"hip_abd_{s}": _unit(np.cross(thigh, LATERAL[s])),
                f"hip_rot_{s}": thigh, f"ankle_{s}": X,
                f"shoulder_flex_{s}": -X, f"shoulder_abd_{s}": _unit(np.cross(arm, LATERAL[s])),
                f"shoulder_rot_{s}": arm,
            })
            # Knee and elbow are already bent in the rest pose (the elbow by ~40 degrees): flexion is measured
            # from the straight limb, in the plane of the rest bend, so the angle matches the joint geometry.
            for name, prox, dist, fallback in ((f"knee_{s}", thigh, shank, np.cross(shank, -FRONT)),
                                               (f"elbow_{s}", arm, forearm, np.cross(forearm, FRONT))):
                bend = np.degrees(np.arccos(np.clip(prox @ dist, -1, 1)))
                axes[name] = _unit(np.cross(prox, dist)) if bend > 2 else -_unit(fallback)
                rest_angle[name] = np.radians(bend) if bend > 2 else 0.0
            # The rest pose is an A-pose: abduction is measured from the arm hanging straight down.
            rest_angle[f"shoulder_abd_{s}"] = float(np.arccos(np.clip(-arm[2], -1, 1)))
        # Soles: the lowest band of rest vertices, skinned like any vertex to find the floor contact per frame.
        z = rest["vertices"][:, 2].numpy()
        sole = np.flatnonzero(z < z.min() + SOLE_BAND_MM)
        select = np.zeros((len(sole), b.num_points))
        select[np.arange(len(sole)), sole] = 1.0
        setup = {"axes": axes, "rest_angle": rest_angle, "soles": b.skinning(key).fold(select)}
        self._cache[key] = setup
        return setup

    def rotations(self, motion: Motion, shape: Any = None) -> dict[str, torch.Tensor]:
        """Per driven bone, (T, 3, 3) rotations in world axes at rest."""
        setup = self._setup(shape)
        axes = setup["axes"]
        # Angles relative to the rest pose, radians: what each bone must rotate by.
        a = {k: np.radians(v) - setup["rest_angle"].get(k, 0.0) for k, v in motion.angles.items()}

        def rot(*names: str) -> torch.Tensor:
            out = None
            for name in names:  # applied right to left: the last one acts first on the rest bone
                R = axis_angle_to_matrix(torch.as_tensor(a[name][:, None] * axes[name][None], dtype=self.body.dtype))
                out = R if out is None else out @ R
            return out

        bones: dict[str, torch.Tensor] = {}
        for chain, prefix in ((SPINE, "spine"), (NECK, "neck")):  # the bend is shared evenly along the chain
            rotvec = np.stack([a[f"{prefix}_flex"], a[f"{prefix}_lat"], a[f"{prefix}_twist"]], axis=1) / len(chain)
            R = axis_angle_to_matrix(torch.as_tensor(rotvec, dtype=self.body.dtype))
            bones.update({label: R for label in chain})
        for s in ("L", "R"):
            bones[f"upperleg01.{s}"] = rot(f"hip_flex_{s}", f"hip_abd_{s}", f"hip_rot_{s}")
            # Rotating the distal bone about prox x dist by a positive angle bends it further.
            bones[f"lowerleg01.{s}"] = rot(f"knee_{s}")
            bones[f"foot.{s}"] = rot(f"ankle_{s}")
            bones[f"upperarm01.{s}"] = rot(f"shoulder_flex_{s}", f"shoulder_abd_{s}", f"shoulder_rot_{s}")
            bones[f"lowerarm01.{s}"] = rot(f"elbow_{s}")
        return bones

    def pose(self, motion: Motion, shape: Any = None, origin: np.ndarray | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """Pose parameters (T, J, 4, 4) and skinning transforms (T, J, 4, 4), feet on the floor z = 0.

        ``origin`` (3,) mm is the world point the motion's root path is centred on (the capture centre).
        """
        b = self.body
        T_frames = motion.num_frames
        pose = b.identity_pose(T_frames)
        for label, R in self.rotations(motion, shape).items():
            pose[:, b.bone(label), :3, :3] = R
        yaw = torch.as_tensor(motion.yaw, dtype=b.dtype)
        pose[:, 0, :3, :3] = axis_angle_to_matrix(yaw[:, None] * torch.tensor([0.0, 0.0, 1.0], dtype=b.dtype))
        ox, oy = (0.0, 0.0) if origin is None else (float(origin[0]), float(origin[1]))
        pose[:, 0, 0, 3] = torch.as_tensor(motion.root_xy[:, 0] + ox, dtype=b.dtype)
        pose[:, 0, 1, 3] = torch.as_tensor(motion.root_xy[:, 1] + oy, dtype=b.dtype)
        T, _ = b.transforms(shape, pose)
        soles: SkinnedRows = self._setup(shape)["soles"]
        lift = -soles.apply(T)[..., 2].amin(dim=1)  # root translation is a uniform shift of every transform
        pose[:, 0, 2, 3] += lift
        T[:, :, 2, 3] += lift[:, None]
        return pose, T
