"""The detector interface: images in, keypoints in pixels with a confidence each, or "no person".

A :class:`Detector` maps a batch of (H, W, 3) uint8 RGB images to :class:`Detections` of its own keypoint layout
(BlazePose: 33 landmarks). :class:`hipart.detect.adapter.JointAdapter` turns those into the 17 Human3.6M joints.
Frames without a person have ``detected`` False and NaN keypoints; nothing is invented for them.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from hipart.errors import HipartError


@dataclass
class Detections:
    """Keypoints (N, K, 2) px (NaN where not detected), confidence (N, K) in [0, 1] (0 where not detected),
    detected (N,) bool, and the keypoint names (K,)."""

    keypoints: np.ndarray
    confidence: np.ndarray
    detected: np.ndarray
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        n, k = self.confidence.shape
        if self.keypoints.shape != (n, k, 2) or self.detected.shape != (n,) or len(self.names) != k:
            raise HipartError(f"inconsistent detections: keypoints {self.keypoints.shape}, confidence "
                              f"{self.confidence.shape}, detected {self.detected.shape}, {len(self.names)} names")

    def __len__(self) -> int:
        return len(self.detected)

    @classmethod
    def concatenate(cls, parts: Sequence["Detections"], names: tuple[str, ...]) -> "Detections":
        if not parts:
            k = len(names)
            return cls(np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32), np.zeros(0, bool), names)
        return cls(np.concatenate([p.keypoints for p in parts]), np.concatenate([p.confidence for p in parts]),
                   np.concatenate([p.detected for p in parts]), names)

    def arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        return {f"{prefix}keypoints": self.keypoints, f"{prefix}confidence": self.confidence,
                f"{prefix}detected": self.detected}


class Detector(ABC):
    """Finds one person's keypoints per image."""

    name: str
    keypoint_names: tuple[str, ...]

    @abstractmethod
    def detect(self, images: Sequence[np.ndarray] | np.ndarray) -> Detections:
        """(N, H, W, 3) uint8 RGB images (or a list of them, sizes may differ) -> Detections of N frames."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A digest of everything that decides the output (model files, settings, library version)."""


def images_digest(images: Sequence[np.ndarray] | np.ndarray) -> str:
    """sha256 over the images' shapes and bytes: a cache key for their detections."""
    h = hashlib.sha256()
    for image in images:
        image = np.ascontiguousarray(image)
        h.update(str(image.shape).encode())
        h.update(image.tobytes())
    return h.hexdigest()
