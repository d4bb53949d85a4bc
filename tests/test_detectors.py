"""Detector registry, ``mot-file`` (public detections) and ``simulated`` (from ground truth)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import shared_path

from mtmc.boxes import BOX_DTYPE, from_tlwh, make_boxes
from mtmc.config import load_config
from mtmc.detectors import DETECTORS
from mtmc.detectors.common import PERSON_CLS
from mtmc.detectors.simulated import SimulatedParams, miss_probability
from mtmc.errors import ConfigError, DataError
from mtmc.stages import FrameSet


def fake_scene(cameras: list[dict], gt: list[np.ndarray | None] | None = None) -> SimpleNamespace:
    """A stand-in for mtmc.io.scene.Scene with just what the detectors read."""
    cams = [
        SimpleNamespace(
            name=c["name"], index=i, det_path=c.get("det_path"), image_size=c.get("image_size", (640, 480))
        )
        for i, c in enumerate(cameras)
    ]
    gts = gt or [None] * len(cams)
    return SimpleNamespace(cameras=cams, load_gt=lambda i: gts[i])


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Box arrays equal field by field (nan == nan)."""
    return len(a) == len(b) and all(
        np.array_equal(a[f], b[f], equal_nan=a.dtype[f].kind == "f") for f in a.dtype.names
    )


def frameset(frame: int, cameras: list[str]) -> FrameSet:
    return FrameSet(frame=frame, time=0.0, cameras=cameras, images=[None] * len(cameras))


def test_all_backends_registered_and_selectable_by_config():
    assert {"ultralytics", "yolox-onnx", "mot-file", "simulated"} <= set(DETECTORS.names())
    cfg = load_config(overrides=["detector.name=simulated", "detector.params.miss_rate=0.3"])
    assert cfg.detector.params["miss_rate"] == 0.3 and cfg.detector.params["seed"] == 0


@pytest.mark.parametrize(
    "name, params, key",
    [
        ("simulated", {"miss_rate": 1.5}, "miss_rate"),
        ("simulated", {"jitter": 0.5}, "jitter"),
        ("simulated", {"bogus": 1}, "bogus"),
        ("yolox-onnx", {"conf": -0.1}, "conf"),
        ("ultralytics", {"imgsz": 100}, "imgsz"),
    ],
)
def test_bad_params_are_one_line_config_errors(name, params, key):
    with pytest.raises(ConfigError) as err:
        DETECTORS.parse_params(name, params, "detector.params")
    assert f"detector.params.{key}" in str(err.value) and "\n" not in str(err.value)


# ------------------------------------------------------------------------------------------ mot-file


