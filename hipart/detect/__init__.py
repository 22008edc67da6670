"""2D detection on images: a detector interface, BlazePose built in, and the adapter to the 17 H36M joints.

- :mod:`hipart.detect.base`: ``Detector.detect(images) -> Detections`` (keypoints px, confidence, detected).
- :mod:`hipart.detect.blazepose`: MediaPipe Pose 0.10.21 (bundled full model; needs the images extra).
- :mod:`hipart.detect.adapter`: ``JointAdapter.fit/apply/save/load``, detector keypoints -> 17 H36M joints.
- :mod:`hipart.detect.packaged`: the packaged adapter (``hipart detect --package-adapter``) and ``choose_adapter``.
- :mod:`hipart.detect.cache`: ``CachedDetector``, detections keyed by the images' and detector's hashes.
- :mod:`hipart.detect.dataset`: ``detect_dataset`` (``hipart detect --data``) and ``load_row_detections``.
- :mod:`hipart.detect.videos`: ``detect_videos`` (``hipart detect --videos``) for Human3.6M video folders.

Archives in VideoPose3D's 2D layout are written and read by :mod:`hipart.data.videopose3d`.
"""
