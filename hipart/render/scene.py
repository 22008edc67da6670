"""The lab around the person: floor, walls, furniture, lights, and a soft contact shadow, as plain arrays.

Everything is in world millimetres (z up, the floor at z = 0) around the capture centre of a subject's cameras,
as triangles with one colour per face, so that the renderer backend only has to hand arrays over. The room is
large enough for the four Human3.6M cameras (about 2 m to the sides and 4.5 to 5.5 m in front and behind the
centre) to stand inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ROOM_X = (-4600.0, 4600.0)  # mm from the capture centre
ROOM_Y = (-6600.0, 6300.0)
ROOM_HEIGHT = 3600.0
TILE = 600.0  # floor carpet tiles
PANEL = 1200.0  # wall panels
FLOOR = (0.47, 0.47, 0.50)
WALL = (0.74, 0.75, 0.72)
BASEBOARD = (0.22, 0.22, 0.24)
SHADOW_RADIUS = 420.0  # mm, the contact shadow under the body
SHADOW_DARKNESS = 0.55  # opacity at its centre


@dataclass(frozen=True)
class SceneMesh:
    """Triangles (F, 3) over points (P, 3) mm with a colour per face (F, 3) uint8."""

    points: np.ndarray
    faces: np.ndarray
    colours: np.ndarray


@dataclass(frozen=True)
class Light:
    position: tuple[float, float, float]  # mm, world
    focal_point: tuple[float, float, float]
    intensity: float


@dataclass(frozen=True)
class Scene:
    meshes: tuple[SceneMesh, ...]
    lights: tuple[Light, ...]
    ambient: float  # the share of light every surface gets regardless of the lights


def _rgb(c: tuple[float, float, float] | np.ndarray) -> np.ndarray:
    return np.round(np.clip(np.asarray(c), 0, 1) * 255).astype(np.uint8)


def quad_grid(origin: np.ndarray, u: np.ndarray, v: np.ndarray, nu: int, nv: int, colour_of) -> SceneMesh:
    """A rectangle origin + [0, 1]u + [0, 1]v split into nu x nv cells, two triangles each, coloured per cell by
    ``colour_of(i, j)``; faces wind so that u x v is their front."""
    i, j = np.meshgrid(np.arange(nu + 1), np.arange(nv + 1), indexing="ij")
    points = origin + (i[..., None] / nu) * u + (j[..., None] / nv) * v
    idx = np.arange((nu + 1) * (nv + 1)).reshape(nu + 1, nv + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    cell = np.array([_rgb(colour_of(ci, cj)) for ci in range(nu) for cj in range(nv)])
    return SceneMesh(points.reshape(-1, 3), faces, np.concatenate([cell, cell]))


def box(lo: np.ndarray, hi: np.ndarray, colour: tuple[float, float, float]) -> SceneMesh:
    """An axis-aligned box (outward faces), one colour, the top slightly lighter than the sides."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]  # x-, x+, y-, y+, z-, z+
    faces = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))])
    colours = np.array([_rgb(np.asarray(colour) * (1.15 if k == 5 else 1.0)) for k in range(6) for _ in range(2)])
    return SceneMesh(corners, faces, colours)


