"""Detections cached on disk by what produced them: the images' bytes and the detector's fingerprint.

For in-memory work (the occlusion benchmark occludes images and detects them again): the same images through the
same detector are detected once. Entries are small ``.npz`` files named by sha256(detector fingerprint, images).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np

from hipart.detect.base import Detections, Detector, images_digest
from hipart.io import atomic_path


class CachedDetector:
    """Wraps a detector: ``detect(images)`` reads the cache or detects and stores."""

    def __init__(self, detector: Detector, folder: str | Path) -> None:
        self.detector = detector
        self.folder = Path(folder)
        self._fingerprint = detector.fingerprint()
        self.hits = 0
        self.misses = 0

    def key(self, images: Sequence[np.ndarray] | np.ndarray) -> str:
        return hashlib.sha256(f"{self._fingerprint}/{images_digest(images)}".encode()).hexdigest()

    def detect(self, images: Sequence[np.ndarray] | np.ndarray) -> Detections:
        key = self.key(images)
        path = self.folder / key[:2] / f"{key}.npz"
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as z:
                    self.hits += 1
                    return Detections(z["keypoints"], z["confidence"], z["detected"], self.detector.keypoint_names)
            except (OSError, ValueError, KeyError):
                pass  # a damaged entry is detected again and rewritten
        self.misses += 1
        out = self.detector.detect(images)
        with atomic_path(path) as tmp:
            np.savez(tmp, **out.arrays())
        return out
