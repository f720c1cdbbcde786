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

"""Tests for eval.metrics on analytic cases (NOCS benchmark protocol)."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cleanpose_core.categories import category_id
from cleanpose_core.eval.metrics import (average_precision, compute_nocs_metrics,
                                         DEGREE_THRESHOLDS, IOU_THRESHOLDS, METRIC_KEYS, pair_iou,
                                         per_instance_errors, SHIFT_THRESHOLDS_CM)

CUBE = np.full(3, 1 / math.sqrt(3))  # normalised size of a cube (diagonal 1)
SCALE = 0.3                          # metric diagonal: a cube of side 17.3 cm
I3 = np.eye(3)
ALL_100 = {k: 100.0 for k in METRIC_KEYS}


def rt(R=I3, t=(0.0, 0.0, 1.0), s=SCALE):
    T = np.eye(4)
    T[:3, :3] = s * np.asarray(R)
    T[:3, 3] = t
    return T


def rot(axis, deg):
    return Rotation.from_euler(axis, deg, degrees=True).as_matrix()


def frame(preds, gts, handle=None):
    """preds: [(category, score, RT[, size])], gts: [(category, RT[, size])]."""
    return {
        'pred_class_ids': np.array([category_id(p[0]) for p in preds], dtype=np.int64),
        'pred_scores': np.array([p[1] for p in preds], dtype=np.float64),
        'pred_RTs': np.array([p[2] for p in preds]).reshape(-1, 4, 4),
        'pred_scales': np.array([p[3] if len(p) > 3 else CUBE for p in preds]).reshape(-1, 3),
        'gt_class_ids': np.array([category_id(g[0]) for g in gts], dtype=np.int64),
        'gt_RTs': np.array([g[1] for g in gts]).reshape(-1, 4, 4),
        'gt_scales': np.array([g[2] if len(g) > 2 else CUBE for g in gts]).reshape(-1, 3),
        'gt_handle_visibility': np.array(handle if handle is not None else [1] * len(gts)),
    }


def test_threshold_grids_are_nocs():
    assert len(IOU_THRESHOLDS) == 101 and IOU_THRESHOLDS[25] == 0.25 and IOU_THRESHOLDS[-1] == 1
    assert DEGREE_THRESHOLDS[:61].tolist() == list(range(61)) and DEGREE_THRESHOLDS[-1] == 360
    assert SHIFT_THRESHOLDS_CM[4] == 2.0 and SHIFT_THRESHOLDS_CM[10] == 5.0
    assert SHIFT_THRESHOLDS_CM[-2] == 15.0 and SHIFT_THRESHOLDS_CM[-1] == 100.0


@pytest.mark.parametrize('category', ['bottle', 'bowl', 'camera', 'can', 'laptop', 'mug'])
def test_identical_boxes_score_100(category):
    res = [frame([(category, 0.9, rt())], [(category, rt())])]
    m = compute_nocs_metrics(res)
    assert m.metrics == pytest.approx(ALL_100)
    assert list(m.per_category) == [category]
    assert m.num_gt[category] == 1 and m.num_pred[category] == 1
    iou_curve = m.curves.iou_ap['mean']
    assert iou_curve[0] == 100.0 and iou_curve[99] == 100.0
    assert iou_curve[100] == 0.0  # NOCS matches on IoU > threshold, never at 1.0
    row = per_instance_errors(res)[0]
    assert row['rot_deg'] == pytest.approx(0.0, abs=1e-6)
    assert row['trans_cm'] == 0.0 and row['iou'] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize('offset_cm,hits', [
    (1.0, {'5deg2cm': 100, '5deg5cm': 100, '10deg2cm': 100, '10deg5cm': 100}),
    (3.0, {'5deg2cm': 0, '5deg5cm': 100, '10deg2cm': 0, '10deg5cm': 100}),
    (7.2, {'5deg2cm': 0, '5deg5cm': 0, '10deg2cm': 0, '10deg5cm': 0}),
], ids=['1cm', '3cm', '7.2cm'])
def test_translation_offsets(offset_cm, hits):
    res = [frame([('laptop', 0.8, rt(t=(offset_cm / 100, 0.0, 1.0)))], [('laptop', rt())])]
    m = compute_nocs_metrics(res)
    for key, value in hits.items():
        assert m.metrics[key] == value, key
    side = SCALE / math.sqrt(3)
    d = offset_cm / 100
    assert per_instance_errors(res)[0]['iou'] == pytest.approx((side - d) / (side + d), abs=1e-9)
    assert per_instance_errors(res)[0]['trans_cm'] == pytest.approx(offset_cm)
    # AP against the translation threshold steps from 0 to 100 at the offset
    curve = m.curves.shift_ap['laptop']
    assert curve[m.curves.shift_thresholds_cm < offset_cm].max() == 0.0
    assert curve[m.curves.shift_thresholds_cm >= offset_cm].min() == 100.0


# Offsets between the 1-degree thresholds of the AP curve: an error of exactly 3 degrees
# comes out as 3.0000000000000004 on some machines and fell on either side of that threshold.
@pytest.mark.parametrize('deg,hits5,hits10', [(3.5, 100, 100), (7.5, 0, 100), (12.5, 0, 0)],
                         ids=['3.5deg', '7.5deg', '12.5deg'])
def test_rotation_offsets(deg, hits5, hits10):
    res = [frame([('camera', 0.8, rt(R=rot('x', deg)))], [('camera', rt())])]
    m = compute_nocs_metrics(res)
    assert m.metrics['5deg5cm'] == hits5 and m.metrics['5deg2cm'] == hits5
    assert m.metrics['10deg5cm'] == hits10 and m.metrics['10deg2cm'] == hits10
    assert per_instance_errors(res)[0]['rot_deg'] == pytest.approx(deg, abs=1e-9)
    curve = m.curves.degree_ap['camera']
    assert curve[m.curves.degree_thresholds < deg].max() == 0.0
    assert curve[m.curves.degree_thresholds >= deg].min() == 100.0


def test_half_overlapping_boxes_iou_one_third():
    side = SCALE / math.sqrt(3)
    res = [frame([('camera', 0.8, rt(t=(side / 2, 0.0, 1.0)))], [('camera', rt())])]
    assert per_instance_errors(res)[0]['iou'] == pytest.approx(1 / 3, abs=1e-12)
    m = compute_nocs_metrics(res)
    assert m.metrics['iou25'] == 100.0 and m.metrics['iou50'] == 0.0
    curve = m.curves.iou_ap['camera']
    assert curve[33] == 100.0 and curve[34] == 0.0


@pytest.mark.parametrize('category,handle,symmetric', [
    ('bottle', 1, True), ('bowl', 1, True), ('can', 1, True), ('mug', 0, True),
    ('mug', 1, False), ('camera', 1, False), ('laptop', 1, False),
], ids=['bottle', 'bowl', 'can', 'mug_hidden_handle', 'mug_visible_handle', 'camera', 'laptop'])
def test_turn_about_y(category, handle, symmetric):
    size = np.array([0.3, 0.8, 0.5])
    size = size / np.linalg.norm(size)   # not square in X-Z, so a turn changes the box
    R_gt = rot('xyz', [20, -30, 50])
    res = [frame([(category, 0.9, rt(R=R_gt @ rot('y', 37.0)), size)],
                 [(category, rt(R=R_gt), size)], handle=[handle])]
    row = per_instance_errors(res)[0]
    m = compute_nocs_metrics(res)
    assert row['symmetric'] is symmetric
    if symmetric:
        assert row['rot_deg'] == pytest.approx(0.0, abs=1e-6)
        assert row['iou'] == pytest.approx(1.0, abs=1e-9)
        assert m.metrics == pytest.approx(ALL_100)
    else:
        assert row['rot_deg'] == pytest.approx(37.0, abs=1e-9)
        assert row['iou'] < 0.75
        assert m.metrics['10deg5cm'] == 0.0 and m.metrics['iou75'] == 0.0


def test_symmetric_iou_samples_nocs_turns_for_tilted_prediction():
    size = np.array([0.3, 0.8, 0.5]) / np.linalg.norm([0.3, 0.8, 0.5])
    e = SCALE * size
    R_pred = rot('y', 90.0)
    assert pair_iou(R_pred, np.zeros(3), e, I3, np.zeros(3), e, True) == pytest.approx(1.0)
    assert pair_iou(R_pred, np.zeros(3), e, I3, np.zeros(3), e, False) < 0.7


def test_false_positive_ranked_first_halves_iou_ap():
    far = rt(t=(1.0, 0.0, 1.0))
    first = [frame([('can', 0.9, far), ('can', 0.5, rt())], [('can', rt())])]
    last = [frame([('can', 0.3, far), ('can', 0.5, rt())], [('can', rt())])]
    # ranked [FP, TP]: precision 0, 1/2 at recall 0, 1 -> AP = 1 * 1/2
    assert compute_nocs_metrics(first).metrics['iou50'] == pytest.approx(50.0)
    assert compute_nocs_metrics(last).metrics['iou50'] == pytest.approx(100.0)
    # NOCS pose metrics only see pairs matched at IoU > 0.1: the far FP is not counted
    assert compute_nocs_metrics(first).metrics['10deg5cm'] == pytest.approx(100.0)


def test_score_ordering_is_pooled_across_frames():
    tp = frame([('bowl', 0.6, rt())], [('bowl', rt())])
    fp = frame([('bowl', 0.8, rt(t=(2.0, 0.0, 1.0)))], [('bowl', rt(t=(-2.0, 0.0, 1.0)))])
    # ranked [FP (frame 2), TP (frame 1)] with 2 gts: recall 0, 1/2 -> AP = 1/2 * 1/2
    assert compute_nocs_metrics([tp, fp]).metrics['iou50'] == pytest.approx(25.0)
    fp['pred_scores'] = np.array([0.4])
    assert compute_nocs_metrics([tp, fp]).metrics['iou50'] == pytest.approx(50.0)


def test_pose_ap_with_partial_hits():
    gt1, gt2 = rt(t=(-0.5, 0.0, 1.0)), rt(t=(0.5, 0.0, 1.0))
    res = [frame([('mug', 0.9, gt1), ('mug', 0.8, rt(t=(0.53, 0.0, 1.0))),
                  ('mug', 0.7, gt2)], [('mug', gt1), ('mug', gt2)])]
    m = compute_nocs_metrics(res)
    # IoU: [TP, TP, FP(duplicate)] -> 100
    assert m.metrics['iou50'] == pytest.approx(100.0)
    # pose sees the two IoU-matched pairs: at 2 cm [hit, miss] -> AP 1/2; at 5 cm both hit
    assert m.metrics['5deg2cm'] == pytest.approx(50.0)
    assert m.metrics['5deg5cm'] == pytest.approx(100.0)


def test_missed_ground_truth_halves_iou_ap():
    res = [frame([('camera', 0.9, rt())], [('camera', rt()), ('camera', rt(t=(1, 0, 1)))])]
    m = compute_nocs_metrics(res)
    assert m.metrics['iou50'] == pytest.approx(50.0)
    assert m.metrics['5deg2cm'] == pytest.approx(100.0)  # NOCS: unmatched gt leaves pose eval


def test_wrong_class_never_matches():
    res = [frame([('bowl', 0.9, rt())], [('camera', rt())])]
    m = compute_nocs_metrics(res)
    assert list(m.per_category) == ['camera']
    assert m.metrics == pytest.approx({k: 0.0 for k in METRIC_KEYS})
    assert m.num_pred['bowl'] == 1


def test_map_is_mean_over_categories_with_ground_truth():
    res = [frame([('bottle', 0.9, rt()), ('laptop', 0.9, rt(t=(0.5, 0.5, 1.0)))],
                 [('bottle', rt()), ('laptop', rt(t=(-0.5, 0.0, 1.0)))])]
    m = compute_nocs_metrics(res)
    assert set(m.per_category) == {'bottle', 'laptop'}
    assert m.per_category['bottle']['iou50'] == 100.0
    assert m.per_category['laptop']['iou50'] == 0.0
    assert m.metrics['iou50'] == pytest.approx(50.0)
    assert m.curves.iou_ap['mean'][50] == pytest.approx(50.0)


def test_no_ground_truth_gives_zeros_and_warns(caplog):
    with caplog.at_level(logging.WARNING, logger='cleanpose_core.eval.metrics'):
        m = compute_nocs_metrics([frame([], [])])
    assert m.metrics == {k: 0.0 for k in METRIC_KEYS} and m.per_category == {}
    assert 'no ground-truth instance' in caplog.text


@pytest.mark.parametrize('matched,scores,num_gt,expected', [
    ([True, False, True], [0.9, 0.8, 0.7], 3, 1 / 3 + 1 / 3 * 2 / 3),
    ([False, True], [0.9, 0.8], 1, 0.5),
    ([True, True], [0.1, 0.2], 4, 0.5),
    ([], [], 2, 0.0),
    ([False, True, True], [0.5, 0.9, 0.1], 2, 1 / 2 + 1 / 2 * 2 / 3),
], ids=['envelope', 'fp_first', 'half_recall', 'no_preds', 'unsorted'])
def test_average_precision_voc_envelope(matched, scores, num_gt, expected):
    assert average_precision(np.array(matched, dtype=bool), np.array(scores), num_gt) == \
        pytest.approx(expected, abs=1e-12)


def test_average_precision_rejects():
    with pytest.raises(ValueError, match=r'num_gt must be >= 1; got 0'):
        average_precision(np.zeros(1, dtype=bool), np.zeros(1), 0)
    with pytest.raises(ValueError, match=r'equal-length vectors'):
        average_precision(np.zeros(2, dtype=bool), np.zeros(3), 1)


def _good():
    return frame([('can', 0.9, rt())], [('can', rt())])


@pytest.mark.parametrize('mutate,exc,msg', [
    (lambda r: r.pop('gt_RTs'), ValueError, r"results\[0\] has no 'gt_RTs'"),
    (lambda r: r.__setitem__('pred_RTs', np.eye(4)), ValueError,
     r"results\[0\]\['pred_RTs'\] must have shape \(N, 4, 4\); got \(4, 4\)"),
    (lambda r: r.__setitem__('pred_scores', np.array([0.9, 0.8])), ValueError,
     r"results\[0\]\['pred_scores'\] has 2 rows but pred_class_ids has 1"),
    (lambda r: r.__setitem__('gt_scales', np.ones((2, 3))), ValueError,
     r"results\[0\]\['gt_scales'\] has 2 rows but gt_class_ids has 1"),
    (lambda r: r['pred_RTs'].__setitem__((0, 0, 0), -r['pred_RTs'][0, 0, 0]), ValueError,
     r"results\[0\]\['pred_RTs'\]\[0\]: the top-left 3x3 must be s\*R with s > 0"),
], ids=['missing_key', 'unbatched_rt', 'score_rows', 'gt_rows', 'reflection'])
def test_rejects_malformed_frames(mutate, exc, msg):
    r = _good()
    mutate(r)
    with pytest.raises(exc, match=msg):
        compute_nocs_metrics([r])


def test_rejects_non_mapping():
    with pytest.raises(TypeError, match=r'results\[1\] must be a dict .* got list'):
        compute_nocs_metrics([_good(), []])


def test_per_instance_pairing_modes():
    a, b = rt(t=(-0.3, 0.0, 1.0)), rt(t=(0.3, 0.0, 1.0))
    shifted_b = rt(t=(0.32, 0.0, 1.0))
    in_order = frame([('can', 0.9, a), ('can', 0.8, shifted_b)], [('can', a), ('can', b)])
    swapped = frame([('can', 0.8, shifted_b), ('can', 0.9, a)], [('can', a), ('can', b)])
    missing = frame([('can', 0.8, shifted_b)], [('can', a), ('can', b)])
    explicit = frame([('can', 0.8, shifted_b)], [('can', a), ('can', b)])
    explicit['pred_gt_index'] = np.array([1])
    rows = per_instance_errors([in_order, swapped, missing, explicit])
    assert [(r['frame'], r['gt_index'], r['pred_index']) for r in rows] == [
        (0, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (2, 1, 0), (3, 1, 0)]
    assert [round(r['trans_cm'], 9) for r in rows] == [0.0, 2.0, 0.0, 2.0, 2.0, 2.0]
    assert all(r['class_id'] == category_id('can') and r['symmetric'] for r in rows)


def _reference_ap(matched, scores, num_gt):
    """Plain-loop VOC AP (the NOCS compute_ap_from_matches_scores steps)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])
    tp, precisions, recalls = 0, [0.0], [0.0]
    for rank, i in enumerate(order, start=1):
        tp += bool(matched[i])
        precisions.append(tp / rank)
        recalls.append(tp / num_gt)
    precisions.append(0.0)
    recalls.append(1.0)
    for k in range(len(precisions) - 2, -1, -1):
        precisions[k] = max(precisions[k], precisions[k + 1])
    return sum((recalls[k] - recalls[k - 1]) * precisions[k]
               for k in range(1, len(recalls)) if recalls[k] != recalls[k - 1])


