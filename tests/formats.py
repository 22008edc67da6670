"""Writers of small fixture files in the exact published layouts (SMPL pickle, Pose2Mesh, VideoPose3D, 3DPW).

The real files are licensed; these reproduce their structure (keys, nesting, dtypes, Python-2-era module paths
inside pickles, chumpy objects) with small made-up contents.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse

from hipart.camera import load_h36m_cameras

SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
L_ELBOW, L_WRIST, L_HAND = 18, 20, 22


def make_smpl_arrays(num_vertices: int = 240, seed: int = 0, pose_correctives: bool = True) -> dict[str, np.ndarray]:
    """Plausible SMPL arrays: vertex v skinned to joint v % 24, every third round of 24 blended with the parent."""
    rng = np.random.default_rng(seed)
    V = num_vertices
    v_template = rng.normal(scale=0.3, size=(V, 3))
    owner = np.arange(V) % 24
    weights = np.zeros((V, 24))
    weights[np.arange(V), owner] = 1.0
    blend = ((np.arange(V) // 24) % 3 == 0) & (owner > 0)
    parent_of = np.array([max(p, 0) for p in SMPL_PARENTS])
    weights[blend, owner[blend]] = 0.7
    weights[blend, parent_of[owner[blend]]] += 0.3
    rows, cols = [], []
    for j in range(24):
        members = np.flatnonzero(owner == j)[:4]
        rows += [j] * len(members)
        cols += list(members)
    J_regressor = scipy.sparse.csc_matrix((np.full(len(rows), 0.25), (rows, cols)), shape=(24, V))
    shapedirs = rng.normal(scale=0.01, size=(V, 3, 10))
    posedirs = np.zeros((V, 3, 207))
    if pose_correctives:
        for j in range(1, 24):  # joint j's features only move the vertices it skins
            skinned = weights[:, j] > 0
            posedirs[skinned, :, 9 * (j - 1):9 * j] = rng.normal(scale=0.01, size=(skinned.sum(), 3, 9))
    kintree = np.array([[4294967295] + SMPL_PARENTS[1:], list(range(24))], dtype=np.int64)
    faces = np.stack([np.arange(V - 2), np.arange(1, V - 1), np.arange(2, V)], axis=1).astype(np.uint32)
    return {"v_template": v_template, "shapedirs": shapedirs, "posedirs": posedirs, "J_regressor": J_regressor,
            "weights": weights, "kintree_table": kintree, "f": faces, "bs_style": "lbs", "bs_type": "lrotmin"}


def write_smpl_pickle(path: Path, arrays: dict, chumpy: bool = True) -> Path:
    """Pickle like the official SMPL files: protocol 2, chumpy Ch objects, Python 2 module paths."""
    fake = {}
    if chumpy:
        ch_mod = types.ModuleType("chumpy.ch")

        class Ch:  # the published files store chumpy.ch.Ch objects whose state holds the array in 'x'
            pass

        Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
        ch_mod.Ch = Ch
        fake = {"chumpy": types.ModuleType("chumpy"), "chumpy.ch": ch_mod}
        sys.modules.update(fake)
    try:
        payload = {}
        for key, value in arrays.items():
            if chumpy and key in ("v_template", "shapedirs", "posedirs", "weights"):
                obj = fake["chumpy.ch"].Ch()
                obj.__dict__.update({"x": value, "_dirty_vars": set()})
                payload[key] = obj
            else:
                payload[key] = value
        data = pickle.dumps(payload, protocol=2)
    finally:
        for name in fake:
            sys.modules.pop(name, None)
    # Python 2 era module paths, as in the published files.
    data = data.replace(b"scipy.sparse._csc\n", b"scipy.sparse.csc\n").replace(b"numpy._core.multiarray\n",
                                                                              b"numpy.core.multiarray\n")
    path.write_bytes(data)
    return path


def h36m_world_skeleton(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 17, 3) mm in Human3.6M world coordinates (z up), a standing person near the origin."""
    base = np.array([[0, 0, 900], [-130, 0, 900], [-130, 0, 480], [-130, 0, 60], [130, 0, 900], [130, 0, 480],
                     [130, 0, 60], [0, 0, 1130], [0, 0, 1380], [0, -50, 1480], [0, 0, 1580], [170, 0, 1350],
                     [170, 0, 1080], [170, 0, 830], [-170, 0, 1350], [-170, 0, 1080], [-170, 0, 830]], float)
    return base + rng.normal(scale=20, size=(n, 17, 3)) + rng.normal(scale=300, size=(n, 1, 3)) * [1, 1, 0]