def lab_scene(centre: np.ndarray, seed: int = 0) -> Scene:
    """The room around ``centre`` (mm, world): tiled carpet, panelled walls with baseboards, a few cabinets and
    desks along the walls, ceiling lights. ``seed`` varies only the tiles' and panels' shading."""
    rng = np.random.default_rng([seed, 0x1AB])
    c = np.array([centre[0], centre[1], 0.0])
    x0, x1 = ROOM_X
    y0, y1 = ROOM_Y
    nx, ny = int(round((x1 - x0) / TILE)), int(round((y1 - y0) / TILE))
    tile_shade = 1 + rng.uniform(-0.03, 0.03, (nx, ny))
    meshes = [quad_grid(c + [x0, y0, 0], np.array([x1 - x0, 0, 0]), np.array([0, y1 - y0, 0]), nx, ny,
                        lambda i, j: np.asarray(FLOOR) * tile_shade[i, j])]
    # Walls face the room: (origin, along-wall vector, length).
    walls = [(c + [x0, y1, 0], np.array([1.0, 0, 0]), x1 - x0), (c + [x1, y0, 0], np.array([0, 1.0, 0]), y1 - y0),
             (c + [x1, y0, 0], np.array([-1.0, 0, 0]), x1 - x0), (c + [x0, y1, 0], np.array([0, -1.0, 0]), y1 - y0)]
    up = np.array([0, 0, ROOM_HEIGHT])
    for k, (origin, along, length) in enumerate(walls):
        n = max(1, int(round(length / PANEL)))
        shade = 1 + rng.uniform(-0.03, 0.03, n)
        tint = np.asarray(WALL) * (0.96 if k % 2 else 1.0)
        meshes.append(quad_grid(origin, along * length, up, n, 1, lambda i, j: tint * shade[i]))
        inward = np.cross(np.array([0, 0, 1.0]), along)  # the room side of the wall
        a, b = origin + inward * 1, origin + along * length + inward * 25 + [0, 0, 120]
        meshes.append(box(np.minimum(a, b), np.maximum(a, b), BASEBOARD))
    meshes.append(quad_grid(c + [x0, y0, ROOM_HEIGHT], np.array([0, y1 - y0, 0]), np.array([x1 - x0, 0, 0]), 1, 1,
                            lambda i, j: (1.0, 1.0, 1.0)))  # ceiling, facing down: lit by the ambient share only
    # Furniture against the walls, clear of the cameras' views of the person.
    furniture = [((x0 + 50, -2400, 0), (x0 + 650, -800, 750), (0.36, 0.30, 0.25)),  # desk, left wall
                 ((x0 + 50, 1200, 0), (x0 + 500, 2600, 1900), (0.55, 0.57, 0.60)),  # cabinet
                 ((x1 - 650, -1800, 0), (x1 - 50, -300, 750), (0.36, 0.30, 0.25)),  # desk, right wall
                 ((x1 - 500, 1500, 0), (x1 - 50, 2300, 1200), (0.25, 0.27, 0.32)),  # rack
                 ((-1500, y0 + 50, 0), (0, y0 + 600, 900), (0.55, 0.57, 0.60)),  # cabinet, back wall
                 ((800, y1 - 600, 0), (2200, y1 - 50, 750), (0.36, 0.30, 0.25))]  # desk, front wall
    for lo, hi, colour in furniture:
        meshes.append(box(c + lo, c + hi, colour))
    target = tuple(c + [0, 0, 900])
    lights = (Light(tuple(c + [1500, 2500, ROOM_HEIGHT - 200]), target, 0.55),
              Light(tuple(c + [-1800, -2500, ROOM_HEIGHT - 200]), target, 0.40),
              Light(tuple(c + [0, -200, ROOM_HEIGHT - 100]), tuple(c), 0.25))
    return Scene(tuple(meshes), lights, ambient=0.32)


def contact_shadow(vertices: np.ndarray, rings: int = 6, segments: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A soft dark disc on the floor under the body: points (P, 3) mm just above z = 0, triangles (F, 3) and
    per-point opacity (P,) in [0, 1], darkest under the body's centre and fading with its height above the floor."""
    low = vertices[vertices[:, 2] <= np.percentile(vertices[:, 2], 20)]
    centre = low[:, :2].mean(axis=0)
    lift = float(np.clip(vertices[:, 2].min() / 300.0, 0, 1))  # a jump or a raised foot fades the shadow
    radii = np.linspace(0, 1, rings + 1)
    angles = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    spread = np.ptp(low[:, :2], axis=0) / 2 + 150.0
    rx, ry = np.maximum(spread, SHADOW_RADIUS * 0.5)
    pts = [[centre[0], centre[1], 1.0]]
    alpha = [SHADOW_DARKNESS * (1 - lift)]
    for r in radii[1:]:
        for a in angles:
            pts.append([centre[0] + r * rx * np.cos(a), centre[1] + r * ry * np.sin(a), 1.0])
            alpha.append(SHADOW_DARKNESS * (1 - lift) * (1 - r) ** 1.5)
    faces = []
    for k in range(segments):  # the centre fan, then the rings
        faces.append([0, 1 + k, 1 + (k + 1) % segments])
    for ring in range(rings - 1):
        base, nxt = 1 + ring * segments, 1 + (ring + 1) * segments
        for k in range(segments):
            k1 = (k + 1) % segments
            faces += [[base + k, nxt + k, nxt + k1], [base + k, nxt + k1, base + k1]]
    return np.asarray(pts), np.asarray(faces), np.asarray(alpha)


STOOL = (0.24, 0.24, 0.27)  # a dark grey stool, as the lab's chair
STOOL_SIDE = 420.0  # mm


def stool(centre_xy: np.ndarray, yaw: float, height: float) -> SceneMesh:
    """A square stool (side STOOL_SIDE mm) standing on the floor with its top at ``height`` mm, turned by ``yaw``
    (radians about z) like the person sitting on it."""
    plain = box(np.array([-STOOL_SIDE / 2, -STOOL_SIDE / 2, 0.0]), np.array([STOOL_SIDE / 2, STOOL_SIDE / 2, height]),
                STOOL)
    c, s = np.cos(yaw), np.sin(yaw)
    R = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])
    return SceneMesh(plain.points @ R.T + [centre_xy[0], centre_xy[1], 0.0], plain.faces, plain.colours)
