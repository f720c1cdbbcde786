# Copyright 2026 The cleanpose_ros Authors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Ray-cast RGB-D frames with ground truth using open3d's RaycastingScene (CPU).

One ray per pixel through the pixel position (u, v) with direction
``((u - cx) / fx, (v - cy) / fy, 1)`` in the camera frame, so the hit distance
``t_hit`` is the z-depth itself. The NOCS map is exact: each object hit point
``p_cam = t_hit * ray`` is mapped into the canonical frame with the inverse
ground-truth pose, ``R_cam_obj.T @ (p_cam - t_cam_obj) / scale``.
Colour: per-part albedo with a procedural texture evaluated on canonical
coordinates (objects) or world coordinates (table, floor, walls), Lambertian
shading with 1-2 directional lights and ambient light, slight blur and noise.
The background rectangles are intersected analytically (:mod:`background`); the
frame record and its labels are in :mod:`frame`.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from cleanpose_core.data.synth._open3d import load_open3d
from cleanpose_core.data.synth.background import (
    background_factors, intersect_background, is_room_layout)
from cleanpose_core.data.synth.frame import (
    handle_pixel_threshold, instance_labels, RenderedFrame)
from cleanpose_core.data.synth.noise import add_depth_noise, DepthNoise
from cleanpose_core.data.synth.scene import SceneSpec
from cleanpose_core.data.synth.texture import texture_albedo
from cleanpose_core.geometry.box_layout import BOX_CORNER_SIGNS

__all__ = ['RenderedFrame', 'SceneRenderer', 'REAL_K',
           'handle_pixel_threshold']

_BANK_PAD = 64
_SIGNS = np.array(BOX_CORNER_SIGNS, np.float64)
_CREASE_COS = float(np.cos(np.deg2rad(35.0)))   # smooth shading up to this angle
# canonical coordinates stored off the category objects: black in the NOCS PNG
_COORD_BACKGROUND = np.array([-0.5, -0.5, 0.5], np.float32)
# REAL275 colour intrinsics (DESIGN.md).
REAL_K = np.array([[591.0125, 0.0, 322.525], [0.0, 590.16775, 244.11084], [0.0, 0.0, 1.0]])