def write_pose2mesh_annotations(root: Path, subjects=(1, 9), actions=(2, 3), subactions=(1, 2), num_frames=12,
                                seed=0) -> Path:
    """Pose2Mesh's per-subject annotation JSONs; SMPL fits only every 5th frame, as published."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    calib = load_h36m_cameras()
    for s in subjects:
        cams = calib[f"S{s}"]
        camera = {str(i + 1): {"R": c.R.tolist(), "t": c.t.tolist(), "f": c.f.tolist(), "c": c.c.tolist()}
                  for i, c in enumerate(cams)}
        images, annotations, joints, smpl = [], [], {}, {}
        for a in actions:
            for sa in subactions:
                world = h36m_world_skeleton(rng, num_frames)
                for f in range(num_frames):
                    joints.setdefault(str(a), {}).setdefault(str(sa), {})[str(f)] = world[f].tolist()
                    if f % 5 == 0:
                        smpl.setdefault(str(a), {}).setdefault(str(sa), {})[str(f)] = {
                            "pose": rng.normal(scale=0.2, size=72).tolist(), "shape": rng.normal(size=10).tolist(),
                            "trans": [rng.normal(scale=0.3, size=3).tolist()], "fitted_3d_pose": world[f].tolist()}
                    for ci, c in enumerate(cams, start=1):
                        iid = len(images)
                        name = f"s_{s:02d}_act_{a:02d}_subact_{sa:02d}_ca_{ci:02d}/s_{s:02d}_act_{a:02d}_subact_{sa:02d}_ca_{ci:02d}_{f + 1:06d}.jpg"
                        images.append({"id": iid, "file_name": name, "width": c.width, "height": c.height,
                                       "subject": s, "action_name": "x", "action_idx": a, "subaction_idx": sa,
                                       "cam_idx": ci, "frame_idx": f})
                        annotations.append({"id": iid, "image_id": iid, "keypoints_vis": [True] * 17,
                                            "bbox": [300.0, 200.0, 400.0, 600.0]})
        files = {"data": {"images": images, "annotations": annotations}, "camera": camera, "joint_3d": joints,
                 "smpl_param": smpl}
        for kind, obj in files.items():
            (root / f"Human36M_subject{s}_{kind}.json").write_text(json.dumps(obj))
    return root


def write_videopose3d(folder: Path, subjects=("S1", "S9"), actions=("Walking", "Eating 2"), num_frames=20, seed=0):
    """data_3d_h36m.npz and data_2d_h36m_cpn_ft_h36m_dbb.npz as VideoPose3D's prepare_data_h36m.py writes them."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pos3d = {s: {a: rng.normal(size=(num_frames, 32, 3)).astype(np.float32) for a in actions} for s in subjects}
    pos2d = {s: {a: [rng.uniform(0, 1000, size=(num_frames - 1, 17, 2)).astype(np.float32) for _ in range(4)]
                 for a in actions} for s in subjects}
    meta = {"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    p3, p2 = folder / "data_3d_h36m.npz", folder / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    np.savez_compressed(p3, positions_3d=pos3d)
    np.savez_compressed(p2, positions_2d=pos2d, metadata=meta)
    return p3, p2, pos3d, pos2d


def make_3dpw_sequence(name="courtyard_basketball_00", actors=2, num_frames=6, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    N = num_frames
    return {
        "sequence": name,
        "betas": [rng.normal(size=10) for _ in range(actors)],
        "betas_clothed": [rng.normal(size=10) for _ in range(actors)],
        "v_template_clothed": [rng.normal(size=(20, 3)) for _ in range(actors)],
        "genders": ["m", "f"][:actors],
        "texture_maps": [np.zeros((4, 4, 3), np.uint8) for _ in range(actors)],
        "poses": [rng.normal(size=(N, 72)) for _ in range(actors)],
        "trans": [rng.normal(size=(N, 3)) for _ in range(actors)],
        "poses_60Hz": [rng.normal(size=(2 * N, 72)) for _ in range(actors)],
        "trans_60Hz": [rng.normal(size=(2 * N, 3)) for _ in range(actors)],
        "poses2d": [rng.uniform(0, 1000, size=(N, 3, 18)) for _ in range(actors)],
        "jointPositions": [rng.normal(size=(N, 72)) for _ in range(actors)],
        "img_frame_ids": np.arange(N),
        "cam_poses": np.tile(np.eye(4), (N, 1, 1)),
        "campose_valid": [np.ones(N, dtype=bool) for _ in range(actors)],
        "cam_intrinsics": np.array([[1961.0, 0, 540.0], [0, 1969.0, 960.0], [0, 0, 1]]),
    }


def write_3dpw_sequence(path: Path, seq: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(seq, protocol=2).replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n"))
    return path


class UnsafeReduce:
    """An object whose unpickling would run a shell command: loaders must refuse it."""

    def __reduce__(self):
        import os

        return (os.system, ("echo should-not-run",))


# ---------------------------------------------------------------- 3DPW evaluation: a person-like SMPL and scenes

# Rest joints (metres) of a person-like stand-in SMPL, SMPL's axes (y up, facing +z, the person's left at +x),
# pelvis at the origin, arms out (T pose) as in SMPL's rest pose.
HUMAN_REST_JOINTS = np.array([
    [0, 0, 0], [0.09, -0.09, 0], [-0.09, -0.09, 0], [0, 0.11, -0.01], [0.11, -0.47, 0], [-0.11, -0.47, 0],
    [0, 0.25, 0], [0.10, -0.88, -0.03], [-0.10, -0.88, -0.03], [0, 0.31, 0.01], [0.12, -0.94, 0.10],
    [-0.12, -0.94, 0.10], [0, 0.52, -0.01], [0.08, 0.43, 0], [-0.08, 0.43, 0], [0, 0.60, 0.03], [0.18, 0.45, 0],
    [-0.18, 0.45, 0], [0.44, 0.45, 0], [-0.44, 0.45, 0], [0.69, 0.45, 0], [-0.69, 0.45, 0], [0.77, 0.45, 0],
    [-0.77, 0.45, 0]])
POINT_OFFSETS = 0.02 * np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]])  # mean 0
HEAD_TOP = np.array([0, 0.12, 0])  # the head-top points sit this far above joint 15 (head)
# H36M joint -> the SMPL joint whose points it is the mean of ("top": the head-top points)
H36M_FROM_HUMAN = (0, 2, 5, 8, 1, 4, 7, 6, 12, 15, "top", 16, 18, 20, 17, 19, 21)
GENDER_SCALE = {"female": 0.93, "male": 1.0, "neutral": 0.97}
SMPL_GENDER_FILES = {"female": "basicModel_f_lbs_10_207_0_v1.0.0.pkl", "male": "basicmodel_m_lbs_10_207_0_v1.0.0.pkl",
                     "neutral": "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"}


