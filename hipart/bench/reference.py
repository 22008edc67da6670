"""Numbers quoted from the HiPART paper's supplement (Human3.6M, CPN detections), for the report's separate,
labelled reference columns. They are never compared with results on the default data as if alike."""

from __future__ import annotations

SOURCE = "HiPART (CVPR 2025) supplement, Human3.6M; quoted, not measured here"

# Table 1: MPJPE (mm) under occlusion. The mask row's header lists 0.4 0.6 0.8 after two unlabelled columns; we
# read them as clean (0), 0.2, 0.4, 0.6, 0.8, which matches the clean value in the crop row.
OCCLUSION = {
    "mask": {"DiffPose": {0.0: 49.7, 0.2: 64.2, 0.4: 83.9, 0.6: 140.3, 0.8: 284.6},
             "HiPART": {0.0: 42.0, 0.2: 53.2, 0.4: 77.5, 0.6: 125.1, 0.8: 269.4}},
    "crop": {"DiffPose": {0.0: 49.7, 0.1: 50.0, 0.2: 50.9, 0.3: 58.5, 0.4: 72.7},
             "HiPART": {0.0: 42.0, 0.1: 42.2, 0.2: 42.8, 0.3: 48.4, 0.4: 61.5}},
}

# Tables 2 and 4: frames per second and MPJPE (mm).
SPEED = [
    {"method": "DiffPose (f=1)", "FPS": 173, "MPJPE": 49.7},
    {"method": "DiffuPose", "FPS": 188, "MPJPE": 49.4},
    {"method": "MixSTE (f=1)", "FPS": 358, "MPJPE": 51.1},
    {"method": "vanilla spatial transformer w/ HiPART (f=1)", "FPS": 396, "MPJPE": 42.0},
    {"method": "MixSTE (f=81) w/ HiPART", "FPS": 681, "MPJPE": 39.3},
    {"method": "MixSTE (f=243)", "FPS": 1055, "MPJPE": 40.9},
    {"method": "DiffPose (f=243)", "FPS": 671, "MPJPE": 36.9},
    {"method": "MixSTE (f=243) w/ HiPART", "FPS": 577, "MPJPE": 36.7},
]

# Table 3: (L1, L2, D1, D2) -> parameters (M), FLOPs (G), MPJPE (mm).
ABLATION = {
    (2, 6, 128, 128): (1.8, 1.41, 44.1),
    (3, 8, 128, 128): (2.1, 1.82, 43.5),
    (4, 12, 128, 128): (2.4, 2.24, 42.0),
    (5, 16, 128, 128): (2.7, 2.65, 42.2),
    (4, 12, 96, 96): (2.0, 1.77, 43.9),
    (4, 12, 256, 256): (3.6, 4.14, 42.5),
}

# Text beside Fig. 4: GT dense levels improve a vanilla spatial transformer by 20.1 mm (toy experiment).
TOY_EXPERIMENT_GAIN_MM = 20.1
