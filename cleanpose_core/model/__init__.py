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

"""The CleanPose network, its losses, teacher, distillation and weights files."""

from cleanpose_core.model.losses import LossOutput, LossWeights
from cleanpose_core.model.network import CleanPoseNet, ForwardOutput, PoseOutput, \
    TrainingStep
from cleanpose_core.model.teacher import (DEFAULT_TEACHER, load_teacher, save_teacher,
                                          TeacherConfig, TeacherEncoder, train_teacher)
from cleanpose_core.model.weights import load_weights, save_weights

__all__ = ['CleanPoseNet', 'PoseOutput', 'ForwardOutput', 'TrainingStep', 'LossOutput',
           'LossWeights',
           'TeacherConfig', 'TeacherEncoder', 'train_teacher', 'save_teacher', 'load_teacher',
           'DEFAULT_TEACHER', 'save_weights', 'load_weights']