def make_human_smpl_arrays(scale: float = 1.0, seed: int = 0) -> dict[str, np.ndarray]:
    """A stand-in SMPL shaped like a person: six points around every joint (their mean is the joint) skinned
    rigidly to it, plus six head-top points on the head; J_regressor = the mean of each joint's points."""
    rng = np.random.default_rng(seed)
    joints = HUMAN_REST_JOINTS * scale
    points = [j + POINT_OFFSETS for j in joints] + [joints[15] + HEAD_TOP * scale + POINT_OFFSETS]
    v_template = np.concatenate(points)
    V = len(v_template)
    owner = np.r_[np.repeat(np.arange(24), len(POINT_OFFSETS)), np.full(len(POINT_OFFSETS), 15)]
    weights = np.zeros((V, 24))
    weights[np.arange(V), owner] = 1.0
    k = len(POINT_OFFSETS)
    rows = np.repeat(np.arange(24), k)
    J_regressor = scipy.sparse.csc_matrix((np.full(24 * k, 1.0 / k), (rows, np.arange(24 * k))), shape=(24, V))
    kintree = np.array([[4294967295] + SMPL_PARENTS[1:], list(range(24))], dtype=np.int64)
    faces = np.stack([np.arange(V - 2), np.arange(1, V - 1), np.arange(2, V)], axis=1).astype(np.uint32)
    return {"v_template": v_template, "shapedirs": rng.normal(scale=0.003, size=(V, 3, 10)),
            "posedirs": np.zeros((V, 3, 207)), "J_regressor": J_regressor, "weights": weights,
            "kintree_table": kintree, "f": faces, "bs_style": "lbs", "bs_type": "lrotmin"}


def human_h36m_regressor(num_vertices: int) -> np.ndarray:
    """(17, V) J_regressor_h36m_correct.npy for the stand-in: each H36M joint the mean of one joint's points."""
    k = len(POINT_OFFSETS)
    reg = np.zeros((17, num_vertices))
    for j, src in enumerate(H36M_FROM_HUMAN):
        first = 24 * k if src == "top" else src * k
        reg[j, first:first + k] = 1.0 / k
    return reg


