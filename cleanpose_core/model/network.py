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

"""CleanPoseNet: keypoint-based category-level pose with front-door adjustment.

Pipeline per instance (CleanPose, Lin et al. ICCV 2025, built on AG-Pose):
centre and scale-normalise the points -> point (+ RGB) encoder -> keypoint
detector -> geometric aggregation -> front-door encoder -> NOCS, shape and
pose/size heads. Training adds augmentation, the confounder dictionary's FIFO
update and residual distillation from a frozen teacher.
"""

from __future__ import annotations

from dataclasses import replace
import logging
from typing import Optional

import torch
from torch import nn, Tensor

from cleanpose_core.batch import PoseInput, PoseTarget
from cleanpose_core.categories import CATEGORIES, NUM_CATEGORIES
from cleanpose_core.config import ModelConfig
from cleanpose_core.errors import WeightsError
from cleanpose_core.model.augment import augment_points, augment_target, sample_augmentation
from cleanpose_core.model.box_fit import grow_boxes
from cleanpose_core.model.distill import ResidualDistiller
from cleanpose_core.model.encoders import MLP, normalize_points, PointEncoder, RGBEncoder
from cleanpose_core.model.front_door import FrontDoorEncoder
from cleanpose_core.model.heads import NocsHead, PointNocsHead, PoseHead, ShapeHead
from cleanpose_core.model.keypoints import GeometricAggregation, KeypointDetector
from cleanpose_core.model.losses import compute_losses, LossOutput, LossWeights
from cleanpose_core.model.nocs_pose import fit_nocs_pose
from cleanpose_core.model.outputs import ForwardOutput, PoseOutput

__all__ = ['CleanPoseNet', 'PoseOutput', 'ForwardOutput', 'TrainingStep']

log = logging.getLogger(__name__)


