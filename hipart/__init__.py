"""HiPART toolkit: hierarchical 2D pose densification and lifting for occluded 3D human pose estimation."""

__version__ = "0.1.0"
