"""The 17-joint Human3.6M skeleton: the single definition used across hipart.

Joint order, parents and left/right sets follow VideoPose3D's 17-joint Human3.6M layout
(the 32 motion-capture joints reduced to 17 by ``H36M_FROM_32``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

PartOrder = Literal["center", "raster"]


@dataclass(frozen=True)
class Skeleton:
    names: tuple[str, ...]
    parents: tuple[int, ...]  # -1 for the root
    joints_left: tuple[int, ...]
    joints_right: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def root(self) -> int:
        return self.parents.index(-1)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) pairs in child-index order."""
        return tuple((p, j) for j, p in enumerate(self.parents) if p >= 0)

    def children(self, joint: int) -> tuple[int, ...]:
        return tuple(j for j, p in enumerate(self.parents) if p == joint)

    def depth(self) -> np.ndarray:
        """Number of bones between each joint and the root."""
        depth = np.zeros(self.num_joints, dtype=np.int64)
        for j in range(self.num_joints):
            k = j
            while self.parents[k] >= 0:
                depth[j] += 1
                k = self.parents[k]
        return depth

    def flip_permutation(self) -> np.ndarray:
        """Index map that swaps left and right joints (for horizontal-flip augmentation)."""
        perm = np.arange(self.num_joints)
        perm[list(self.joints_left)] = self.joints_right
        perm[list(self.joints_right)] = self.joints_left
        return perm

    def part_order(self, kind: PartOrder = "center") -> tuple[int, ...]:
        """Order in which HiARM visits the body parts (one part per sparse joint).

        'center': center-to-periphery, breadth-first from the root, ties broken by joint index.
        'raster': plain joint-index order (the ablation's alternative).
        """
        if kind == "raster":
            return tuple(range(self.num_joints))
        if kind == "center":
            depth = self.depth()
            return tuple(sorted(range(self.num_joints), key=lambda j: (depth[j], j)))
        raise ValueError(f"unknown part order '{kind}'; use 'center' or 'raster'")

    def index(self, name: str) -> int:
        return self.names.index(name)

    def rings(self) -> tuple[tuple[int, ...], ...]:
        """The joints by their distance from the root in bones (centre to periphery, left and right together), each
        ring in joint-index order: concatenated, the 'center' part order."""
        depth = self.depth()
        return tuple(tuple(int(j) for j in np.flatnonzero(depth == d)) for d in range(int(depth.max()) + 1))


H36M = Skeleton(
    names=(
        "Pelvis", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "Spine", "Thorax",
        "Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow", "RWrist",
    ),
    parents=(-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15),
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
)

# HiARM's named decode groups (config ``hiarm.decode_groups``; hipart.config.decode_groups resolves and checks
# them): groups of sparse joints decoded side by side, one group per step. "single" is the paper's one part per step
# in ``hiarm.part_order`` (17 steps); "rings" the rings around the root (H36M.rings(): 6 steps); "limbs" the torso
# (pelvis, spine, thorax) in one step, then every limb's first, middle and end joint (head and neck as a limb): 4
# steps, each joint after its parent's group.
DECODE_GROUP_PRESETS: dict[str, tuple[tuple[str, ...], ...] | None] = {
    "single": None,  # one group per part, in the part order
    "rings": tuple(tuple(H36M.names[j] for j in ring) for ring in H36M.rings()),
    "limbs": (("Pelvis", "Spine", "Thorax"),
              ("RHip", "LHip", "Nose", "LShoulder", "RShoulder"),
              ("RKnee", "LKnee", "Head", "LElbow", "RElbow"),
              ("RAnkle", "LAnkle", "LWrist", "RWrist")),
}

# Indices of the 17 kept joints in the 32-joint Human3.6M motion-capture skeleton (VideoPose3D).
H36M_FROM_32: tuple[int, ...] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# Human3.6M action names, indexed by Pose2Mesh's action_idx - 2 (action_idx runs 2..16).
H36M_ACTIONS: tuple[str, ...] = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
    "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether",
)

TRAIN_SUBJECTS: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS: tuple[str, ...] = ("S9", "S11")
