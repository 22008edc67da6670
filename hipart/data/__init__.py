"""Loaders for real data (SMPL, Pose2Mesh Human3.6M, VideoPose3D, 3DPW) and, later, the hipart dataset."""