def write_human_smpl_models(folder: Path) -> dict[str, Path]:
    """Female, male and neutral stand-in SMPL pickles (official names) and J_regressor_h36m_correct.npy."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {g: write_smpl_pickle(folder / name, make_human_smpl_arrays(GENDER_SCALE[g]))
             for g, name in SMPL_GENDER_FILES.items()}
    V = len(make_human_smpl_arrays()["v_template"])
    np.save(folder / "J_regressor_h36m_correct.npy", human_h36m_regressor(V))
    paths["regressor"] = folder / "J_regressor_h36m_correct.npy"
    return paths


# COCO-18 (OpenPose) keypoints of 3DPW's poses2d from the stand-in's SMPL joints (eyes and ears beside the head)
COCO18_FROM_SMPL = ((15, 0), (12, 0), (17, 0), (19, 0), (21, 0), (16, 0), (18, 0), (20, 0), (2, 0), (5, 0), (8, 0),
                    (1, 0), (4, 0), (7, 0), (15, -0.03), (15, 0.03), (15, -0.07), (15, 0.07))


def camera_pose(centre: np.ndarray, yaw: float) -> np.ndarray:
    """4x4 world -> camera (metres) of a camera at ``centre`` in a z-up world looking along +y, turned by ``yaw``
    about its vertical axis (camera y down, as 3DPW's)."""
    R0 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]) @ R0
    M = np.eye(4)
    M[:3, :3], M[:3, 3] = R, -R @ centre
    return M


def make_3dpw_scene_sequence(name: str, size: tuple[int, int], actor_x: tuple[float, ...], genders: tuple[str, ...],
                             smpl_joints, num_frames: int = 6, seed: int = 0) -> dict:
    """A 3DPW sequence pickle's dict of standing actors in a z-up world (metres) filmed by a slowly panning camera
    4.2 m away; ``smpl_joints(gender, betas, poses, trans) -> (N, 24, 3)`` world metres gives jointPositions and
    the COCO-18 poses2d (their projection)."""
    rng = np.random.default_rng(seed)
    N, (w, h) = num_frames, size
    f = float(max(w, h))
    K = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])
    cams = np.stack([camera_pose(np.array([0.04 * k, -4.2, 0.9]), 0.01 * k) for k in range(N)])
    seq = {"sequence": name, "genders": list(genders), "img_frame_ids": np.arange(0, 2 * N, 2),
           "cam_poses": cams, "cam_intrinsics": K, "betas": [], "poses": [], "trans": [], "jointPositions": [],
           "poses2d": [], "campose_valid": [], "betas_clothed": [], "v_template_clothed": [], "texture_maps": [],
           "poses_60Hz": [], "trans_60Hz": []}
    for x, g in zip(actor_x, genders):
        poses = rng.normal(scale=0.05, size=(N, 72))
        poses[:, :3] = [np.pi / 2, 0, 0]  # SMPL's y-up body stood up in the z-up world, facing the camera (-y)
        poses[:, 16 * 3 + 2] -= 1.3  # arms down from the T pose
        poses[:, 17 * 3 + 2] += 1.3
        trans = np.c_[np.full(N, x) + 0.03 * np.arange(N), np.zeros(N), np.full(N, 0.95)]
        betas = rng.normal(scale=0.5, size=10)
        joints = smpl_joints({"m": "male", "f": "female"}[g], betas, poses, trans)
        cam = np.einsum("nij,nkj->nki", cams[:, :3, :3], joints) + cams[:, None, :3, 3]
        xy = cam[..., :2] / cam[..., 2:] * f + K[:2, 2]
        coco = np.stack([xy[:, j] + [dx * f / cam[:, j, 2].mean(), 0] for j, dx in COCO18_FROM_SMPL], axis=1)
        poses2d = np.concatenate([coco, np.full((N, 18, 1), 0.9)], axis=2).transpose(0, 2, 1)
        seq["betas"].append(betas)
        seq["poses"].append(poses)
        seq["trans"].append(trans)
        seq["jointPositions"].append(joints.reshape(N, 72))
        seq["poses2d"].append(poses2d)
        seq["campose_valid"].append(np.ones(N, dtype=bool))
        seq["betas_clothed"].append(betas)
        seq["v_template_clothed"].append(np.zeros((4, 3)))
        seq["texture_maps"].append(np.zeros((2, 2, 3), np.uint8))
        seq["poses_60Hz"].append(np.repeat(poses, 2, axis=0))
        seq["trans_60Hz"].append(np.repeat(trans, 2, axis=0))
    return seq


def write_3dpw_images(root: Path, name: str, images) -> list[Path]:
    """imageFiles/<name>/image_XXXXX.jpg as 3DPW stores them."""
    from PIL import Image

    folder = root / "imageFiles" / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate(images):
        paths.append(folder / f"image_{k:05d}.jpg")
        Image.fromarray(image).save(paths[-1], quality=92)
    return paths
