"""What a rendered person looks like: clothing regions on the Anny mesh and a wardrobe per synthetic subject.

Regions come from Anny's own UV body-part segmentation (``anny/data/segmentation``: head, hands, feet, body)
refined by the skinning weights (which bone moves a face most): legs and the pelvis up to the waist wear trousers,
the torso and upper arms a shirt, the forearms a shirt or skin (short sleeves), feet shoes, the top and back of
the head hair, the rest skin. Labels are per face of the mesh, fixed for the topology; colours are per subject,
drawn from the dataset seed, so a subject wears the same clothes in every action and camera.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from anny.paths import get_anny_root_dir
from PIL import Image

from hipart.body.anny_body import AnnyBody
from hipart.errors import HipartError

REGIONS = ("skin", "hair", "shirt", "trousers", "shoes", "sleeve")  # "sleeve": the forearm, shirt or skin
SKIN, HAIR, SHIRT, TROUSERS, SHOES, SLEEVE = range(len(REGIONS))

# Colours in linear-ish sRGB [0, 1]; each subject draws one of each, shirts and trousers kept apart.
SHIRTS = ((0.13, 0.18, 0.36), (0.58, 0.12, 0.12), (0.86, 0.86, 0.83), (0.47, 0.48, 0.50), (0.20, 0.38, 0.24),
          (0.10, 0.10, 0.11), (0.45, 0.60, 0.80), (0.76, 0.60, 0.20), (0.40, 0.22, 0.45), (0.85, 0.45, 0.30))
TROUSERS_COLOURS = ((0.16, 0.23, 0.38), (0.07, 0.07, 0.08), (0.60, 0.52, 0.38), (0.33, 0.33, 0.35),
                    (0.30, 0.22, 0.15), (0.25, 0.32, 0.48))
SHOES_COLOURS = ((0.88, 0.88, 0.86), (0.07, 0.07, 0.07), (0.12, 0.14, 0.25), (0.45, 0.45, 0.47), (0.60, 0.10, 0.10))
HAIR_COLOURS = ((0.05, 0.04, 0.04), (0.18, 0.11, 0.07), (0.35, 0.22, 0.12), (0.70, 0.56, 0.33), (0.55, 0.53, 0.50))
SKIN_LIGHT, SKIN_DARK = np.array([0.93, 0.75, 0.63]), np.array([0.34, 0.22, 0.15])

SEGMENTATION = Path("data") / "segmentation" / "body_parts_segmentation"
WAIST = 0.8  # the trousers' waist between the root (0) and the spine04 bone head (1), rest pose
HAIRLINE = 0.55  # hair above this fraction of the way from the head bone head to the top of the skull


@dataclass(frozen=True)
class Wardrobe:
    """One subject's colours, (3,) floats in [0, 1] each."""

    skin: np.ndarray
    hair: np.ndarray
    shirt: np.ndarray
    trousers: np.ndarray
    shoes: np.ndarray
    long_sleeves: bool

    def region_colours(self) -> np.ndarray:
        """(len(REGIONS), 3) colours indexed by region label."""
        sleeve = self.shirt if self.long_sleeves else self.skin
        return np.stack([self.skin, self.hair, self.shirt, self.trousers, self.shoes, sleeve])


def draw_wardrobe(seed: int, subject: str) -> Wardrobe:
    """A subject's clothes and skin, reproducible from the dataset seed and the subject's name."""
    number = int(subject.lstrip("S")) if subject.lstrip("S").isdigit() else sum(subject.encode())
    rng = np.random.default_rng([seed, number, 0x1A6E])  # 0x1A6E: keeps this stream apart from the motion's
    shirt = int(rng.integers(len(SHIRTS)))
    trousers = int(rng.integers(len(TROUSERS_COLOURS)))
    while np.abs(np.subtract(SHIRTS[shirt], TROUSERS_COLOURS[trousers])).sum() < 0.35:  # no one-colour suits
        trousers = int(rng.integers(len(TROUSERS_COLOURS)))
    tone = rng.uniform(0.0, 1.0)
    return Wardrobe(skin=(1 - tone) * SKIN_LIGHT + tone * SKIN_DARK,
                    hair=np.array(HAIR_COLOURS[int(rng.integers(len(HAIR_COLOURS)))]),
                    shirt=np.array(SHIRTS[shirt]), trousers=np.array(TROUSERS_COLOURS[trousers]),
                    shoes=np.array(SHOES_COLOURS[int(rng.integers(len(SHOES_COLOURS)))]),
                    long_sleeves=bool(rng.uniform() < 0.4))


