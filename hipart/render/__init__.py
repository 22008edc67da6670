"""Images of the default capture: the dataset's rows rendered through the same body, motion and cameras.

- :mod:`hipart.render.dataset`: ``render_dataset`` (``hipart data render``) and ``ImageSet`` (reading them back).
- :mod:`hipart.render.frames`: re-posing the full mesh for dataset rows, clothes, the lab, a stool when seated.
- :mod:`hipart.render.offscreen`: the VTK backend with hipart's exact pinhole camera (needs the images extra).
- :mod:`hipart.render.store`: one mp4 or JPEG-zip file per (split, subject, action, subaction, camera).
- :mod:`hipart.render.jobs`: shards (``--shard i/N``) and per-unit records for resuming.
"""
