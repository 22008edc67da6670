"""Anatomical angles (hipart.body.motion) -> Anny pose parameters, with the feet kept on the floor.

Each driven bone gets a rotation about axes measured on that person's reference skeleton (the pose identity
deltas give, in world axes, which is what Anny's ``local-ref`` parameterisation expects): hip flexion turns the thigh towards the front (-y), knee
flexion turns the shank backwards, and so on. The root gets the heading (yaw about z) and the floor position;
its height is solved per frame so that the lowest point of the soles touches z = 0. The root also turns by
``pelvis_twist`` about z, which the motion pairs with opposite femoral rotations to keep the feet in place.

Axial rotations turn a limb about its own rest axis (proximal joint -> distal joint) before any other rotation
of that bone, so the limb's end joint stays where it is: humeral rotation (upperarm01 about shoulder -> elbow),
femoral rotation (upperleg01 about hip -> knee) and forearm rotation. Anny's rest pose is neutral for all three:
the rest elbow bend (~40 degrees) lies in the sagittal plane and the thumb points into that plane, towards the
upper arm (mid-prone), and the feet point forward (~5 degrees out). The axes are mirrored on the right side so a
positive angle is internal rotation / pronation on both sides. The humerus and femur are rigid, so their turn is
all on the proximal bone; pronation rolls the radius about the ulna, so the surface near the elbow turns less
than the wrist: the forearm turn is shared between lowerarm01 (elbow) and the MakeHuman forearm twist bone
lowerarm02 (half-way along the forearm). Turning lowerarm01 alone by 80 degrees turns the whole forearm rigidly
and pinches the elbow crease to 77 % of its radius; the even share turns the surface progressively (~27 degrees
near the elbow, ~70 at the wrist, the hand fully) and keeps every forearm vertex within 7 % of its radius.
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
# On the left side a positive turn about a downward limb axis moves the front (-y) medially (-x): internal
# rotation. The right side's axes are negated so positive means internal rotation / pronation there too.
MEDIAL_TURN = {"L": 1.0, "R": -1.0}
FOREARM_TWIST_SHARE = 0.5  # of forearm_rot on lowerarm01; the rest on lowerarm02 (see the module docstring)
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
        # Anny's local-ref deltas act on its reference skeleton (what identity deltas give), whose bones sit up to
        # ~1 degree away from the rest mesh's; axes measured there keep an end joint on its limb's axis (< 0.1 mm).
        reference, _ = b.transforms(key, b.identity_pose(1))
        heads = b.skinning(key).apply(reference)[0, b.num_vertices:].numpy()
        h = lambda label: heads[b.bone(label)]  # noqa: E731
        axes: dict[str, np.ndarray] = {}
        rest_angle: dict[str, float] = {}  # radians already present in the rest pose, per angle name
        for s in ("L", "R"):
            thigh = _unit(h(f"lowerleg01.{s}") - h(f"upperleg01.{s}"))
            shank = _unit(h(f"foot.{s}") - h(f"lowerleg01.{s}"))
            arm = _unit(h(f"lowerarm01.{s}") - h(f"upperarm01.{s}"))
            forearm = _unit(h(f"wrist.{s}") - h(f"lowerarm01.{s}"))
            # The distal half of the forearm turns about lowerarm02 -> wrist, so the wrist lies on that axis too
            # (lowerarm02's head is ~1 mm off the elbow-wrist line).
            distal_forearm = _unit(h(f"wrist.{s}") - h(f"lowerarm02.{s}"))
            medial = MEDIAL_TURN[s]
            axes.update({
                f"hip_flex_{s}": _unit(np.cross(thigh, FRONT)), f"hip_abd_{s}": _unit(np.cross(thigh, LATERAL[s])),
                f"hip_rot_{s}": medial * thigh, f"ankle_{s}": X,
                f"shoulder_flex_{s}": -X, f"shoulder_abd_{s}": _unit(np.cross(arm, LATERAL[s])),
                f"shoulder_rot_{s}": medial * arm,
                f"forearm_rot_{s}": medial * forearm, f"forearm_rot_distal_{s}": medial * distal_forearm,
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

        def turn(angle: np.ndarray, axis: np.ndarray) -> torch.Tensor:
            return axis_angle_to_matrix(torch.as_tensor(angle[:, None] * axis[None], dtype=self.body.dtype))

        def rot(*names: str) -> torch.Tensor:
            out = None
            for name in names:  # applied right to left: the last one acts first on the rest bone
                R = turn(a[name], axes[name])
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
            forearm = a[f"forearm_rot_{s}"]
            bones[f"lowerarm01.{s}"] = rot(f"elbow_{s}") @ turn(FOREARM_TWIST_SHARE * forearm, axes[f"forearm_rot_{s}"])
            bones[f"lowerarm02.{s}"] = turn((1 - FOREARM_TWIST_SHARE) * forearm, axes[f"forearm_rot_distal_{s}"])
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
        # The root carries the heading and the pelvis's turn from it (the hips turn the legs back).
        yaw = torch.as_tensor(motion.yaw + np.radians(motion.angles["pelvis_twist"]), dtype=b.dtype)
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
