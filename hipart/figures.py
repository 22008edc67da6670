"""The demo's figure (one test frame, its sparse input, the densified levels and the 3D prediction against the
truth), the picture of one prediction, and the drawing helpers the benchmarks' figures share: a 17-joint skeleton
whose joints the detector did not see are marked (:func:`draw_sparse_2d`), and 3D skeletons in a fixed body-sized
box (:func:`draw_skeletons_3d`)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from hipart.camera import normalize_pixels  # noqa: E402
from hipart.data.dataset import PoseDataset  # noqa: E402
from hipart.io import atomic_path  # noqa: E402
from hipart.models.hipart import HiPART  # noqa: E402
from hipart.models.lifter import Lifter  # noqa: E402
from hipart.occlusion import outside_image  # noqa: E402
from hipart.runs import RunLayout  # noqa: E402
from hipart.skeleton import H36M, H36M_ACTIONS  # noqa: E402

SEEN_CONFIDENCE = 0.5  # a detected joint below this confidence is drawn as not seen
UNSEEN = "not seen (confidence < 0.5 or outside the image)"
REACH_MM = 1000.0  # the 3D panels span +-REACH_MM on every axis: a body fits, and every frame gets the same scale


def demo_figure(run: str | Path, data_dir: str | Path, path: str | Path, index: int | None = None,
                device: str = "cpu") -> Path:
    """Left: GT fine joints (grey), the sparse input (skeleton) and HiARM's fine/dense output; right: 3D from the
    hier and sparse lifters against the ground truth (root-relative mm)."""
    layout = RunLayout(run)
    ds = PoseDataset(data_dir, "test", fields=("x_s", "x_d", "x_f", "X_s"), normalize=False)
    i = len(ds) // 2 if index is None else index
    item = ds[i]
    x_s = item["x_s"][None]
    model = HiPART.from_run(layout.root, device)
    pred = {k: v.cpu() for k, v in model(x_s, item["image_size"]).items()}
    dense = {"x_d": pred["x_d"], "x_f": pred["x_f"]}
    sparse_lifter, _ = Lifter.load(layout.lifter("sparse").checkpoint)
    x = torch.as_tensor(normalize_pixels(x_s.numpy(), item["image_size"][None].numpy()), dtype=torch.float32)
    with torch.no_grad():
        # the true sparse pose: confidence 1 (read only by a lifter built for it)
        preds = {"hier": pred["X"][0].numpy(), "sparse": sparse_lifter(x, torch.ones(1, H36M.num_joints))[0].numpy()}
    gt = (item["X_s"] - item["X_s"][:1]).numpy()
    fig = plt.figure(figsize=(11, 5))
    ax = fig.add_subplot(1, 2, 1)
    ax.scatter(*item["x_f"].numpy().T, s=10, c="0.75", label="true fine (96)")
    ax.scatter(*dense["x_f"][0].numpy().T, s=8, c="tab:orange", label="HiARM fine (96)")
    ax.scatter(*dense["x_d"][0].numpy().T, s=14, marker="s", facecolors="none", edgecolors="tab:green",
               label="HiARM dense (48)")
    for a, b in H36M.bones:
        ax.plot(*x_s[0, [a, b]].numpy().T, c="tab:blue", lw=2)
    ax.set_title(f"S{int(item['subject'])} {H36M_ACTIONS[int(item['action'])]}, camera {int(item['camera'])}, "
                 f"frame {int(item['frame'])}: 2D")
    ax.invert_yaxis()
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="lower right")
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    draw_skeletons_3d(ax3, [(gt, "k", "ground truth"), (preds["hier"], "tab:orange", "hier lifter"),
                            (preds["sparse"], "tab:blue", "sparse lifter")])
    err = {m: float(np.linalg.norm(p - gt, axis=-1).mean()) for m, p in preds.items()}
    ax3.set_title(f"3D, root-relative: MPJPE hier {err['hier']:.0f} mm, sparse {err['sparse']:.0f} mm")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def prediction_figure(image: np.ndarray, x_s: np.ndarray, x_d: np.ndarray, x_f: np.ndarray, X: np.ndarray,
                      title: str = "", confidence: np.ndarray | None = None) -> np.ndarray:
    """One prediction drawn for a person to look at: the frame with the 17 / 48 / 96-joint 2D levels on it, beside
    the 3D skeleton (root-relative, camera axes). (H, W, 3) uint8 RGB image, ``x_s`` (17, 2), ``x_d`` (48, 2),
    ``x_f`` (96, 2) px, ``X`` (17, 3) mm in; a (600, 1200, 3) uint8 picture out. Sparse joints the detector did
    not see (:func:`unseen_joints` with ``confidence`` (17,), the detector's per joint; without it only the image
    bounds count) are marked. A frame without a detection (NaN keypoints) is shown with "no person detected"."""
    fig = plt.figure(figsize=(12, 6), dpi=100)
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(image)
    found = bool(np.isfinite(x_s).all())
    if found:
        ax.scatter(*x_f.T, s=6, c="tab:orange", label=f"fine ({len(x_f)})")
        ax.scatter(*x_d.T, s=14, marker="s", facecolors="none", edgecolors="lime", label=f"dense ({len(x_d)})")
        draw_sparse_2d(ax, x_s, unseen_joints(x_s, image.shape[1::-1], confidence), "deepskyblue",
                       f"sparse ({len(x_s)})")
        ax.legend(fontsize=7, loc="lower right")
    else:
        ax.text(0.5, 0.5, "no person detected", transform=ax.transAxes, ha="center", color="red", fontsize=14)
    ax.set_title(title, fontsize=9)
    ax.set_axis_off()
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    if found:
        draw_skeletons_3d(ax3, [(X, "tab:orange", "HiPART 3D")])
        ax3.legend(fontsize=7)
    ax3.set_title("3D, root-relative (mm)", fontsize=9)
    fig.tight_layout()
    fig.canvas.draw()
    picture = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return picture


def unseen_joints(x: np.ndarray, image_size: tuple[int, int] | np.ndarray, confidence: np.ndarray | None = None
                  ) -> np.ndarray:
    """(..., J) True where the detector did not see a joint (..., J, 2) px: its ``confidence`` (..., J) is below
    SEEN_CONFIDENCE (or not a number), or it lies outside the picture of ``image_size`` (width, height) px. Without
    confidence only the image bounds count."""
    unseen = outside_image(x, np.asarray(image_size))
    if confidence is not None:
        unseen = unseen | ~(np.asarray(confidence) >= SEEN_CONFIDENCE)
    return unseen


def draw_sparse_2d(ax, x: np.ndarray, unseen: np.ndarray, colour: str, label: str, unseen_label: str = UNSEEN
                   ) -> None:
    """The 17-joint skeleton (17, 2) px on a 2D axes: bones between seen joints solid in ``colour``; bones touching
    a joint marked in ``unseen`` (17,) dashed grey, and those joints as red crosses, labelled ``unseen_label``."""
    unseen = np.asarray(unseen, bool)
    labelled = False
    for a, b in H36M.bones:
        if unseen[a] or unseen[b]:
            ax.plot(*x[[a, b]].T, c="0.55", lw=1.5, ls="--")
        else:
            ax.plot(*x[[a, b]].T, c=colour, lw=2, label=None if labelled else label)
            labelled = True
    if unseen.any():
        ax.scatter(*x[unseen].T, marker="x", c="red", s=45, linewidths=2, zorder=3, label=unseen_label)


def clip_to_box(a: np.ndarray, b: np.ndarray, reach: float) -> tuple[np.ndarray, np.ndarray] | None:
    """The part of the segment from ``a`` to ``b`` (3,) inside the cube [-reach, reach]^3 (Liang-Barsky), or None
    when none of it is inside."""
    d = b - a
    t0, t1 = 0.0, 1.0
    for p, q in zip(np.concatenate([-d, d]), np.concatenate([a + reach, reach - a])):
        if p == 0:
            if q < 0:  # parallel to this face and beyond it
                return None
        elif p < 0:
            t0 = max(t0, q / p)
        else:
            t1 = min(t1, q / p)
    return (a + t0 * d, a + t1 * d) if t0 <= t1 else None


def draw_skeletons_3d(ax3, poses: list[tuple[np.ndarray, str, str]]) -> None:
    """Root-relative (17, 3) camera-space poses, mm (x right, y down, z forward) as skeletons, depth into the page,
    in a cube of +-REACH_MM: pictures of different frames share one scale, and a bone reaching beyond is cut at
    the box (matplotlib draws 3D lines past the axes limits)."""
    for pose, colour, label in poses:
        shown = pose[:, [0, 2, 1]] * np.array([1.0, 1.0, -1.0])  # plotted axes: x, depth z, up -y
        labelled = False
        for a, b in H36M.bones:
            inside = clip_to_box(shown[a], shown[b], REACH_MM)
            if inside is not None:
                ax3.plot(*np.stack(inside).T, c=colour, lw=1.5, label=None if labelled else label)
                labelled = True
    ax3.set_xlim(-REACH_MM, REACH_MM)
    ax3.set_ylim(-REACH_MM, REACH_MM)
    ax3.set_zlim(-REACH_MM, REACH_MM)
    ax3.set_box_aspect((1, 1, 1))
    for axis in (ax3.xaxis, ax3.yaxis, ax3.zaxis):  # the default ~9 ticks of 4-digit mm overlap on the depth axis
        axis.set_major_locator(MaxNLocator(5))
    ax3.view_init(elev=10, azim=-70)
    ax3.set_xlabel("x (mm)")
    ax3.set_ylabel("depth z (mm)")
    ax3.set_zlabel("up -y (mm)")
