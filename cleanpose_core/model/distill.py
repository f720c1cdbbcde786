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

"""Residual knowledge distillation from a frozen teacher (training only)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn, Tensor
import torch.nn.functional as F

from cleanpose_core.model.encoders import MLP

__all__ = ['ResidualDistiller', 'DistillOutput', 'distillation_loss']


@dataclass(frozen=True)
class DistillOutput:
    """Student embedding in teacher space and the residual that produced it.

    Attributes:
        embedding: (B, teacher_dim) projected student feature.
        residual: (B, D) residual added to the normalised student feature.
    """

    embedding: Tensor
    residual: Tensor


class ResidualDistiller(nn.Module):
    """normalize(pooled) + residual MLP (last layer zero at start) -> projection.

    The residual lets the student's own feature keep what the pose task needs
    while the projected sum is pulled toward the teacher embedding; the residual's
    norm is regularised so it only takes up the part the teacher cannot explain.
    """

    def __init__(self, dim: int, teacher_dim: int) -> None:
        super().__init__()
        self.residual = MLP([dim, dim, dim])
        nn.init.zeros_(self.residual[-1].weight)
        nn.init.zeros_(self.residual[-1].bias)
        self.project = nn.Linear(dim, teacher_dim)

    def forward(self, pooled: Tensor) -> DistillOutput:
        """Map the student's pooled point feature (B, D) into teacher space."""
        z = F.normalize(pooled, dim=-1)
        residual = self.residual(z)
        return DistillOutput(embedding=self.project(z + residual), residual=residual)


def distillation_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Per-instance 1 - cosine similarity, (B, T) x (B, T) -> (B,); teacher is detached."""
    return 1.0 - F.cosine_similarity(student, teacher.detach(), dim=-1)
