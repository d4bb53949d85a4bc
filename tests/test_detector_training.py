"""`mtmc detector train|eval`: YOLO export round trip, the AP / precision / recall scorer, bad input, training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtmc.boxes import concat, from_xyxy, xyxy
from mtmc.cli.main import main
from mtmc.config import load_config
from mtmc.detectors.training import export_yolo_dataset, read_yolo_labels
from mtmc.errors import MtmcError
from mtmc.io.scene import open_input

ROOT = Path(__file__).resolve().parents[1]


def _dataset_boxes(dataset: Path) -> dict[tuple[str, str, int], np.ndarray]:
    """(split, camera, frame) -> pixel boxes read back from the YOLO labels."""
    out = {}
    for split in ("train", "val"):
        for img in sorted((dataset / "images" / split).glob("*.jpg")):
            _, cam, frame = img.stem.split("_")
            h, w = cv2.imread(str(img)).shape[:2]
            out[(split, cam, int(frame))] = read_yolo_labels(dataset / "labels" / split / f"{img.stem}.txt", (w, h))
    return out


@pytest.mark.parametrize("split", ["camera", "time"])
def test_export_round_trips_the_gt_boxes(two_camera_scene: Path, tmp_path: Path, split: str):
    data = export_yolo_dataset([two_camera_scene], tmp_path / "ds", split=split, val_fraction=0.5, every=2)
    assert data.read_text().count("0: person") == 1
    read = _dataset_boxes(tmp_path / "ds")
    scene = open_input(two_camera_scene)
    n = 0
    for c, cam in enumerate(scene.cameras):
        gt = scene.load_gt(c)
        for frame in range(1, scene.num_frames + 1, 2):
            key = next(k for k in read if k[1:] == (cam.name, frame))
            if split == "camera":
                assert key[0] == ("val" if c == 1 else "train")
            else:
                assert key[0] == ("val" if frame > scene.num_frames // 2 else "train")
            want = xyxy(gt[gt["frame"] == frame])
            got = xyxy(read[key])
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # pixels, exactly up to float rounding
            n += len(want)
    assert n > 20 and len(read) == 2 * len(range(1, scene.num_frames + 1, 2))
    meta = json.loads((tmp_path / "ds" / "export.json").read_text())
    assert meta["splits"]["train"]["boxes"] + meta["splits"]["val"]["boxes"] == n


def _boxes(rows, frame=1, camera=0, score=None):
    return from_xyxy(np.array(rows, float), score=score, frame=frame, camera=camera)


def test_detection_metrics_count_matches_misses_and_duplicates():
    from eval.detection import detection_metrics

    gt = concat([_boxes([[0, 0, 10, 20], [50, 0, 60, 20]]), _boxes([[0, 0, 10, 20]], frame=2)])
    perfect = concat([_boxes([[0, 0, 10, 20], [50, 0, 60, 20]], score=[0.9, 0.8]),
                      _boxes([[0, 0, 10, 20]], frame=2, score=[0.7])])
    m = detection_metrics(gt, perfect, conf=0.5)
    assert m["ap"] == pytest.approx(1.0) and m["precision"] == 1.0 and m["recall"] == 1.0
    # a duplicate of a matched box is a false positive; a box in another frame/camera matches nothing there
    noisy = concat([perfect, _boxes([[1, 0, 11, 20]], score=[0.95]), _boxes([[50, 0, 60, 20]], camera=1,
                                                                             score=[0.6])])
    m = detection_metrics(gt, noisy, conf=0.5)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(3 / 5) and m["true_positives"] == 3
    assert m["ap"] < 1.0
    low = detection_metrics(gt, perfect, conf=0.75)  # the 0.7 detection falls below the threshold
    assert low["recall"] == pytest.approx(2 / 3) and low["precision"] == 1.0 and low["ap"] == pytest.approx(1.0)
    assert low["best_f1"] == {"conf": pytest.approx(0.7), "precision": 1.0, "recall": 1.0}  # the lowest score
    shifted = detection_metrics(gt, _boxes([[5, 0, 15, 20]], score=[0.9]), conf=0.5)  # IoU 1/3 < 0.5
    assert shifted["true_positives"] == 0 and shifted["ap"] == 0.0


def test_ignored_gt_is_neither_a_miss_nor_a_false_positive():
    from eval.detection import detection_metrics

    gt = _boxes([[0, 0, 10, 20], [50, 0, 60, 20]])
    det = _boxes([[0, 0, 10, 20], [50, 0, 60, 20]], score=[0.9, 0.9])
    m = detection_metrics(gt, det[:1], conf=0.5, ignore=np.array([False, True]))
    assert m["recall"] == 1.0 and m["gt"] == 1
    m = detection_metrics(gt, det, conf=0.5, ignore=np.array([False, True]))
    assert m["precision"] == 1.0 and m["detections"] == 1


def test_bad_input_is_one_error_line(two_camera_scene: Path, tmp_path: Path, capsys):
    no_gt = tmp_path / "no_gt"
    shutil.copytree(two_camera_scene, no_gt)
    for gt in no_gt.glob("*/gt"):
        shutil.rmtree(gt)
    (tmp_path / "empty").mkdir()
    assert main(["detector", "train", str(no_gt), "--out", str(tmp_path / "o")]) == 2
    assert main(["detector", "eval", str(no_gt)]) == 2
    assert main(["detector", "train", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert main(["detector", "eval", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4, err
    assert err[0].startswith("mtmc detector train: error:") and "no ground truth" in err[0]
    assert err[1].startswith("mtmc detector eval: error:") and "no ground truth" in err[1]
    assert all(line.startswith("mtmc detector ") and ": error:" in line for line in err)
    assert not (tmp_path / "o").exists()  # nothing half-written
    with pytest.raises(MtmcError, match="at least 2 cameras"):
        one = tmp_path / "one"
        shutil.copytree(two_camera_scene, one)
        shutil.rmtree(one / "cam1" / "gt")
        export_yolo_dataset([one], tmp_path / "ds", split="camera")


def test_eval_scores_the_simulated_detector(two_camera_scene: Path, tmp_path: Path, capsys):
    out = tmp_path / "m.json"
    assert main(["detector", "eval", str(two_camera_scene), "--quiet", "--json", str(out),
                 "detector.name=simulated", "detector.params.fp_per_frame=0", "detector.params.miss_rate=0"]) == 0
    m = json.loads(out.read_text())
    assert m["detector"] == "simulated" and m["gt"] > 0 and m["frames"] == 30
    assert m["precision"] > 0.9 and m["recall"] > 0.8  # gt plus 5 % jitter: nearly every box matches
    assert "AP50" in capsys.readouterr().out


@pytest.mark.slow
def test_one_epoch_train_writes_weights_that_track_loads(two_camera_scene: Path, tmp_path: Path, capsys):
    out = tmp_path / "det"
    args = ["detector", "train", str(two_camera_scene), "--out", str(out), "--epochs", "1", "--imgsz", "64",
            "--batch", "8", "--every", "3", "--quiet"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert (out / "best.pt").is_file() and set(metrics["val"]) >= {"mAP50", "precision", "recall", "conf"}
    assert metrics["val"]["conf"] == 0.6  # ByteTrack's track_thresh, the default tracker's
    stamp = (out / "run" / "weights" / "last.pt").stat().st_mtime_ns
    assert main(args) == 0  # a finished run is not trained again; the dataset is reused
    assert (out / "run" / "weights" / "last.pt").stat().st_mtime_ns == stamp
    assert "reusing the dataset" in capsys.readouterr().out
    run = tmp_path / "track"
    assert main(["track", str(two_camera_scene), "-o", str(run), "--quiet", "-c", str(out / "detector.yaml")]) == 0
    assert (run / "global.txt").is_file()
    used = load_config([run / "config.yaml"])
    assert used.detector.params["weights"] == str((out / "best.pt").resolve()) and used.detector.params["iou"] == 0.5
    best = metrics["val"]["best_f1"]
    if best is not None:  # the tracker starts from the validation split's best-F1 score
        assert used.tracker.params["track_thresh"] == round(best["conf"], 3)


def test_track_layer_puts_the_tracker_at_the_best_f1_score(tmp_path: Path):
    from mtmc.detectors.training import write_track_layer

    path = tmp_path / "detector.yaml"
    write_track_layer(path, tmp_path / "best.pt", 320, 0.5, {"conf": 0.4321, "precision": 0.9, "recall": 0.8})
    cfg = load_config([ROOT / "configs" / "lab.yaml", path])
    assert cfg.detector.name == "ultralytics" and cfg.detector.params["imgsz"] == 320
    assert cfg.tracker.name == "botsort"  # the layer keeps the tracker, it only moves its thresholds
    assert cfg.tracker.params["track_thresh"] == 0.432 and cfg.tracker.params["new_track_thresh"] == 0.532
    write_track_layer(path, tmp_path / "best.pt", 320, 0.5, None)  # nothing detected: thresholds untouched
    assert load_config([ROOT / "configs" / "lab.yaml", path]).tracker.params["track_thresh"] == 0.6