class CleanPoseNet(nn.Module):
    """The CleanPose network for the six NOCS categories.

    Args:
        cfg: architecture and ablation switches (model.front_door, model.distill).
    """

    def __init__(self, cfg: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        dim = cfg.dim
        self.point_encoder = PointEncoder(dim)
        if cfg.use_rgb:
            self.rgb_encoder = RGBEncoder(dim // 2, cfg.crop_size)
            self.fuse = MLP([dim + dim // 2, dim, dim], last_act=True)
        else:
            self.rgb_encoder = None
            self.fuse = None
        self.detector = KeypointDetector(cfg.num_keypoints, dim, cfg.attn_heads, cfg.kp_layers)
        self.aggregate = GeometricAggregation(dim, cfg.knn, cfg.attn_heads)
        self.front_door = (FrontDoorEncoder(dim, cfg.attn_heads, cfg.dict_size, cfg.dict_sample)
                           if cfg.front_door else None)
        self.nocs_head = NocsHead(dim, cfg.nocs_bins)
        self.shape_head = ShapeHead(dim, cfg.recon_points)
        self.pose_head = PoseHead(dim)
        self.point_nocs_head = PointNocsHead(dim, cfg.attn_heads) if cfg.dense_nocs else None
        self.distiller = ResidualDistiller(dim, cfg.teacher_dim) if cfg.distill else None
        self.loss_weights = LossWeights()
        # The teacher is held outside the module tree: it is frozen, never saved with
        # the network's weights and only needed by training_step.
        self.__dict__['_teacher'] = None

    # ----------------------------------------------------------------- forward
    def forward(self, inp: PoseInput, generator: Optional[torch.Generator] = None
                ) -> ForwardOutput:
        """Run the network on checked input (use predict / training_step from outside)."""
        cat = inp.category_ids.long() - 1
        xyz, centroid, radius = normalize_points(inp.points)
        pf = self.point_encoder(xyz)
        feats = pf.per_point
        if self.rgb_encoder is not None:
            rgb_feats = self.rgb_encoder(inp.rgb, inp.pixel_index.long())
            feats = self.fuse(torch.cat([feats, rgb_feats], dim=-1))
        kp = self.detector(xyz, feats)
        kp_feats = self.aggregate(kp, xyz, feats)
        pooled_kp = kp_feats.mean(dim=1)
        if self.front_door is not None:
            kp_feats = self.front_door(kp_feats, cat, generator)
        logits, kp_nocs = self.nocs_head(kp_feats, cat)
        recon = self.shape_head(kp_feats, kp_nocs, cat)
        pose = self.pose_head(kp_feats, kp.xyz, kp_nocs, cat)
        point_nocs = (self.point_nocs_head(feats, xyz, kp_feats, kp.xyz, cat)
                      if self.point_nocs_head is not None else None)
        distill = (self.distiller(pf.pooled)
                   if self.distiller is not None and self.training else None)
        return ForwardOutput(
            points_norm=xyz, centroid=centroid, radius=radius, keypoints_norm=kp.xyz,
            keypoints_cam=kp.xyz * radius[:, None, None] + centroid[:, None],
            heatmap=kp.heatmap, nocs_logits=logits, keypoint_nocs=kp_nocs,
            reconstruction_nocs=recon, R_cam_obj=pose.R_cam_obj,
            t_cam_obj=centroid + radius[:, None] * pose.t_offset,
            scales=radius * pose.log_scale.exp(), sizes=pose.sizes,
            pooled_keypoint=pooled_kp, point_nocs=point_nocs, distill=distill)

    # ----------------------------------------------------------------- inference
    def predict(self, inp: PoseInput) -> PoseOutput:
        """Estimate the poses of all instances in one batched, deterministic call.

        Runs in eval mode without gradients (the previous mode is restored).

        Args:
            inp: B instances; B may be 0.

        Raises:
            ValueError: category ids outside 1..6, NaN/inf points, bad pixel indices.
        """
        inp = self.check_input(inp)
        if len(inp) == 0:
            return self.empty_output(inp)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self.forward(inp)
        finally:
            self.train(was_training)
        return self.pose_output(out, inp)

    def pose_output(self, out: ForwardOutput, inp: PoseInput) -> PoseOutput:
        """Turn an eval-mode forward pass into the reported poses.

        Args:
            out: forward outputs (anything with ForwardOutput's pose, keypoint,
                reconstruction and point_nocs attributes).
            inp: the checked input of that pass.
        """
        R, fit = out.R_cam_obj, None
        if out.point_nocs is not None:
            # Rotation of the dense NOCS fit (the regressed one where the fit degenerates);
            # centre, scale and extents stay regressed: measured more precise than the
            # fit's, whose scale the shrinkage of regressed NOCS toward 0 biases upward.
            # Then the boxes grow toward the observed points left outside them
            # (model.box_grow, model/box_fit.py).
            fit = fit_nocs_pose(out.point_nocs, inp.points)
            R = torch.where((fit.s > 0)[:, None, None], fit.R, R)
        t, scales, sizes = out.t_cam_obj, out.scales, out.sizes
        if self.cfg.box_grow > 0:
            t, extents = grow_boxes(R, t, scales[:, None] * sizes, inp.points,
                                    self.cfg.box_grow)
            scales = extents.norm(dim=-1)
            sizes = extents / scales.clamp(min=1e-9)[:, None]
        residual = None
        if fit is not None:
            fitted = fit.s[:, None, None] * (out.point_nocs @ fit.R.transpose(1, 2)) \
                + fit.t[:, None]
            residual = (fitted - inp.points).norm(dim=-1).median(dim=-1).values \
                / scales.clamp(min=1e-9)
            residual = torch.where(fit.s > 0, residual, torch.full_like(residual, torch.inf))
        return PoseOutput(R_cam_obj=R, t_cam_obj=t, scales=scales,
                          sizes=sizes, keypoints_cam=out.keypoints_cam,
                          keypoint_nocs=out.keypoint_nocs,
                          reconstruction_nocs=out.reconstruction_nocs,
                          fit_residual=residual)

    def empty_output(self, inp: PoseInput) -> PoseOutput:
        """The PoseOutput of zero instances (dtype and device of inp)."""
        like = dict(device=inp.points.device, dtype=inp.points.dtype)
        k = self.cfg.num_keypoints
        return PoseOutput(R_cam_obj=torch.zeros(0, 3, 3, **like),
                          t_cam_obj=torch.zeros(0, 3, **like), scales=torch.zeros(0, **like),
                          sizes=torch.zeros(0, 3, **like),
                          keypoints_cam=torch.zeros(0, k, 3, **like),
                          keypoint_nocs=torch.zeros(0, k, 3, **like),
                          reconstruction_nocs=torch.zeros(0, k * self.cfg.recon_points, 3,
                                                          **like),
                          fit_residual=torch.zeros(0, **like) if self.cfg.dense_nocs else None)

    def check_input(self, inp: PoseInput) -> PoseInput:
        """Validate the input and cast it to the network's dtype (ValueError/TypeError)."""
        if not isinstance(inp, PoseInput):
            raise TypeError(f'inp must be a PoseInput; got {type(inp).__name__}')
        ids = inp.category_ids
        if ids.dtype.is_floating_point or ids.dtype == torch.bool:
            raise TypeError(f'category_ids must be an integer tensor; got {ids.dtype}')
        if len(inp) == 0:
            return inp
        bad = sorted({int(c) for c in ids.unique().tolist() if not 1 <= int(c) <= NUM_CATEGORIES})
        if bad:
            raise ValueError(f'category_ids must be NOCS class ids 1..{NUM_CATEGORIES} '
                             f'({", ".join(CATEGORIES)}); got {bad}')
        finite = torch.isfinite(inp.points).all(dim=(1, 2))
        if not bool(finite.all()):
            rows = torch.nonzero(~finite).flatten().tolist()
            raise ValueError(f'points of instances {rows} contain NaN or inf; drop invalid '
                             'depth before calling the network')
        if inp.points.shape[1] < 1:
            raise ValueError('points must hold at least one point per instance; got N=0')
        size = inp.rgb.shape[-1]
        pix = inp.pixel_index
        if pix.dtype.is_floating_point:
            raise TypeError(f'pixel_index must be an integer tensor; got {pix.dtype}')
        if bool((pix < 0).any()) or bool((pix >= size * size).any()):
            raise ValueError(f'pixel_index must be in [0, {size * size}) for {size}x{size} '
                             f'crops; got values in [{int(pix.min())}, {int(pix.max())}]')
        dtype = self.pose_head.out[-1].weight.dtype
        return replace(inp, points=inp.points.to(dtype), rgb=inp.rgb.to(dtype))

    # ----------------------------------------------------------------- training
    def training_step(self, inp: PoseInput, target: PoseTarget,
                      generator: Optional[torch.Generator] = None) -> LossOutput:
        """One training forward pass: augment, predict, compute losses, update the dictionary.

        Puts the network in training mode. The caller runs backward() on .total and
        steps the optimiser.

        Args:
            inp: B instances (B may be 0: the loss is a zero that still back-propagates).
            target: their ground truth.
            generator: CPU generator for augmentation and dictionary sampling (None =
                the global torch RNG).

        Raises:
            ValueError: bad input, or target of another batch size.
            WeightsError: distillation is on but no teacher can be loaded.
        """
        inp = self.check_input(inp)
        if len(target) != len(inp):
            raise ValueError(f'target has {len(target)} instances; input has {len(inp)}')
        self.train()
        if len(inp) == 0:
            zero = sum(p.sum() for p in self.parameters()) * 0.0
            return LossOutput(total=zero, terms={'total': 0.0})
        dtype = inp.points.dtype
        target = replace(target, **{name: getattr(target, name).to(dtype) for name in
                                    ('R_cam_obj', 't_cam_obj', 'scales', 'sizes', 'nocs',
                                     'model_points')})
        aug = sample_augmentation(inp.points, generator=generator)
        inp = replace(inp, points=augment_points(inp.points, aug))
        target = augment_target(target, aug)
        teacher_embedding = None
        if self.distiller is not None:
            teacher = self.teacher()
            with torch.no_grad():
                teacher_embedding = teacher(inp.points.to(next(teacher.parameters()).dtype))
        out = self.forward(inp, generator)
        loss = compute_losses(out, target, teacher_embedding, self.loss_weights)
        if self.front_door is not None:
            self.front_door.dictionary.enqueue(inp.category_ids.long() - 1, out.pooled_keypoint)
        return loss

    # ----------------------------------------------------------------- teacher
    def attach_teacher(self, teacher: nn.Module) -> None:
        """Use this frozen teacher for distillation (moved to the network's device)."""
        from cleanpose_core.model.teacher import freeze

        dim = getattr(getattr(teacher, 'cfg', None), 'dim', None)
        if dim != self.cfg.teacher_dim:
            raise WeightsError(f'teacher embedding width {dim} does not match '
                               f'model.teacher_dim={self.cfg.teacher_dim}')
        self.__dict__['_teacher'] = freeze(teacher.to(self._device()))

    def teacher(self) -> nn.Module:
        """Return the frozen teacher for distillation, loading model.teacher on first use.

        Raises:
            WeightsError: no teacher file, or one that does not match model.teacher_dim.
        """
        from cleanpose_core.model.teacher import DEFAULT_TEACHER, load_teacher

        if self._teacher is None:
            path = self.cfg.teacher or DEFAULT_TEACHER
            try:
                teacher = load_teacher(path, self._device(), expected_dim=self.cfg.teacher_dim)
            except WeightsError as err:
                raise WeightsError(f'{err}. Distillation needs a teacher: run `cleanpose '
                                   'train-teacher`, set model.teacher=PATH, or turn it off '
                                   'with model.distill=false') from None
            self.__dict__['_teacher'] = teacher
            log.info('distilling from teacher %s', path)
        elif next(self._teacher.parameters()).device != self._device():
            self._teacher.to(self._device())
        return self._teacher

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    # ----------------------------------------------------------------- dictionary
    @torch.no_grad()
    def dictionary_features(self, inp: PoseInput) -> Tensor:
        """Return pooled keypoint features (B, D), as the dictionary stores them (eval mode)."""
        inp = self.check_input(inp)
        was_training = self.training
        self.eval()
        try:
            return self.forward(inp).pooled_keypoint
        finally:
            self.train(was_training)

    @torch.no_grad()
    def seed_dictionary(self, category_ids: Tensor, feats: Tensor) -> None:
        """Enqueue features into the confounder dictionary.

        The trainer seeds the dictionary once before training. Two sources work:
        `dictionary_features(batch)` of the first batches (any teacher width), or
        `teacher_dictionary_features(batch)` (teacher embeddings mapped to D).
        Either way the FIFO update replaces the seeds after dict_size instances
        of a category.

        Args:
            category_ids: (B,) long 1..6.
            feats: (B, D) features.

        Raises:
            ValueError: front_door is off, or shapes/ids are wrong.
        """
        if self.front_door is None:
            raise ValueError('model.front_door=false: there is no confounder dictionary')
        if feats.dim() != 2 or feats.shape[1] != self.cfg.dim or \
                feats.shape[0] != category_ids.shape[0]:
            raise ValueError(f'feats must have shape (B, {self.cfg.dim}) with B='
                             f'{category_ids.shape[0]}; got {tuple(feats.shape)}')
        if category_ids.numel() and not bool(((category_ids >= 1)
                                              & (category_ids <= NUM_CATEGORIES)).all()):
            raise ValueError(f'category_ids must be in 1..{NUM_CATEGORIES}')
        self.front_door.dictionary.enqueue(category_ids.long().to(self._device()) - 1,
                                           feats.to(self._device()))

    @torch.no_grad()
    def teacher_dictionary_features(self, inp: PoseInput) -> Tensor:
        """Teacher embeddings of a batch mapped to (B, D) for seeding the dictionary.

        When teacher_dim == dim the embedding is used as is; otherwise a fixed
        orthonormal projection (seed 0, not learned) maps it to D. The result is
        rescaled to the RMS of the network's own pooled keypoint features.
        """
        inp = self.check_input(inp)
        teacher = self.teacher()
        emb = teacher(inp.points.to(next(teacher.parameters()).dtype)).to(inp.points.dtype)
        t_dim, dim = emb.shape[1], self.cfg.dim
        if t_dim != dim:
            gen = torch.Generator().manual_seed(0)
            q, _ = torch.linalg.qr(torch.randn(max(t_dim, dim), min(t_dim, dim), generator=gen))
            proj = (q if t_dim >= dim else q.T).to(emb)
            emb = emb @ proj
        own = self.dictionary_features(inp)
        target_rms = own.square().mean().sqrt()
        return emb * (target_rms / emb.square().mean().sqrt().clamp_min(1e-8))


class TrainingStep(nn.Module):
    """Module whose forward is net.training_step, for wrappers that call forward (DDP).

    `DistributedDataParallel(TrainingStep(net))(inp, target)` returns the LossOutput
    and synchronises gradients; the parameters are the network's own.
    """

    def __init__(self, net: CleanPoseNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, inp: PoseInput, target: PoseTarget,
                generator: Optional[torch.Generator] = None) -> LossOutput:
        """Run net.training_step(inp, target, generator)."""
        return self.net.training_step(inp, target, generator)
