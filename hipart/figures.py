"""The demo's figure: one test frame, its sparse input, the densified levels and the 3D prediction against the truth."""

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
from hipart.runs import RunLayout  # noqa: E402
from hipart.skeleton import H36M, H36M_ACTIONS  # noqa: E402


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
        preds = {"hier": pred["X"][0].numpy(), "sparse": sparse_lifter(x)[0].numpy()}
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
                      title: str = "") -> np.ndarray:
    """One prediction drawn for a person to look at: the frame with the 17 / 48 / 96-joint 2D levels on it, beside
    the 3D skeleton (root-relative, camera axes). (H, W, 3) uint8 RGB image in; the same kind of picture out. A
    frame without a detection (NaN keypoints) is shown with "no person detected"."""
    fig = plt.figure(figsize=(12, 6), dpi=100)
    ax = fig.add_subplot(1, 2, 1)
    ax.imshow(image)
    found = bool(np.isfinite(x_s).all())
    if found:
        ax.scatter(*x_f.T, s=6, c="tab:orange", label=f"fine ({len(x_f)})")
        ax.scatter(*x_d.T, s=14, marker="s", facecolors="none", edgecolors="lime", label=f"dense ({len(x_d)})")
        for n, (a, b) in enumerate(H36M.bones):
            ax.plot(*x_s[[a, b]].T, c="deepskyblue", lw=2, label=f"sparse ({len(x_s)})" if n == 0 else None)
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


def draw_skeletons_3d(ax3, poses: list[tuple[np.ndarray, str, str]]) -> None:
    """Root-relative (17, 3) camera-space poses (x right, y down, z forward) as skeletons, depth into the page."""
    for pose, colour, label in poses:
        for n, (a, b) in enumerate(H36M.bones):
            ax3.plot(pose[[a, b], 0], pose[[a, b], 2], -pose[[a, b], 1], c=colour, lw=1.5,
                     label=label if n == 0 else None)
    reach = float(np.abs(np.concatenate([p[0] for p in poses])).max()) * 1.05
    ax3.set_xlim(-reach, reach)
    ax3.set_ylim(-reach, reach)
    ax3.set_zlim(-reach, reach)
    ax3.set_box_aspect((1, 1, 1))
    for axis in (ax3.xaxis, ax3.yaxis, ax3.zaxis):  # the default ~9 ticks of 4-digit mm overlap on the depth axis
        axis.set_major_locator(MaxNLocator(5))
    ax3.view_init(elev=10, azim=-70)
    ax3.set_xlabel("x (mm)")
    ax3.set_ylabel("depth z (mm)")
    ax3.set_zlabel("up -y (mm)")
