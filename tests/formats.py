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