def _reference_metrics(results, iou_thr, pose_thr):
    """Per-threshold, per-prediction loops as in NOCS compute_degree_cm_mAP."""
    out = {}
    for cid in range(1, 7):
        iou_m = {t: [] for t in iou_thr}
        pose_m = {p: [] for p in pose_thr}
        iou_s, pose_s, n_gt, n_gt_pose = [], [], 0, 0
        for r in results:
            p = [i for i in np.argsort(-r['pred_scores'], kind='stable')
                 if r['pred_class_ids'][i] == cid]
            g = [j for j in range(len(r['gt_class_ids'])) if r['gt_class_ids'][j] == cid]
            n_gt += len(g)
            if not p:
                continue
            sym = [cid in (1, 2, 4) or (cid == 6 and r['gt_handle_visibility'][j] == 0)
                   for j in g]

            def split(T):
                s = np.cbrt(np.linalg.det(T[:3, :3]))
                return T[:3, :3] / s, T[:3, 3], s

            ov = np.zeros((len(p), len(g)))
            err = np.zeros((len(p), len(g), 2))
            for a, i in enumerate(p):
                Rp, tp_, sp = split(r['pred_RTs'][i])
                for b, j in enumerate(g):
                    Rg, tg, sg = split(r['gt_RTs'][j])
                    ov[a, b] = pair_iou(Rp, tp_, sp * r['pred_scales'][i], Rg, tg,
                                        sg * r['gt_scales'][j], sym[b])
                    yp, yg = Rp[:, 1], Rg[:, 1]
                    cos = yp @ yg if sym[b] else (np.trace(Rp @ Rg.T) - 1) / 2
                    err[a, b] = (np.degrees(np.arccos(np.clip(cos, -1, 1))),
                                 100 * np.linalg.norm(tp_ - tg))
            iou_s += [r['pred_scores'][i] for i in p]
            for thr in sorted(set(iou_thr) | {0.1}):
                gt_m, pred_m = [-1] * len(g), [-1] * len(p)
                for a in range(len(p)):
                    for b in np.argsort(-ov[a], kind='stable'):
                        if gt_m[b] > -1:
                            continue
                        if ov[a, b] < thr:
                            break
                        if ov[a, b] > thr:
                            gt_m[b], pred_m[a] = a, b
                            break
                if thr in iou_m:
                    iou_m[thr] += [m > -1 for m in pred_m]
                if thr == 0.1:
                    keep_p = [a for a in range(len(p)) if pred_m[a] > -1]
                    keep_g = [b for b in range(len(g)) if gt_m[b] > -1]
            n_gt_pose += len(keep_g)
            pose_s += [r['pred_scores'][p[a]] for a in keep_p]
            for deg, cm in pose_thr:
                gt_used = set()
                for a in keep_p:
                    hit = False
                    for b in sorted(keep_g, key=lambda b: err[a, b].sum()):
                        if b in gt_used or err[a, b, 0] > deg or err[a, b, 1] > cm:
                            continue
                        gt_used.add(b)
                        hit = True
                        break
                    pose_m[(deg, cm)].append(hit)
        if n_gt == 0:
            continue
        row = {t: 100 * _reference_ap(iou_m[t], iou_s, n_gt) for t in iou_thr}
        for key in pose_thr:
            row[key] = 100 * _reference_ap(pose_m[key], pose_s, n_gt_pose) if n_gt_pose else 0.0
        out[cid] = row
    return out


