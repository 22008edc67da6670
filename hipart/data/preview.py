"""A contact sheet of the synthetic capture: per action a few frames, the projected mesh silhouette and the 2D
skeleton as one camera sees them, so a person can judge at a glance whether the motion is plausible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hipart.data.synthetic import SyntheticH36M
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.skeleton import H36M

CELL = 256  # pixels per frame cell


def silhouette(uv: np.ndarray, faces: np.ndarray, box: tuple[float, float, float], size: int = CELL) -> np.ndarray:
    """Rasterise projected triangles (pixels) inside a square box (x0, y0, side) to a (size, size) mask."""
    x0, y0, side = box
    pts = (uv - [x0, y0]) * (size / side)
    img = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(img)
    for tri in pts[faces]:
        draw.polygon([tuple(p) for p in tri], fill=255)
    return np.asarray(img)


def preview_sheet(capture: SyntheticH36M, out: str | Path, subject: str = "S1", camera: int = 0,
                  frames_per_action: int = 4, actions: tuple[str, ...] | None = None, subaction: int = 1) -> Path:
    """Write the PNG contact sheet (rows: actions, columns: evenly spaced frames) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if out.suffix.lower() != ".png":
        raise HipartError(f"{out}: the preview is a PNG; give a file name ending in .png")
    actions = tuple(actions or capture.actions)
    unknown = [a for a in actions if a not in capture.actions]
    if unknown:
        raise HipartError(f"unknown action(s) {unknown}; choose from {', '.join(capture.actions)}")
    cams = capture.cameras(subject)
    if not 0 <= camera < len(cams):
        raise HipartError(f"camera index {camera} is out of range; subject {subject} has cameras 0..{len(cams) - 1}")
    if frames_per_action < 1:
        raise HipartError("frames per action must be at least 1")
    cam = cams[camera]
    fig, axes = plt.subplots(len(actions), frames_per_action, squeeze=False,
                             figsize=(1.6 * frames_per_action, 1.6 * len(actions)))
    for row, action in enumerate(actions):
        seq = capture.sequence(subject, action, subaction)
        frames = np.linspace(0, seq.num_frames - 1, frames_per_action).round().astype(int)
        joints = capture.joints_world(seq).numpy()[frames]
        verts = capture.vertices_world(seq, frames).numpy()
        for col, f in enumerate(frames):
            uv_mesh = cam.project(cam.world_to_camera(verts[col]), distort=False)
            uv_joints = cam.project(cam.world_to_camera(joints[col]), distort=False)
            lo, hi = uv_mesh.min(0), uv_mesh.max(0)
            side = float((hi - lo).max() * 1.15)
            centre = (lo + hi) / 2
            box = (float(centre[0] - side / 2), float(centre[1] - side / 2), side)
            ax = axes[row, col]
            ax.imshow(silhouette(uv_mesh, capture.body.faces, box), cmap="gray", vmin=0, vmax=400,
                      extent=(box[0], box[0] + side, box[1] + side, box[1]))
            for p, j in H36M.bones:
                color = "tab:red" if j in H36M.joints_right else "tab:blue" if j in H36M.joints_left else "tab:green"
                ax.plot(uv_joints[[p, j], 0], uv_joints[[p, j], 1], color=color, lw=1.2)
            ax.set_xlim(box[0], box[0] + side)
            ax.set_ylim(box[1] + side, box[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(action, fontsize=7)
            ax.set_title(f"frame {f}", fontsize=6)
    fig.suptitle(f"synthetic default data (Anny), {subject}, camera {cam.id}, subaction {subaction}", fontsize=8)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
