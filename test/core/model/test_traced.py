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


"""The traced predictor gives the eager network's poses, for any batch size."""

from __future__ import annotations

from dataclasses import replace

from model_fixtures import make_batch, tiny_config
import pytest
import torch

from cleanpose_core.model.network import CleanPoseNet
from cleanpose_core.model.traced import traced_or_eager, TracedPredictor

FIELDS = ('R_cam_obj', 't_cam_obj', 'scales', 'sizes', 'keypoints_cam', 'keypoint_nocs',
          'reconstruction_nocs')


def _net(**changes) -> CleanPoseNet:
    torch.manual_seed(0)
    return CleanPoseNet(tiny_config(distill=False, **changes)).eval()


@pytest.mark.parametrize('dense', [True, False], ids=['dense_nocs', 'regressed'])
@pytest.mark.parametrize('batch', [0, 1, 4, 9])
def test_traced_poses_equal_eager(dense, batch):
    net = _net(dense_nocs=dense)
    traced = TracedPredictor(net)
    inp, _ = make_batch(batch, net.cfg, seed=batch + 3)
    want, got = net.predict(inp), traced.predict(inp)
    for name in FIELDS:
        assert getattr(got, name).shape == getattr(want, name).shape
        torch.testing.assert_close(getattr(got, name), getattr(want, name), atol=1e-5, rtol=0)


def test_traced_input_is_checked_like_eager():
    net = _net()
    traced = TracedPredictor(net)
    inp, _ = make_batch(2, net.cfg)
    with pytest.raises(ValueError, match='category_ids'):
        traced.predict(replace(inp, category_ids=torch.tensor([1, 9])))


class _BatchSizeQuirk(CleanPoseNet):
    """A network whose forward branches on the batch size: a trace cannot follow it."""

    def forward(self, inp, generator=None):
        out = super().forward(inp, generator)
        if len(inp) == 2:
            out = replace(out, t_cam_obj=out.t_cam_obj + 1.0)
        return out


def test_untraceable_network_runs_eagerly(caplog):
    torch.manual_seed(0)
    net = _BatchSizeQuirk(tiny_config(distill=False)).eval()
    with pytest.raises(RuntimeError, match='traced network differs'):
        TracedPredictor(net)
    assert traced_or_eager(net) is net
    assert 'running it eagerly' in caplog.text