def _random_scene(rng, n_frames=6):
    results = []
    for _ in range(n_frames):
        preds, gts, handle = [], [], []
        for cat in rng.choice(['bottle', 'camera', 'mug', 'laptop'], size=3, replace=False):
            for _ in range(rng.integers(1, 3)):
                size = rng.uniform(0.3, 1.0, 3)
                size /= np.linalg.norm(size)
                R = Rotation.random(random_state=rng).as_matrix()
                t = np.array([rng.uniform(-0.4, 0.4), rng.uniform(-0.3, 0.3), 1.0])
                s = rng.uniform(0.1, 0.3)
                gts.append((cat, rt(R, t, s), size))
                handle.append(int(rng.integers(0, 2)))
                if rng.random() < 0.85:   # a detection with pose noise
                    dR = Rotation.from_rotvec(rng.normal(0, 0.12, 3)).as_matrix()
                    preds.append((cat, rng.random(), rt(dR @ R, t + rng.normal(0, 0.025, 3),
                                                        s * rng.uniform(0.9, 1.1)), size))
                if rng.random() < 0.3:    # a duplicate or a false positive nearby
                    preds.append((cat, rng.random(), rt(R, t + rng.normal(0, 0.05, 3), s), size))
        results.append(frame(preds, gts, handle))
    return results


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_plain_loop_reference(seed):
    results = _random_scene(np.random.default_rng(seed))
    iou_thr = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]
    pose_thr = [(5.0, 2.0), (5.0, 5.0), (10.0, 2.0), (10.0, 5.0), (20.0, 100.0), (360.0, 3.0)]
    ref = _reference_metrics(results, iou_thr, pose_thr)
    m = compute_nocs_metrics(results)
    assert sorted(category_id(c) for c in m.per_category) == sorted(ref)
    for cid, row in ref.items():
        name = ['bottle', 'bowl', 'camera', 'can', 'laptop', 'mug'][cid - 1]
        curves = m.curves
        for t in iou_thr:
            got = curves.iou_ap[name][int(np.flatnonzero(np.isclose(IOU_THRESHOLDS, t))[0])]
            assert got == pytest.approx(row[t], abs=1e-9), (name, t)
        for key, (deg, cm) in zip(['5deg2cm', '5deg5cm', '10deg2cm', '10deg5cm'], pose_thr):
            assert m.per_category[name][key] == pytest.approx(row[(deg, cm)], abs=1e-9), key
        assert curves.degree_ap[name][20] == pytest.approx(row[(20.0, 100.0)], abs=1e-9)
        assert curves.shift_ap[name][6] == pytest.approx(row[(360.0, 3.0)], abs=1e-9)
    values = [v for row in m.per_category.values() for v in row.values()]
    assert 0 < min(values) < 100 or 0 < max(values) < 100  # the scene is not trivial