class SceneRenderer:
    """Ray caster for one scene (the geometry is fixed; the camera moves).

    Objects are ray-cast with open3d inside the image rectangles their bounding
    spheres project to; the background rectangles (table top, floor, walls) are
    intersected analytically. A pixel whose ray misses everything (above the walls)
    gets depth 0.

    Args:
        scene: the scene.
        nthreads: ray-casting threads (0 = all cores).
    """

    def __init__(self, scene: SceneSpec, nthreads: int = 0) -> None:
        o3d = load_open3d()
        self.scene = scene
        self.nthreads = int(nthreads)
        self._o3d = o3d
        self._rs = o3d.t.geometry.RaycastingScene(nthreads=self.nthreads)
        self._invalid = o3d.t.geometry.RaycastingScene.INVALID_ID
        n_obj = len(scene.objects)
        meshes = [o.shape.mesh.transformed(o.R_world_obj, o.t_world_obj, o.shape.scale)
                  for o in scene.objects]
        for k, m in enumerate(meshes):
            gid = self._rs.add_triangles(o3d.core.Tensor(m.vertices.astype(np.float32)),
                                         o3d.core.Tensor(m.faces.astype(np.uint32)))
            if gid != k:
                raise RuntimeError(f'open3d returned geometry id {gid}; expected {k}')
        self.n_obj = n_obj
        self.n_geom = n_obj + len(scene.surfaces)
        self.face_offset = np.cumsum([0] + [len(m.faces) for m in meshes]).astype(np.int64)
        self.face_parts = np.concatenate([m.parts for m in meshes] + [np.zeros(1, np.uint8)])
        # world-frame vertex normals and global face -> vertex indices for smooth shading
        v_off = np.cumsum([0] + [len(m.vertices) for m in meshes])
        self.faces_all = np.concatenate(
            [m.faces.astype(np.int64) + v_off[k] for k, m in enumerate(meshes)]
            + [np.zeros((1, 3), np.int64)])
        self.vnormals = np.concatenate(
            [o.shape.vertex_normals @ o.R_world_obj.T for o in scene.objects]
            + [np.zeros((1, 3))]).astype(np.float32)
        # geometry id (objects, then surfaces, then 'no hit') -> instance id / object index
        self.inst_lut = np.full(self.n_geom + 1, 255, np.uint8)
        self.obj_lut = np.full(self.n_geom + 1, -1, np.int64)
        for k, o in enumerate(scene.objects):
            self.inst_lut[k] = o.instance_id
            self.obj_lut[k] = k
        self.is_cat = np.array([o.shape.class_id > 0 for o in scene.objects], bool)
        self._room_layout = is_room_layout(scene.surfaces)
        self._rays_cache: dict = {}

    def _camera_rays(self, K: np.ndarray, width: int, height: int) -> tuple:
        key = (width, height, *np.asarray(K, np.float64).ravel().tolist())
        if key not in self._rays_cache:
            u, v = np.meshgrid(np.arange(width, dtype=np.float64),
                               np.arange(height, dtype=np.float64))
            d = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1],
                          np.ones_like(u)], axis=-1).reshape(-1, 3)
            # Fixed noise bank; each frame reads a randomly shifted window.
            bank = np.random.default_rng(12345).standard_normal(
                (height + _BANK_PAD, width + _BANK_PAD, 3), dtype=np.float32)
            self._rays_cache = {key: (d, np.ascontiguousarray(d.T.astype(np.float32)),
                                      np.linalg.norm(d, axis=1).astype(np.float32), bank)}
        return self._rays_cache[key]

    def _smooth_normals(self, geom, prim, uvs, face_normals) -> np.ndarray:
        """Interpolate vertex normals at the hits; keep the face normal across creases."""
        faces = self.faces_all[self.face_offset[geom] + prim]
        u, v = uvs[:, 0:1], uvs[:, 1:2]
        n = ((1.0 - u - v) * self.vnormals[faces[:, 0]] + u * self.vnormals[faces[:, 1]]
             + v * self.vnormals[faces[:, 2]])
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), np.float32(1e-9))
        crease = np.einsum('ij,ij->i', n, face_normals) < np.float32(_CREASE_COS)
        n[crease] = face_normals[crease]
        return n

    def _highlights(self, geom, n, d, ray_len, L, li) -> np.ndarray:
        """Blinn-Phong highlights (P,) at object hits with camera-facing unit normals n (P, 3)."""
        spec_k = np.array([o.shape.appearance.specular for o in self.scene.objects],
                          np.float32)[geom]
        shin = np.array([o.shape.appearance.shininess for o in self.scene.objects],
                        np.float32)[geom]
        view = -(d / ray_len).T                     # (P, 3) unit, toward the camera
        out = np.zeros(len(n), np.float32)
        for ldir, intensity in zip(L, li):
            h = view + ldir
            h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), np.float32(1e-9))
            nh = np.clip(np.einsum('ij,ij->i', n, h), 0.0, 1.0)
            out += intensity * spec_k * nh ** shin
        return out

    def _object_roi(self, R_wc, t_wc, K, width, height) -> np.ndarray:
        """Flat pixel indices inside the projected bounding boxes of the objects.

        The image rectangle around the projected corners of an object's (slightly
        enlarged) bounding box contains every pixel whose ray can hit the object.
        """
        roi = np.zeros((height, width), bool)
        for o in self.scene.objects:
            half = 0.5 * o.shape.scale * o.shape.size * 1.02 + 1e-3
            corners_cam = ((_SIGNS * half) @ o.R_world_obj.T + o.t_world_obj - t_wc) @ R_wc
            if corners_cam[:, 2].min() < 0.02:
                roi[:] = True
                break
            u = K[0, 2] + K[0, 0] * corners_cam[:, 0] / corners_cam[:, 2]
            v = K[1, 2] + K[1, 1] * corners_cam[:, 1] / corners_cam[:, 2]
            u0, u1 = max(int(np.floor(u.min())), 0), min(int(np.ceil(u.max())) + 1, width)
            v0, v1 = max(int(np.floor(v.min())), 0), min(int(np.ceil(v.max())) + 1, height)
            if u0 < u1 and v0 < v1:
                roi[v0:v1, u0:u1] = True
        return np.flatnonzero(roi)

    def _background(self, dW: np.ndarray, t_wc: np.ndarray) -> tuple:
        """Analytic hits of the background rectangles: (t (N,), surface index (N,) or -1)."""
        return intersect_background(self.scene.surfaces, dW, t_wc, self._room_layout)

    def render(self, R_world_cam: np.ndarray, t_world_cam: np.ndarray, K: np.ndarray,
               width: int, height: int, rng: np.random.Generator,
               noise: DepthNoise = DepthNoise()) -> RenderedFrame:
        """Render one frame.

        Args:
            R_world_cam: (3, 3) camera orientation (OpenCV optical axes) in the world.
            t_world_cam: (3,) camera position in the world, metres.
            K: (3, 3) intrinsics.
            width, height: image size, pixels.
            rng: random generator for lights jitter, image and depth noise.
            noise: depth noise model (``DepthNoise(enabled=False)`` for clean depth).

        Returns:
            The rendered frame with its ground truth.
        """
        scene = self.scene
        K = np.asarray(K, np.float64)
        R_wc = np.asarray(R_world_cam, np.float64)
        t_wc = np.asarray(t_world_cam, np.float64)
        d_cam, d_cam_T, ray_len, bank = self._camera_rays(K, width, height)
        N = width * height
        dW = R_wc.astype(np.float32) @ d_cam_T                  # (3, N) world directions
        z, sid = self._background(dW, t_wc)
        gid = np.where(sid >= 0, sid.astype(np.int64) + self.n_obj, self.n_geom)
        prim = np.zeros(N, np.int64)
        normals_obj = np.zeros((0, 3), np.float32)
        uvs_obj = np.zeros((0, 2), np.float32)
        px_obj = np.zeros(0, np.int64)
        if self.n_obj:
            idx = self._object_roi(R_wc, t_wc, K, width, height)
            rays = np.empty((len(idx), 6), np.float32)
            rays[:, :3] = t_wc
            rays[:, 3:] = dW[:, idx].T
            hit = self._rs.cast_rays(self._o3d.core.Tensor(rays), nthreads=self.nthreads)
            t_o = hit['t_hit'].numpy()
            g_o = hit['geometry_ids'].numpy()
            front = (g_o != self._invalid) & (t_o < z[idx])
            px_obj = idx[front]
            z[px_obj] = t_o[front]
            gid[px_obj] = g_o[front]
            prim[px_obj] = hit['primitive_ids'].numpy()[front]
            normals_obj = hit['primitive_normals'].numpy()[front]
            uvs_obj = hit['primitive_uvs'].numpy()[front]
        valid = np.isfinite(z)
        z = np.where(valid, z, np.float32(0.0))
        mask = self.inst_lut[gid]

        # Canonical coordinates of object pixels (exact inverse pose, float64).
        n_o = self.n_obj
        R_co = np.array([R_wc.T @ o.R_world_obj for o in scene.objects]).reshape(n_o, 3, 3)
        t_co = np.array([R_wc.T @ (o.t_world_obj - t_wc) for o in scene.objects]).reshape(n_o, 3)
        s_o = np.array([o.shape.scale for o in scene.objects])
        k_obj = gid[px_obj]
        p_cam = z[px_obj, None].astype(np.float64) * d_cam[px_obj]
        canon = (np.einsum('nji,nj->ni', R_co[k_obj], p_cam - t_co[k_obj])
                 / s_o[k_obj, None]).astype(np.float32)
        coord = np.empty((N, 3), np.float32)
        for c in range(3):              # column by column: ~10x faster than coord[:] = row
            coord[:, c] = _COORD_BACKGROUND[c]
        is_cat = self.is_cat[k_obj] if n_o else np.zeros(0, bool)
        coord[px_obj[is_cat]] = canon[is_cat]

        # Albedo and shading in planar (3, N) layout: the background from per-surface
        # tables over the whole image, then the object pixels on top.
        parts = np.zeros(N, np.uint8)
        parts[px_obj] = self.face_parts[self.face_offset[k_obj] + prim[px_obj]]
        jitter = 1.0 + 0.1 * rng.standard_normal(len(scene.light_intensity))
        li = (scene.light_intensity * jitter).astype(np.float32)
        L = scene.light_dirs.astype(np.float32)
        amb = np.float32(scene.ambient)
        surf = scene.surfaces
        si = sid.astype(np.intp) + 1                     # table row 0 = no surface hit
        base = np.zeros((3, len(surf) + 1), np.float32)
        second = np.zeros((3, len(surf) + 1), np.float32)
        normal = np.zeros((3, len(surf) + 1), np.float32)
        lam = np.zeros(len(surf) + 1, np.float32)
        for k, s in enumerate(surf):
            base[:, k + 1] = s.appearance.part_colours[0]
            second[:, k + 1] = s.appearance.colour2
            normal[:, k + 1] = s.normal
            lam[k + 1] = np.clip(L @ s.normal.astype(np.float32), 0.0, None) @ li
        cos_inc = np.abs(normal[0][si] * dW[0] + normal[1][si] * dW[1]
                         + normal[2][si] * dW[2]) / ray_len
        shade = amb + lam[si] + np.float32(0.15) * cos_inc
        # Background patterns vary slowly: evaluate them on every 4th pixel and upsample.
        mix_lo, mult_lo = background_factors(surf, z, sid, dW, t_wc, width, height)
        mix = cv2.resize(mix_lo, (width, height), interpolation=cv2.INTER_LINEAR).ravel()
        mult = cv2.resize(mult_lo, (width, height), interpolation=cv2.INTER_LINEAR).ravel()
        albedo = np.empty((3, N), np.float32)
        for c in range(3):
            b = base[c][si]
            b += mix * (second[c][si] - b)
            b *= mult
            albedo[c] = np.clip(b, 0.0, 1.0, out=b)
        if len(px_obj):
            alb_o = np.empty((len(px_obj), 3), np.float32)
            order = np.argsort(k_obj.astype(np.int16), kind='stable')     # radix sort
            bounds = np.searchsorted(k_obj[order], np.arange(n_o + 1))
            for k in range(n_o):
                sel = order[bounds[k]:bounds[k + 1]]
                if len(sel):
                    alb_o[sel] = texture_albedo(scene.objects[k].shape.appearance, canon[sel],
                                                parts[px_obj[sel]])
            albedo[:, px_obj] = alb_o.T
            dn = np.einsum('ij,ji->i', normals_obj, dW[:, px_obj])
            n = self._smooth_normals(k_obj, prim[px_obj], uvs_obj, normals_obj)
            n *= np.where(dn > 0, np.float32(-1), np.float32(1))[:, None]
            cos_o = np.abs(dn) / ray_len[px_obj]
            cos_inc[px_obj] = cos_o
            shade[px_obj] = amb + np.clip(n @ L.T, 0.0, None) @ li + np.float32(0.15) * cos_o
            spec_o = self._highlights(k_obj, n, dW[:, px_obj], ray_len[px_obj], L, li)
        tint = scene.tint.astype(np.float32) * np.float32(255.0)
        planes = [albedo[c] * (shade * tint[c]) for c in range(3)]
        if len(px_obj):
            for c in range(3):
                planes[c][px_obj] += spec_o * tint[c]
        rgb = cv2.merge([p.reshape(height, width) for p in planes])
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigmaX=float(rng.uniform(0.3, 0.8)))
        oy, ox = rng.integers(0, _BANK_PAD, 2)
        rgb += bank[oy:oy + height, ox:ox + width] * np.float32(rng.uniform(1.0, 4.0))
        color = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)

        z_img = z.reshape(height, width)
        luma = (np.float32(0.299) * albedo[0] + np.float32(0.587) * albedo[1]
                + np.float32(0.114) * albedo[2]).reshape(height, width)
        noise_p = noise if not noise.enabled else dataclasses.replace(
            noise, disparity_sigma_px=scene.depth_sigma_px * noise.disparity_sigma_px
            / DepthNoise.disparity_sigma_px)
        gy, gx = rng.integers(0, _BANK_PAD, 2)
        depth = add_depth_noise(z_img, cos_inc.reshape(height, width), luma, float(K[0, 0]),
                                rng, noise_p, gauss=bank[gy:gy + height, gx:gx + width, 0])
        mask_img = mask.reshape(height, width)
        labels = instance_labels(scene.objects, mask_img, parts.reshape(height, width),
                                 R_co, t_co, width, height)
        return RenderedFrame(color=color, depth=depth, depth_clean=z_img, mask=mask_img,
                             coord=coord.reshape(height, width, 3), K=K.copy(), **labels)
