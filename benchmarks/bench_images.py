"""Rendered and detected images per second on this machine (default capture, real camera size).

    python benchmarks/bench_images.py [--data data/default-tiny] [--images 24]

Prints: render (full pipeline: re-pose, draw, box) and BlazePose detection, images per second, single process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hipart.data.dataset import load_manifest
from hipart.detect.blazepose import BlazePose
from hipart.render.dataset import UnitRenderer, plan_units


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="data/default-tiny")
    parser.add_argument("--images", type=int, default=24)
    args = parser.parse_args()
    units = plan_units(args.data, "test")
    worker = UnitRenderer(load_manifest(args.data))
    worker.images(units[0])  # warm-up: OpenGL context, scene background, body model
    images, start = [], time.perf_counter()
    for unit in units[1:]:
        images += worker.images(unit)[0]
        if len(images) >= args.images:
            break
    render_s = time.perf_counter() - start
    detector = BlazePose()
    detector.detect(images[:1])
    start = time.perf_counter()
    det = detector.detect(images)
    detect_s = time.perf_counter() - start
    h, w = images[0].shape[:2]
    print(f"render: {len(images) / render_s:.1f} images/s ({w}x{h}, {len(images)} images, 1 process)")
    print(f"detect: {len(images) / detect_s:.1f} images/s (BlazePose full, still-image mode; "
          f"{int(np.sum(det.detected))}/{len(images)} with a person)")


if __name__ == "__main__":
    main()
