"""``hipart predict``: 2D keypoints, images or a video -> hierarchical 2D (17/48/96 joints) and 3D poses.

Keypoint inputs: an ``.npy``/``.npz`` of (N, 17, 2) px (see :func:`hipart.densify.load_keypoints`), a ``.json``
holding ``{"keypoints": [[[x, y] x 17] x N], "image_size": [w, h]}`` (or ``"intrinsics": {"width", "height",
...}``), or VideoPose3D's 2D archive (``positions_2d`` = {subject: {action: [camera arrays]}}), whose image sizes
come from the packaged Human3.6M calibration. Other detectors' files (``--format coco|openpose``, detected from a
``.json`` where unambiguous; see :mod:`hipart.keypoint_formats`): COCO-17 as mmpose, ViTPose and YOLO-pose write
it, OpenPose BODY_25 / COCO-18 (a file, or a folder of per-frame files), every person of every frame, mapped to the
17 joints; their outputs add ``confidence`` (N, 17), ``person_id`` and ``frame`` (N,) per row. The lifter reads
screen-normalized coordinates, so the image size matters; without one, 1000 x 1000 is assumed and said.

Image inputs (``--image``, ``--video``; the ``images`` extra): the built-in detector (BlazePose) finds the person,
a joint adapter maps its landmarks to the 17 Human3.6M joints (``--adapter``, else the one fitted on the run's
rendered training images by ``hipart detect --data DATASET``, else the packaged one fitted on the default data's
renders; the output says which: :mod:`hipart.detect.packaged`), HiPART does the rest. A frame without a person is
listed and its outputs are NaN: nothing is invented for it. Pictures: per image a PNG, per video an MP4, of the
17/48/96-joint 2D on the frame beside the 3D skeleton.

A run whose HiARM or lifter reads the detector's per-joint confidence (``hiarm.confidence``, ``lifter.confidence``)
is given it: BlazePose's for images and videos, the file's for COCO / OpenPose keypoints, 1 for keypoint files
without one; 0 for a joint outside the image in every case (:func:`model_confidence`).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from hipart.camera import load_h36m_cameras
from hipart.data.videopose3d import load_positions_2d
from hipart.densify import check_keypoint_range, check_keypoints, load_keypoints
from hipart.detect.adapter import JointAdapter
from hipart.detect.blazepose import make_detector
from hipart.detect.packaged import AdapterChoice, choose_adapter
from hipart.errors import HipartError
from hipart.figures import prediction_figure
from hipart.io import atomic_path, umask, write_json_atomic
from hipart.keypoint_formats import FORMATS, LAYOUT_TITLES, People, detect_format, parse_people, read_json, to_h36m
from hipart.models.hipart import HiPART
from hipart.occlusion import observed_confidence
from hipart.render.store import import_cv2, iter_images, read_image
from hipart.runs import RunLayout

DEFAULT_SIZE = (1000, 1000)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _json_keypoints(path: Path, obj: object) -> tuple[np.ndarray, tuple[int, int] | None]:
    """hipart's own (h36m) JSON layout, already parsed: (N, 17, 2) px and the image size if given."""
    if isinstance(obj, list):
        obj = {"keypoints": obj}
    if not isinstance(obj, dict) or "keypoints" not in obj:
        raise HipartError(f"{path}: expected {{'keypoints': [[[x, y] x 17] x N], 'image_size': [w, h]}}")
    try:
        x = np.asarray(obj["keypoints"], dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise HipartError(f"{path}: keypoints are not numbers ({exc})") from None
    size = obj.get("image_size")
    if size is None and isinstance(obj.get("intrinsics"), dict):
        size = (obj["intrinsics"].get("width"), obj["intrinsics"].get("height"))
    if size is not None:
        try:
            size = (int(size[0]), int(size[1]))
        except (TypeError, ValueError, IndexError):
            raise HipartError(f"{path}: image_size must be [width, height] in pixels") from None
    return x, size


Group = tuple[np.ndarray, tuple[int, int], dict[str, np.ndarray]]


def read_inputs(path: str | Path, image_size: tuple[int, int] | None, log: Callable[[str], None] = print,
                fmt: str | None = None) -> dict[str, Group]:
    """Named groups of keypoints (N, 17, 2) px with their image size and further per-row arrays (``confidence``,
    ``person_id``, ``frame`` for other detectors' files, none for h36m): one group, or one per VideoPose3D
    subject/action/camera. ``fmt``: one of ``FORMATS``, or None to detect it from the file."""
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise HipartError(f"unknown keypoint format '{fmt}'; use one of {', '.join(FORMATS)}")
    if path.is_dir() and fmt != "h36m":
        return _people_group(_folder_people(path, fmt), path, image_size, log)
    obj = None
    if path.suffix == ".json":
        obj = read_json(path)
        found = detect_format(obj)
        if fmt is None and found is None:
            raise HipartError(f"{path}: cannot tell the keypoint format; expected {{'keypoints': [[[x, y] x 17] x N], "
                              "'image_size': [w, h]}, COCO-17 people or an OpenPose file (or pass --format)")
        fmt = fmt or found
    elif fmt in ("coco", "openpose"):
        raise HipartError(f"{path}: {fmt} keypoints are read from their .json files (or a folder of them); give the "
                          "detector's JSON output, or --format h36m for an array in Human3.6M order")
    if fmt in ("coco", "openpose"):
        return _people_group(parse_people(obj, fmt, path), path, image_size, log)
    return {k: (x, size, {}) for k, (x, size) in _h36m_inputs(path, obj, image_size, log).items()}


def _folder_people(folder: Path, fmt: str | None) -> People:
    """A folder of per-frame JSON files (OpenPose's --write_json, mmpose's pred_out_dir): the frame is the file's
    index in name order."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
    if not files:
        raise HipartError(f"{folder}: a folder without .json files; give a keypoint file or a folder of per-frame "
                          "OpenPose / mmpose JSON files")
    parts, layouts = [], set()
    for i, f in enumerate(files):
        obj = read_json(f)
        this = fmt or detect_format(obj)
        if this not in ("coco", "openpose"):
            raise HipartError(f"{f}: not a COCO-17 or OpenPose keypoint file; a folder holds one JSON file per frame "
                              "(pass --format coco or openpose)")
        if fmt is None:
            fmt = this
        try:
            people = parse_people(obj, this, f)
        except HipartError as exc:
            if "no people in this file" in str(exc):
                continue  # a frame without people
            raise
        parts.append((i, people))
        layouts.add(people.layout)
    if not parts:
        raise HipartError(f"{folder}: no people in any of its {len(files)} files (the detector found nobody); give "
                          "files with at least one person")
    if len(layouts) > 1:
        raise HipartError(f"{folder}: files of different layouts ({', '.join(sorted(layouts))}); use one detector")
    cat = lambda k: np.concatenate([getattr(p, k) for _, p in parts])  # noqa: E731
    return People(cat("keypoints"), cat("confidence"), cat("person_id"),
                  np.concatenate([np.full(len(p.person_id), i, np.int64) for i, p in parts]), parts[0][1].layout,
                  tuple(dict.fromkeys(n for _, p in parts for n in p.notes)))


def _people_group(people: People, path: Path, image_size: tuple[int, int] | None, log: Callable[[str], None]
                  ) -> dict[str, Group]:
    """One group of another detector's people mapped to Human3.6M's joints, with what was said about them."""
    x, conf = to_h36m(people.keypoints, people.confidence, people.layout)
    frames = len(np.unique(people.frame))
    log(f"{path}: {LAYOUT_TITLES[people.layout]} keypoints, {len(x)} pose(s) of {len(np.unique(people.person_id))} "
        f"person id(s) in {frames} frame(s), mapped to Human3.6M's 17 joints")
    for note in people.notes:
        log(f"{path}: {note}")
    missing = int((people.confidence <= 0).sum())
    if missing:
        log(f"{path}: {missing} keypoint(s) are missing (confidence 0); their joints keep the file's coordinates "
            "and confidence 0")
    size = image_size
    if size is None:
        size = DEFAULT_SIZE
        log(f"no image size given: assuming {size[0]} x {size[1]} px (pass --image-size W H)")
    size = check_image_size(size, path)
    return {"": (check_keypoint_range(x, path, size), size,
                 {"confidence": conf, "person_id": people.person_id, "frame": people.frame})}


def _h36m_inputs(path: Path, obj: object, image_size: tuple[int, int] | None, log: Callable[[str], None]
                 ) -> dict[str, tuple[np.ndarray, tuple[int, int]]]:
    """Keypoints in Human3.6M order: arrays, hipart's JSON (``obj``, parsed) or VideoPose3D's 2D archive."""
    if path.suffix == ".npz" and path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            is_vp3d = "positions_2d.npy" in zf.namelist()
        if is_vp3d:
            positions, _ = load_positions_2d(path)
            cams = load_h36m_cameras()
            groups = {}
            for subject, actions in positions.items():
                for action, per_cam in actions.items():
                    for c, x in enumerate(per_cam):
                        cam = cams.get(subject, (None,) * 4)[c]
                        size = check_image_size(image_size or ((cam.width, cam.height) if cam is not None
                                                               else DEFAULT_SIZE), path)
                        groups[f"{subject}/{action}/{c}"] = (check_keypoint_range(check_keypoints(x, path), path,
                                                                                  size), size)
            return groups
    if path.suffix == ".json":
        x, size = _json_keypoints(path, obj)
        x = check_keypoints(x, path)
    else:
        x, size = load_keypoints(path), None
    size = image_size or size
    if size is None:
        size = DEFAULT_SIZE
        log(f"no image size given: assuming {size[0]} x {size[1]} px (pass --image-size W H)")
    size = check_image_size(size, path)
    return {"": (check_keypoint_range(x, path, size), size)}


def check_image_size(size: tuple[int, int], where: str | Path) -> tuple[int, int]:
    """(width, height) of positive whole pixels, or a one-line error."""
    w, h = size
    if not (w >= 1 and h >= 1):
        raise HipartError(f"{where}: image size {w} x {h} px; give the width and height of the images the keypoints "
                          "were found in (--image-size W H, both positive)")
    return int(w), int(h)


def model_confidence(model: HiPART, x_s: np.ndarray, image_size: tuple[int, int] | np.ndarray,
                     confidence: np.ndarray | None) -> np.ndarray | None:
    """The per-joint confidence (N, 17) ``model`` reads beside keypoints x_s (N, 17, 2) px in images of
    ``image_size`` (width, height): ``confidence`` (N, 17) (ones where the input carries none), 0 for a joint
    outside the image; None for a model that reads no confidence (given one, it would only warn)."""
    if not model.reads_confidence:
        return None
    c = np.ones(x_s.shape[:2], np.float32) if confidence is None else confidence
    return observed_confidence(c, x_s, np.asarray(image_size, np.float64))


def predict_file(run: str | Path, inp: str | Path, out: str | Path, image_size: tuple[int, int] | None = None,
                 device: str = "auto", log: Callable[[str], None] = print, compile: bool | str = "auto",
                 fmt: str | None = None) -> dict[str, np.ndarray]:
    """Run the HiPART model of ``run`` on ``inp``; write x_s, x_d, x_f (px) and X (mm) to ``out`` (plus
    ``confidence``, ``person_id``, ``frame`` per row for COCO / OpenPose inputs). ``fmt``: the keypoint format (one
    of ``hipart.keypoint_formats.FORMATS``; None: detected). ``compile``: HiPART's fast decoding compiled (True),
    eager (False) or "auto" (see ``hipart.models.fast``). The input is read and checked before the model loads."""
    notes: list[str] = []
    groups = read_inputs(inp, image_size, notes.append, fmt)
    model = HiPART.from_run(run, device, compile=compile)
    for note in notes:
        log(note)
    arrays: dict[str, np.ndarray] = {}
    for name, (x_s, size, extra) in groups.items():
        pred = model(x_s, size, confidence=model_confidence(model, x_s, size, extra.get("confidence")))
        prefix = f"{name}/" if name else ""
        arrays.update({f"{prefix}x_s": x_s, **{f"{prefix}{k}": v for k, v in extra.items()},
                       f"{prefix}x_d": pred["x_d"].cpu().numpy(), f"{prefix}x_f": pred["x_f"].cpu().numpy(),
                       f"{prefix}X": pred["X"].cpu().numpy()})
    write_predictions(out, arrays)
    return arrays


def write_predictions(out: str | Path, arrays: dict[str, np.ndarray]) -> Path:
    """``.npz`` (arrays) or ``.json`` (nested lists, NaN as null), chosen by ``out``'s suffix; written atomically."""
    out = Path(out)
    if out.suffix == ".json":
        write_json_atomic(out, {k: _jsonable(np.asarray(v)) for k, v in arrays.items()})
    elif out.suffix == ".npz":
        with atomic_path(out) as tmp:
            np.savez(tmp, **arrays)
    else:
        raise HipartError(f"{out}: write predictions to a .npz or a .json file")
    return out


def _jsonable(a: np.ndarray) -> object:
    if a.dtype.kind == "f":
        return np.where(np.isfinite(a), a, None).tolist()  # NaN (no detection) becomes null
    return a.tolist()


# ---------------------------------------------------------------- images and videos


def run_adapter(run: str | Path, adapter: str | Path | None) -> AdapterChoice:
    """The joint adapter given, else the one fitted on the run's dataset (``hipart detect --data DATASET``), else the
    packaged one (:func:`hipart.detect.packaged.choose_adapter`). Its ``describe()`` line is logged with the
    results, so that an error stays one line."""
    data = None
    if adapter is None:
        try:
            data = RunLayout(run).recorded_data()
        except HipartError:
            data = None  # no stage records its dataset: only the packaged adapter is left
    return choose_adapter(adapter, data)


def image_paths(paths: list[str | Path]) -> list[Path]:
    """Image files, folders expanded to the images they hold (sorted); a one-line error when there are none."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            found.append(p)
        else:
            raise HipartError(f"{p}: no such image file or folder")
    if not found:
        raise HipartError(f"no images in {', '.join(map(str, paths))} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return found


def _predict_frames(model: HiPART, detector: object, adapter: JointAdapter, images: list[np.ndarray]
                    ) -> dict[str, np.ndarray]:
    """Detect, adapt and run HiPART on same-size frames; outputs NaN where no person was detected."""
    joints = adapter.apply(detector.detect(images))  # type: ignore[attr-defined]
    n, size = len(images), (images[0].shape[1], images[0].shape[0])
    out = {"x_s": joints.keypoints, "confidence": joints.confidence, "detected": joints.detected,
           "x_d": np.full((n, model.msst.num_dense, 2), np.nan, np.float32),
           "x_f": np.full((n, model.msst.num_fine, 2), np.nan, np.float32),
           "X": np.full((n, joints.keypoints.shape[1], 3), np.nan, np.float32),
           "image_size": np.tile(np.asarray(size, np.int32), (n, 1))}
    found = joints.detected
    if found.any():
        x_s = joints.keypoints[found]
        pred = model(x_s, size, confidence=model_confidence(model, x_s, size, joints.confidence[found]))
        for k in ("x_d", "x_f", "X"):
            out[k][found] = pred[k].cpu().numpy()
    return out


def predict_images(run: str | Path, paths: list[str | Path], out: str | Path, figures: str | Path | None,
                   adapter: str | Path | None = None, device: str = "auto", progress: bool = True,
                   log: Callable[[str], None] = print, compile: bool | str = "auto") -> dict[str, np.ndarray]:
    """Images -> detection -> HiPART; writes the arrays (``out``) and one PNG per image into ``figures``."""
    files = image_paths(paths)
    model, choice = HiPART.from_run(run, device, compile=compile), run_adapter(run, adapter)
    joint_adapter = choice.adapter
    detector = make_detector("blazepose")
    parts = []
    for path in tqdm(files, desc="predict", unit="img", disable=not progress, dynamic_ncols=True):
        image = read_image(path)
        pred = _predict_frames(model, detector, joint_adapter, [image])
        parts.append(pred)
        if figures is not None:
            picture = prediction_figure(image, *(pred[k][0] for k in ("x_s", "x_d", "x_f", "X")), title=path.name,
                                        confidence=pred["confidence"][0])
            _write_png(Path(figures) / f"{path.stem}.png", picture)
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    arrays["image_file"] = np.asarray([str(p) for p in files])
    missing = [str(p) for p, ok in zip(files, arrays["detected"]) if not ok]
    if len(missing) == len(files):
        raise HipartError(f"no person found in {'the image' if len(files) == 1 else f'any of the {len(files)} images'}"
                          f" ({files[0]}{', ...' if len(files) > 1 else ''}); nothing written")
    log(choice.describe())
    if missing:
        log(f"no person found in {len(missing)} of {len(files)} image(s), their outputs are NaN: {', '.join(missing)}")
    write_predictions(out, arrays)
    return arrays


def predict_video(run: str | Path, video: str | Path, out: str | Path, figure_video: str | Path | None,
                  adapter: str | Path | None = None, device: str = "auto", batch: int = 32, progress: bool = True,
                  log: Callable[[str], None] = print, compile: bool | str = "auto") -> dict[str, np.ndarray]:
    """A video -> per frame detection and HiPART; writes the arrays and (``figure_video``) an MP4 of the pictures."""
    video = Path(video)
    if not video.is_file():
        raise HipartError(f"{video}: no such video file")
    cv2 = import_cv2()
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    capture.release()
    model, choice = HiPART.from_run(run, device, compile=compile), run_adapter(run, adapter)
    joint_adapter = choice.adapter
    detector = make_detector("blazepose")
    parts: list[dict[str, np.ndarray]] = []
    writer = _VideoWriter(figure_video, fps) if figure_video is not None else None
    try:
        with tqdm(total=total, desc="predict", unit="frame", disable=not progress, dynamic_ncols=True) as bar:
            for frames in _batches(iter_images(video), batch):
                pred = _predict_frames(model, detector, joint_adapter, frames)
                parts.append(pred)
                if writer is not None:
                    for i, image in enumerate(frames):
                        writer.write(prediction_figure(image, *(pred[k][i] for k in ("x_s", "x_d", "x_f", "X")),
                                                       title=f"{video.name}, frame {sum(map(len, parts[:-1])) + i}",
                                                       confidence=pred["confidence"][i]))
                bar.update(len(frames))
        if not parts:
            raise HipartError(f"{video}: no frames could be read; check the file or re-encode it")
        arrays = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        missing = np.flatnonzero(~arrays["detected"])
        if len(missing) == len(arrays["detected"]):
            raise HipartError(f"{video}: no person found in any of its {len(missing)} frames; nothing written")
        log(choice.describe())
        if len(missing):
            log(f"no person found in {len(missing)} of {len(arrays['detected'])} frames (their outputs are NaN): "
                f"{_ranges(missing)}")
        write_predictions(out, arrays)
        if writer is not None:
            writer.finish()
    finally:
        if writer is not None:
            writer.abandon()
    return arrays


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    batch: list[np.ndarray] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _ranges(index: np.ndarray) -> str:
    """[3, 4, 5, 9] -> '3-5, 9'."""
    runs, start = [], index[0]
    for a, b in zip(index, list(index[1:]) + [None]):
        if b is None or b != a + 1:
            runs.append(f"{start}-{a}" if a != start else f"{a}")
            start = b
    return ", ".join(runs)


def _write_png(path: Path, picture: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")


class _VideoWriter:
    """An MP4 written to a temporary file beside its path and renamed only when complete."""

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path, self.fps = Path(path), fps
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix or '.mp4'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HipartError(f"{self.path}: cannot write there ({exc.strerror}); choose another path") from None
        self.cv2 = import_cv2()
        self.writer = None

    def write(self, picture: np.ndarray) -> None:
        if self.writer is None:
            h, w = picture.shape[:2]
            self.writer = self.cv2.VideoWriter(str(self.tmp), self.cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self.writer.write(np.ascontiguousarray(picture[..., ::-1]))

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None
            os.chmod(self.tmp, 0o666 & ~umask())
            os.replace(self.tmp, self.path)

    def abandon(self) -> None:
        """Called always; after an error the temporary file is removed."""
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        self.tmp.unlink(missing_ok=True)
