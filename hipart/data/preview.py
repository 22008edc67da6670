"""A contact sheet of the synthetic capture: per action a few frames as one camera sees them, and the axial
rotations over the whole sequence, so a person can judge at a glance whether the motion is plausible.

Each frame shows the shaded mesh with two stripes along every upper arm, forearm, thigh and shank (blue left,
red right; dark on the front of the limb at rest, light on its back; on the forearm: dark on the thumb side) and
the 17-joint skeleton as thin lines. The stripes wind round a limb when it turns about its own axis, which the
skeleton cannot show. The two plots at the end of each row trace those turns (degrees) over the sequence, with
the shown frames marked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hipart.body.anny_body import AnnyBody
from hipart.body.motion import Motion
from hipart.data.synthetic import SyntheticH36M
from hipart.errors import HipartError
from hipart.io import atomic_path
from hipart.skeleton import H36M

CELL = 256  # pixels per frame cell
SKIN = np.array([205, 195, 185], dtype=np.float64)
# Face labels: 1/2 the left/right front stripes, 3/4 the left/right back stripes.
STRIPE_COLOURS = {1: np.array([30, 90, 230], dtype=np.float64), 2: np.array([225, 40, 30], dtype=np.float64),
                  3: np.array([140, 200, 255], dtype=np.float64), 4: np.array([255, 170, 120], dtype=np.float64)}
# Limb segments of the Anny rig: (proximal head, distal head, bones whose vertices belong to it, reference side).
# The reference side is where the stripe runs at rest: the front (-y), or on the forearm the thumb side.
LIMB_SEGMENTS = (("upperarm01", "lowerarm01", ("upperarm01", "upperarm02"), "front"),
                 ("lowerarm01", "wrist", ("lowerarm01", "lowerarm02"), "thumb"),
                 ("upperleg01", "lowerleg01", ("upperleg01", "upperleg02"), "front"),
                 ("lowerleg01", "foot", ("lowerleg01", "lowerleg02"), "front"))
STRIPE_HALF_ANGLE = 25.0  # degrees either side of the reference side (and of its opposite)
# The rotation plots: (title, [(DOF, colour, line style)]).
ROTATION_PLOTS = (
    ("arms: + internal / pronation", [("shoulder_rot_L", "tab:blue", "-"), ("shoulder_rot_R", "tab:red", "-"),
                                      ("forearm_rot_L", "tab:blue", ":"), ("forearm_rot_R", "tab:red", ":")]),
    ("hips (+ internal), trunk (+ left)", [("hip_rot_L", "tab:blue", "-"), ("hip_rot_R", "tab:red", "-"),
                                           ("spine_twist", "tab:green", "-"), ("pelvis_twist", "tab:purple", "-"),
                                           ("neck_twist", "tab:gray", ":")]),
)


def limb_stripes(body: AnnyBody) -> np.ndarray:
    """(F,) per face of the Anny mesh: 0 skin, 1 / 2 on a left / right front stripe, 3 / 4 on a back one.

    Measured on the template at rest; every phenotype shares the topology."""
    rest = body.template_vertices()
    heads = body.rest_model(None)["bone_heads"].numpy()
    skin = body.skinning(None)
    V = body.num_vertices
    pairs = skin.row < V  # the vertices' (vertex, bone) pairs; the weight is the homogeneous rest term
    weight = np.zeros((V, body.num_bones))
    np.add.at(weight, (skin.row[pairs].numpy(), skin.bone[pairs].numpy()), skin.X0[pairs, 3].numpy())
    dominant = weight.argmax(1)
    label = np.zeros(V, dtype=np.int64)
    for side, code in (("L", 1), ("R", 2)):
        h = lambda name: heads[body.bone(f"{name}.{side}")]  # noqa: E731
        for prox, dist, members, ref in LIMB_SEGMENTS:
            axis = h(dist) - h(prox)
            length = np.linalg.norm(axis)
            axis = axis / length
            if ref == "thumb":
                ref_dir = h("metacarpal1") - h("metacarpal4")  # index-side knuckles minus little-side ones
            else:
                ref_dir = np.array([0.0, -1.0, 0.0])
            ref_dir = ref_dir - (ref_dir @ axis) * axis
            ref_dir /= np.linalg.norm(ref_dir)
            rel = rest - h(prox)
            along = rel @ axis
            radial = rel - along[:, None] * axis
            radial /= np.maximum(np.linalg.norm(radial, axis=1, keepdims=True), 1e-9)
            near = np.isin(dominant, [body.bone(f"{m}.{side}") for m in members])
            inside = (along > 0.08 * length) & (along < 0.92 * length)
            cos = radial @ ref_dir
            width = np.cos(np.radians(STRIPE_HALF_ANGLE))
            label[near & inside & (cos > width)] = code
            label[near & inside & (cos < -width)] = code + 2
    per_face = label[body.faces]
    return np.where((per_face == per_face[:, :1]).all(1), per_face[:, 0], 0)


def shaded(uv: np.ndarray, points_cam: np.ndarray, faces: np.ndarray, face_label: np.ndarray,
           box: tuple[float, float, float], size: int = CELL) -> np.ndarray:
    """Paint the mesh (pixels ``uv`` (V, 2), camera-space points (V, 3) mm) inside a square box (x0, y0, side)
    far to near, lit from the camera, only the faces that face it; faces labelled 1-4 (``limb_stripes``) take
    the stripe colours. Returns a (size, size, 3) uint8 image."""
    x0, y0, side = box
    pts = (uv - [x0, y0]) * (size / side)
    tri = points_cam[faces]  # (F, 3, 3)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    centre = tri.mean(1)
    facing = -(normal * centre).sum(1)  # > 0: the outward normal points at the camera
    keep = np.flatnonzero(facing > 0)
    light = facing[keep] / (np.linalg.norm(normal[keep], axis=1) * np.linalg.norm(centre[keep], axis=1) + 1e-12)
    base = np.tile(SKIN, (len(keep), 1))
    for code, colour in STRIPE_COLOURS.items():
        base[face_label[keep] == code] = colour
    colour = (base * (0.35 + 0.65 * light[:, None])).clip(0, 255).astype(np.uint8)
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i in np.argsort(-centre[keep, 2], kind="stable"):  # far to near
        draw.polygon([tuple(p) for p in pts[faces[keep[i]]]], fill=tuple(int(c) for c in colour[i]))
    return np.asarray(img)


def plot_rotations(axes, motion: Motion, frames: np.ndarray) -> None:
    """The axial-rotation DOFs of a motion over time (s) on the given matplotlib axes (one per ROTATION_PLOTS)."""
    t = np.arange(motion.num_frames) / motion.fps
    for ax, (title, lines) in zip(axes, ROTATION_PLOTS):
        for name, colour, style in lines:
            ax.plot(t, motion.angles[name], color=colour, ls=style, lw=0.8, label=name)
        for f in frames:
            ax.axvline(t[f], color="black", lw=0.5, alpha=0.4)
        ax.axhline(0, color="black", lw=0.4)
        ax.set_ylim(-90, 90)
        ax.set_yticks([-80, -40, 0, 40, 80])
        ax.tick_params(labelsize=5, length=2, pad=1)
        ax.set_title(title, fontsize=6, pad=2)


def preview_sheet(capture: SyntheticH36M, out: str | Path, subject: str = "S1", camera: int = 0,
                  frames_per_action: int = 4, actions: tuple[str, ...] | None = None, subaction: int = 1) -> Path:
    """Write the PNG contact sheet (rows: actions; columns: evenly spaced frames, then the rotation plots) and
    return its path."""
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
    body = capture.body
    stripes = limb_stripes(body)
    widths = [1.0] * frames_per_action + [1.7] * len(ROTATION_PLOTS)
    fig, axes = plt.subplots(len(actions), len(widths), squeeze=False, gridspec_kw={"width_ratios": widths},
                             figsize=(2.0 * sum(widths), 2.0 * len(actions)))
    for row, action in enumerate(actions):
        seq = capture.sequence(subject, action, subaction)
        frames = np.linspace(0, seq.num_frames - 1, frames_per_action).round().astype(int)
        joints = capture.joints_world(seq).numpy()[frames]
        verts = capture.vertices_world(seq, frames).numpy()
        for col, f in enumerate(frames):
            points_cam = cam.world_to_camera(verts[col])
            uv_mesh = cam.project(points_cam, distort=False)
            uv_joints = cam.project(cam.world_to_camera(joints[col]), distort=False)
            lo, hi = uv_mesh.min(0), uv_mesh.max(0)
            side = float((hi - lo).max() * 1.1)
            centre = (lo + hi) / 2
            box = (float(centre[0] - side / 2), float(centre[1] - side / 2), side)
            ax = axes[row, col]
            ax.imshow(shaded(uv_mesh, points_cam, body.faces, stripes, box),
                      extent=(box[0], box[0] + side, box[1] + side, box[1]))
            for p, j in H36M.bones:
                color = "tab:red" if j in H36M.joints_right else "tab:blue" if j in H36M.joints_left else "tab:green"
                ax.plot(uv_joints[[p, j], 0], uv_joints[[p, j], 1], color=color, lw=0.6, alpha=0.6)
            ax.set_xlim(box[0], box[0] + side)
            ax.set_ylim(box[1] + side, box[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(action, fontsize=8)
            ax.set_title(f"frame {f} ({f / seq.motion.fps:.1f} s)", fontsize=6, pad=2)
        plot_rotations(axes[row, frames_per_action:], seq.motion, frames)
    for ax in axes[0, frames_per_action:]:
        ax.legend(fontsize=4.5, ncol=2, loc="upper right", handlelength=1.5, borderpad=0.3, labelspacing=0.2)
    for ax in axes[-1, frames_per_action:]:
        ax.set_xlabel("time (s)", fontsize=6)
    fig.suptitle(f"synthetic default data (Anny), {subject}, camera {cam.id}, subaction {subaction}\nlimb stripes "
                 "(blue left, red right; dark front, light back at rest; forearm: dark on the thumb side) wind round "
                 "a limb as it turns about its axis; angles in degrees", fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
