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

"""The causal front-door encoder and its per-category confounder dictionary (CleanPose)."""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn, Tensor

from cleanpose_core.categories import NUM_CATEGORIES
from cleanpose_core.model.encoders import AttentionBlock

__all__ = ['ConfounderDictionary', 'FrontDoorEncoder']


class ConfounderDictionary(nn.Module):
    """Per-category FIFO queue of pooled keypoint features, saved with the weights.

    Buffers: entries (6, M, D), pointer (6,) long (next slot to write), count (6,)
    long (valid entries, at most M). Entry slots fill 0, 1, ..., M-1 and then wrap,
    so the oldest entry is always the one replaced.
    """

    def __init__(self, size: int, dim: int, num_categories: int = NUM_CATEGORIES) -> None:
        super().__init__()
        self.size = size
        self.register_buffer('entries', torch.zeros(num_categories, size, dim))
        self.register_buffer('pointer', torch.zeros(num_categories, dtype=torch.long))
        self.register_buffer('count', torch.zeros(num_categories, dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, category_index: Tensor, feats: Tensor) -> None:
        """Append features to their categories' queues (oldest replaced when full).

        Args:
            category_index: (B,) long, 0-based category index.
            feats: (B, D) features; detached before storing.
        """
        feats = feats.detach().to(self.entries.dtype)
        for c in torch.unique(category_index).tolist():
            rows = feats[category_index == c][-self.size:]
            n = rows.shape[0]
            start = int(self.pointer[c])
            slots = (start + torch.arange(n, device=rows.device)) % self.size
            self.entries[c, slots] = rows
            self.pointer[c] = (start + n) % self.size
            self.count[c] = min(int(self.count[c]) + n, self.size)

    def select(self, category_index: Tensor, sample: Optional[int] = None,
               generator: Optional[torch.Generator] = None) -> tuple[Tensor, Tensor]:
        """Entries each instance attends to.

        Args:
            category_index: (B,) long, 0-based.
            sample: draw this many valid entries per category at random (training);
                None uses all valid entries in slot order (deterministic, inference).
            generator: CPU generator for the draw.

        Returns:
            (entries (B, L, D), valid (B, L) bool).
        """
        if sample is None:
            slots = torch.arange(self.size, device=self.entries.device)
            entries = self.entries[category_index]                         # (B, M, D)
            valid = slots[None] < self.count[category_index][:, None]
            return entries, valid
        sample = min(sample, self.size)
        table = torch.zeros(self.entries.shape[0], sample, dtype=torch.long)
        for c, n in enumerate(self.count.tolist()):
            if n > 0:
                perm = torch.randperm(n, generator=generator)[:sample]
                table[c, :perm.numel()] = perm
        table = table.to(self.entries.device)
        counts = self.count.clamp_max(sample)
        idx = table[category_index]                                          # (B, L)
        entries = self.entries[category_index[:, None], idx]
        valid = torch.arange(sample, device=idx.device)[None] < counts[category_index][:, None]
        return entries, valid


class FrontDoorEncoder(nn.Module):
    """Front-door adjustment over the keypoint features (the mediator).

    A self-attention branch models P(Y | M); a cross-attention branch whose keys
    and values are confounder dictionary entries of the instance's category
    approximates the sum over confounders. The branches are fused and blended back
    into the mediator with a learned sigmoid gate. A learned null entry is always
    attended to, so an empty dictionary is harmless.
    """

    def __init__(self, dim: int, heads: int, dict_size: int, dict_sample: int) -> None:
        super().__init__()
        self.dict_sample = dict_sample
        self.dictionary = ConfounderDictionary(dict_size, dim)
        self.self_branch = AttentionBlock(dim, heads, cross=False)
        self.cross_branch = AttentionBlock(dim, heads)
        self.null_entry = nn.Parameter(torch.zeros(1, 1, dim))
        self.fuse = nn.Sequential(nn.Linear(dim * 2, dim), nn.ReLU(inplace=True),
                                  nn.Linear(dim, dim))
        self.gate = nn.Linear(dim * 2, dim)

    def forward(self, mediator: Tensor, category_index: Tensor,
                generator: Optional[torch.Generator] = None) -> Tensor:
        """Adjust keypoint features.

        Args:
            mediator: (B, K, D) keypoint features.
            category_index: (B,) long, 0-based.
            generator: CPU generator for the training-time entry draw.

        Returns:
            (B, K, D) adjusted features.
        """
        sample = self.dict_sample if self.training else None
        entries, valid = self.dictionary.select(category_index, sample, generator)
        batch = mediator.shape[0]
        entries = torch.cat([self.null_entry.expand(batch, -1, -1).to(entries.dtype),
                             entries.to(mediator.dtype)], dim=1)
        valid = torch.cat([valid.new_ones(batch, 1), valid], dim=1)
        s = self.self_branch(mediator)
        c = self.cross_branch(mediator, entries, key_padding_mask=~valid)
        fused = self.fuse(torch.cat([s, c], dim=-1))
        gate = torch.sigmoid(self.gate(torch.cat([mediator, fused], dim=-1)))
        return gate * fused + (1.0 - gate) * mediator