def read_det_rows(path: Path) -> np.ndarray:
    """The det file parsed independently of mtmc.io (frame, x, y, w, h, score)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    return rows[:, [0, 2, 3, 4, 5, 6]]


def test_mot_file_returns_the_file_rows_of_each_frame():
    seq = shared_path("data", "mot15", "train", "TUD-Campus")
    det_path = seq / "det" / "det.txt"
    scene = fake_scene([{"name": "TUD-Campus", "det_path": det_path}])
    det = DETECTORS.build("mot-file", {}, scene=scene)
    rows = read_det_rows(det_path)
    total = 0
    for frame in range(1, int(rows[:, 0].max()) + 2):  # one past the end: an empty frame
        (boxes,) = det.detect(frameset(frame, ["TUD-Campus"]))
        expected = rows[rows[:, 0] == frame]
        assert boxes.dtype == BOX_DTYPE and len(boxes) == len(expected)
        got = np.stack([boxes["frame"], boxes["x"], boxes["y"], boxes["w"], boxes["h"], boxes["score"]], 1)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-4)
        assert (
            (boxes["id"] == -1).all() and (boxes["cls"] == PERSON_CLS).all() and (boxes["camera"] == 0).all()
        )
        total += len(boxes)
    assert total == len(rows)


def test_mot_file_min_score_and_camera_order(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text(
        "1,-1,10,20,30,60,0.9,-1,-1,-1\n1,-1,100,20,30,60,0.2,-1,-1,-1\n3,-1,5,5,10,20,0.5,-1,-1,-1\n"
    )
    b.write_text("1,-1,50,50,20,40,0.8,-1,-1,-1\n")
    scene = fake_scene([{"name": "left", "det_path": a}, {"name": "right", "det_path": b}])
    det = DETECTORS.build("mot-file", {"min_score": 0.5}, scene=scene)
    right, left = det.detect(frameset(1, ["right", "left"]))  # frames may list cameras in any order
    assert right["camera"].tolist() == [1] and right["x"].tolist() == [50]
    assert left["camera"].tolist() == [0] and left["x"].tolist() == [10]  # the 0.2 row is filtered
    left["x"] = -1  # callers may edit what they get without corrupting the detector
    assert det.detect(frameset(1, ["left"]))[0]["x"].tolist() == [10]
    assert [len(x) for x in det.detect(frameset(2, ["left", "right"]))] == [0, 0]
    with pytest.raises(DataError, match="'nowhere'"):
        det.detect(frameset(1, ["nowhere"]))


def test_mot_file_missing_det_file_names_the_camera(tmp_path):
    scene = fake_scene([{"name": "cam7", "det_path": tmp_path / "cam7" / "det" / "det.txt"}])
    with pytest.raises(DataError) as err:
        DETECTORS.build("mot-file", {}, scene=scene)
    assert "'cam7'" in str(err.value) and "det.txt" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(DataError, match="'cam8'"):
        DETECTORS.build("mot-file", {}, scene=fake_scene([{"name": "cam8", "det_path": None}]))


# ------------------------------------------------------------------------------------------ simulated


def grid_gt(frames: int, per_frame: int, vis: float = 1.0, camera: int = 0) -> np.ndarray:
    """``per_frame`` non-overlapping 40x100 people in each of ``frames`` frames."""
    f = np.repeat(np.arange(1, frames + 1), per_frame)
    k = np.tile(np.arange(per_frame), frames)
    tlwh = np.stack(
        [20 + 60.0 * (k % 10), 20 + 150.0 * (k // 10), np.full(len(k), 40.0), np.full(len(k), 100.0)], 1
    )
    return from_tlwh(tlwh, frame=f, id=k + 1, camera=camera, vis=vis, cls=1)


def simulated(gt: list[np.ndarray], **params) -> object:
    scene = fake_scene([{"name": f"c{i}", "image_size": (640, 480)} for i in range(len(gt))], gt)
    return DETECTORS.build("simulated", params, scene=scene)


def test_simulated_is_deterministic_and_order_independent():
    gt = [grid_gt(20, 8), grid_gt(20, 5)]
    params = {"seed": 3, "miss_rate": 0.2, "fp_per_frame": 1.0, "jitter": 0.05}
    a, b = simulated(gt, **params), simulated(gt, **params)
    forward = [a.detect(frameset(f, ["c0", "c1"])) for f in range(1, 21)]
    backward = [b.detect(frameset(f, ["c1", "c0"]))[::-1] for f in range(20, 0, -1)][::-1]
    for x, y in zip(forward, backward):
        for cam_x, cam_y in zip(x, y):
            assert same(cam_x, cam_y)
    other = simulated(gt, **{**params, "seed": 4})
    assert any(
        not same(p[0], q[0])
        for p, q in zip(forward, (other.detect(frameset(f, ["c0"])) for f in range(1, 21)))
    )


def test_simulated_output_fields():
    det = simulated([grid_gt(3, 6)], fp_per_frame=2.0)
    (boxes,) = det.detect(frameset(2, ["c0"]))
    assert boxes.dtype == BOX_DTYPE and len(boxes) > 0
    assert (boxes["frame"] == 2).all() and (boxes["camera"] == 0).all() and (boxes["id"] == -1).all()
    assert (boxes["cls"] == PERSON_CLS).all() and np.isnan(boxes["gx"]).all() and np.isnan(boxes["gy"]).all()
    assert ((boxes["score"] > 0) & (boxes["score"] <= 1)).all()
    assert (boxes["x"] >= 0).all() and (boxes["x"] + boxes["w"] <= 640 + 1e-9).all()
    assert (boxes["y"] >= 0).all() and (boxes["y"] + boxes["h"] <= 480 + 1e-9).all()


def test_simulated_miss_rate_is_respected():
    frames, per_frame = 400, 12
    det = simulated(
        [grid_gt(frames, per_frame)], miss_rate=0.25, occlusion_miss=0.0, fp_per_frame=0.0, jitter=0.0
    )
    found = sum(len(det.detect(frameset(f, ["c0"]))[0]) for f in range(1, frames + 1))
    assert found / (frames * per_frame) == pytest.approx(0.75, abs=0.02)  # 4800 samples: sd ~0.006


def test_simulated_occlusion_raises_misses():
    p = SimulatedParams(miss_rate=0.05, occlusion_miss=0.6, occlusion_gamma=1.0, min_visibility=0.2)
    np.testing.assert_allclose(miss_probability(np.array([1.0, 0.5, 0.25, 0.1]), p), [0.05, 0.35, 0.5, 1.0])
    frames, kw = 300, {"miss_rate": 0.05, "occlusion_miss": 0.6, "occlusion_gamma": 1.0, "fp_per_frame": 0.0}
    rates = []
    for vis in (1.0, 0.5, 0.25, 0.1):
        det = simulated([grid_gt(frames, 10, vis=vis)], **kw, min_visibility=0.2)
        rates.append(
            sum(len(det.detect(frameset(f, ["c0"]))[0]) for f in range(1, frames + 1)) / (frames * 10)
        )
    np.testing.assert_allclose(rates[:3], [0.95, 0.65, 0.5], atol=0.035)
    assert rates[3] == 0.0  # below min_visibility: never detected


def test_simulated_jitter_is_bounded_and_scaled():
    frames, jitter = 500, 0.1
    gt = grid_gt(frames, 1)  # one 40x100 person at (20, 20) per frame
    det = simulated([gt], miss_rate=0.0, occlusion_miss=0.0, fp_per_frame=0.0, jitter=jitter)
    boxes = np.concatenate([det.detect(frameset(f, ["c0"]))[0] for f in range(1, frames + 1)])
    assert len(boxes) == frames
    dcx = (boxes["x"] + boxes["w"] / 2 - 40) / 40
    dh = boxes["h"] / 100 - 1
    for err in (dcx, dh):
        assert np.abs(err).max() <= 3 * jitter + 1e-9  # clipped at 3 sigma
        assert err.std() == pytest.approx(jitter, rel=0.15)


def test_simulated_false_positives_are_plausible_and_score_lower():
    frames = 300
    gt = grid_gt(frames, 4)
    det = simulated([gt], miss_rate=0.0, occlusion_miss=0.0, fp_per_frame=2.0, jitter=0.0)
    true_scores, fp_scores, fp_heights = [], [], []
    gt_keys = {(round(x), round(y)) for x, y in zip(gt["x"], gt["y"])}
    for f in range(1, frames + 1):
        (boxes,) = det.detect(frameset(f, ["c0"]))
        is_true = np.array(
            [
                (round(x), round(y)) in gt_keys and h == 100
                for x, y, h in zip(boxes["x"], boxes["y"], boxes["h"])
            ]
        )
        true_scores += boxes["score"][is_true].tolist()
        fp_scores += boxes["score"][~is_true].tolist()
        fp_heights += boxes["h"][~is_true].tolist()
    assert len(true_scores) == frames * 4
    assert len(fp_scores) / frames == pytest.approx(2.0, rel=0.1)
    assert np.mean(true_scores) > np.mean(fp_scores) + 0.3
    assert 50 <= np.median(fp_heights) <= 150  # sized like the people this camera sees


def test_simulated_needs_ground_truth():
    with pytest.raises(DataError, match="'c0'.*ground truth"):
        simulated([None])
    empty = simulated([make_boxes(0)], fp_per_frame=0.0)
    assert len(empty.detect(frameset(1, ["c0"]))[0]) == 0


def test_backends_work_on_a_real_scene():
    from mtmc.io.scene import open_input

    scene = open_input(shared_path("data", "mot15", "train", "TUD-Campus"))
    names = [cam.name for cam in scene.cameras]
    gt = scene.load_gt(0)
    public = DETECTORS.build("mot-file", {"min_score": 0.5}, scene=scene)
    sim = DETECTORS.build(
        "simulated", {"miss_rate": 0.0, "occlusion_miss": 0.0, "fp_per_frame": 0.0}, scene=scene
    )
    (boxes,) = public.detect(frameset(1, names))
    assert len(boxes) > 0 and (boxes["score"] >= 0.5).all()
    (boxes,) = sim.detect(frameset(1, names))
    assert len(boxes) == (gt["frame"] == 1).sum()  # MOT15 gt has no visibility: everyone is seen


def test_file_based_backends_do_not_need_pixels(tmp_path):
    det = tmp_path / "det.txt"
    det.write_text("1,-1,10,20,30,60,0.9,-1,-1,-1\n")
    scene = fake_scene([{"name": "c0", "det_path": det}], [grid_gt(1, 1)])
    assert DETECTORS.build("mot-file", {}, scene=scene).needs_pixels is False
    assert DETECTORS.build("simulated", {}, scene=scene).needs_pixels is False