def uv_segmentation(body: AnnyBody) -> np.ndarray:
    """Anny's body-part name of every face (F,), read from its UV segmentation image at the face's UV centre."""
    root = Path(get_anny_root_dir()) / SEGMENTATION
    try:
        image = np.asarray(Image.open(root.with_suffix(".png")).convert("RGB"))
        colours = yaml.safe_load(root.with_suffix(".yaml").read_text())["colors"]
    except (OSError, KeyError, yaml.YAMLError) as exc:
        raise HipartError(f"{root}: Anny's body-part segmentation is unreadable ({exc}); reinstall anny") from None
    model = body.model
    uv = model.texture_coordinates[model.face_texture_coordinate_indices].mean(dim=1).cpu().numpy()
    h, w = image.shape[:2]
    col = np.clip(np.round(uv[:, 0] * w).astype(int), 0, w - 1)
    row = np.clip(np.round((1 - uv[:, 1]) * h).astype(int), 0, h - 1)
    face_rgb = image[row, col]
    names = np.full(len(face_rgb), "body", dtype=object)
    for name, rgb in colours.items():
        names[(face_rgb == np.asarray(rgb)).all(axis=1)] = name
    return names


def face_regions(body: AnnyBody) -> np.ndarray:
    """Clothing region label (index into REGIONS) of every face of the body mesh, (F,) int8."""
    if not np.array_equal(body.model.faces.cpu().numpy(), body.faces):
        raise HipartError("the Anny model's faces differ from the body's triangles; the clothing regions need them equal")
    part = uv_segmentation(body)
    rest = body.rest_model(None)
    vertices = rest["vertices"].numpy()
    heads = rest["bone_heads"].numpy()
    idx = body.model.vertex_bone_indices.long().cpu().numpy()
    wts = body.model.vertex_bone_weights.cpu().numpy()
    faces = body.faces
    # The bone that moves a face most: skinning weights of its three vertices summed per bone.
    face_bone = np.empty(len(faces), dtype=np.int64)
    acc = np.zeros((len(faces), body.num_bones))
    for corner in range(3):
        np.add.at(acc, (np.repeat(np.arange(len(faces)), idx.shape[1]), idx[faces[:, corner]].reshape(-1)),
                  wts[faces[:, corner]].reshape(-1))
    face_bone[:] = acc.argmax(axis=1)
    bone = np.array(body.bone_labels, dtype=object)[face_bone]
    centre = vertices[faces].mean(axis=1)
    z_root, z_spine = heads[body.bone("root"), 2], heads[body.bone("spine04"), 2]
    waist = z_root + WAIST * (z_spine - z_root)
    neck_base = heads[body.bone("neck01"), 2]
    head, top = heads[body.bone("head")], vertices[:, 2].max()
    hairline = head[2] + HAIRLINE * (top - head[2])

    starts = lambda *prefixes: np.array([str(b).startswith(prefixes) for b in bone])  # noqa: E731
    labels = np.full(len(faces), SHIRT, dtype=np.int8)
    labels[starts("upperleg", "lowerleg")] = TROUSERS
    labels[starts("root", "pelvis", "spine") & (centre[:, 2] < waist)] = TROUSERS
    labels[starts("lowerarm")] = SLEEVE
    labels[starts("wrist", "finger", "metacarpal")] = SKIN
    labels[starts("neck", "head") & (centre[:, 2] > neck_base)] = SKIN
    labels[starts("foot", "toe")] = SHOES
    is_head = part == "head"
    labels[is_head] = SKIN
    # Hair: the top of the skull, and the back of the head down to the ears.
    back = centre[:, 1] > head[1] + 0.35 * (top - head[2])
    labels[is_head & ((centre[:, 2] > hairline) | (back & (centre[:, 2] > head[2] + 0.15 * (top - head[2]))))] = HAIR
    labels[np.isin(part, ["hand.L", "hand.R"])] = SKIN
    labels[np.isin(part, ["foot.L", "foot.R"])] = SHOES
    labels[np.isin(part, ["eye_cavity.L", "eye_cavity.R", "mouth_cavity", "tongue"])] = SKIN
    return labels


def face_colours(regions: np.ndarray, wardrobe: Wardrobe) -> np.ndarray:
    """(F, 3) uint8 colour of every face for one subject."""
    return np.round(wardrobe.region_colours()[regions] * 255).astype(np.uint8)
