"""Synthetic multi-camera scenes: determinism, geometry, ids, occlusion, re-entry, crops, CLI."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from mtmc.boxes import foot_points
from mtmc.calibration import load_calibration
from mtmc.config import from_dict
from mtmc.errors import ConfigError, MtmcError
from mtmc.io.mot import read_mot
from mtmc.io.seqinfo import read_seqinfo
from mtmc.synth import SceneModel, SynthConfig, export_reid_crops, generate_scene
from mtmc.synth.body import build_body

# A busy little room: short visits and absences so that people leave and come back within seconds.
BUSY = dict(duration=14.0, cameras=3, size=(320, 240), people=6, max_present=3, initial_present=2,
            visit_seconds=(3.0, 5.0), away_seconds=(1.0, 2.5), entry_gap=0.8, seed=5)


@pytest.fixture(scope="module")
def busy_scene(tmp_path_factory) -> Path:
    return generate_scene(SynthConfig(**BUSY), tmp_path_factory.mktemp("synth") / "busy", workers=1)


def _world(scene: Path) -> dict[tuple[int, int], np.ndarray]:
    rows = np.loadtxt(scene / "world_gt.txt", delimiter=",", ndmin=2)
    return {(int(f), int(i)): np.array([x, y]) for f, i, x, y in rows}


def test_scene_layout_and_readers(busy_scene: Path):
    cfg = SynthConfig(**BUSY)
    cams = load_calibration(busy_scene / "calibration.json")
    assert list(cams) == ["cam0", "cam1", "cam2"]
    raw = json.loads((busy_scene / "calibration.json").read_text())
    assert all("homography" in c and "K" in c for c in raw["cameras"].values())
    meta = json.loads((busy_scene / "scene.json").read_text())
    assert meta["num_frames"] == cfg.num_frames and meta["fps"] == 15.0 and meta["seed"] == 5
    assert meta["room"]["size"] == [5.0, 6.0] and len(meta["people"]) == 6
    for name in cams:
        info = read_seqinfo(busy_scene / name / "seqinfo.ini")
        assert info.seq_length == cfg.num_frames and info.image_size == (320, 240)
        gt = read_mot(busy_scene / name / "gt" / "gt.txt", kind="gt")
        assert len(gt) > 0 and (gt["vis"] > 0).all() and (gt["vis"] <= 1).all()
        assert (gt["x"] >= 0).all() and (gt["x"] + gt["w"] <= 320.01).all() and (gt["y"] + gt["h"] <= 240.01).all()
        cap = cv2.VideoCapture(str(busy_scene / name / "video.mp4"))
        ok, frame = cap.read()
        assert ok and frame.shape == (240, 320, 3)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == cfg.num_frames
        cap.release()
    assert not list(busy_scene.parent.glob(".*partial*"))  # the staging folder was renamed away


def test_foot_point_projects_to_world_position(busy_scene: Path):
    """The full-extent boxes (gt_full.txt) keep the exact ground point; tight boxes are rows for rows."""
    cams = load_calibration(busy_scene / "calibration.json")
    world = _world(busy_scene)
    checked = 0
    for name, cam in cams.items():
        tight = read_mot(busy_scene / name / "gt" / "gt.txt", kind="gt")
        gt = read_mot(busy_scene / name / "gt" / "gt_full.txt", kind="gt")
        assert np.array_equal(tight[["frame", "id"]], gt[["frame", "id"]]) and np.array_equal(tight["vis"], gt["vis"])
        assert (tight["w"] < gt["w"]).mean() > 0.9  # the full-extent box is wider than the body
        w, h = cam.image_size
        full = gt[(gt["vis"] > 0.999) & (gt["x"] > 1) & (gt["y"] > 1) & (gt["x"] + gt["w"] < w - 1)
                  & (gt["y"] + gt["h"] < h - 1)]
        ground = cam.image_to_ground(foot_points(full))
        truth = np.array([world[(int(f), int(i))] for f, i in zip(full["frame"], full["id"])])
        err = np.linalg.norm(ground - truth, axis=1)
        assert err.max() < 0.03, f"{name}: foot point off by {err.max():.3f} m"
        checked += len(full)
    assert checked > 100


def test_same_person_same_id_in_every_camera(busy_scene: Path):
    cams = load_calibration(busy_scene / "calibration.json")
    world = _world(busy_scene)
    ground_by_key = defaultdict(list)
    for name, cam in cams.items():
        tight = read_mot(busy_scene / name / "gt" / "gt.txt", kind="gt")
        assert all((int(f), int(i)) in world for f, i in zip(tight["frame"], tight["id"]))
        gt = read_mot(busy_scene / name / "gt" / "gt_full.txt", kind="gt")  # exact ground points
        assert all((int(f), int(i)) in world for f, i in zip(gt["frame"], gt["id"]))  # global ids only
        w, h = cam.image_size
        inside = gt[(gt["y"] + gt["h"] < h - 1) & (gt["x"] > 1) & (gt["x"] + gt["w"] < w - 1)]
        for key, g in zip(zip(inside["frame"].tolist(), inside["id"].tolist()), cam.image_to_ground(foot_points(inside))):
            ground_by_key[key].append(g)
    shared = [np.ptp(np.array(v), axis=0).max() for v in ground_by_key.values() if len(v) >= 2]
    assert len(shared) > 50  # many (frame, id) pairs are seen by two or more cameras ...
    assert max(shared) < 0.05  # ... and every camera puts that id at the same floor point


def test_reentry_and_crowd_limit(busy_scene: Path):
    meta = json.loads((busy_scene / "scene.json").read_text())
    visits = {p["id"]: p["visits"] for p in meta["people"]}
    assert any(len(v) >= 2 for v in visits.values()), visits  # someone left and came back ...
    rows = np.loadtxt(busy_scene / "world_gt.txt", delimiter=",", ndmin=2)
    frames = rows[:, 0].astype(int)
    per_frame = np.bincount(frames)
    assert per_frame.max() <= BUSY["max_present"]
    for pid, spans in visits.items():  # ... under the same id, with a gap in world_gt
        if len(spans) >= 2:
            present = set(frames[rows[:, 1] == pid].tolist())
            assert spans[0][1] + 1 not in present and spans[1][0] in present


def test_deterministic_for_a_seed(tmp_path: Path):
    small = dict(duration=2.0, cameras=2, size=(160, 120), people=3, seed=11)
    a = generate_scene(SynthConfig(**small), tmp_path / "a", workers=1)
    b = generate_scene(SynthConfig(**small), tmp_path / "b", workers=2)  # also: workers do not change output
    c = generate_scene(SynthConfig(**dict(small, seed=12)), tmp_path / "c", workers=1)
    for name in ("cam0", "cam1"):
        gt_a = (a / name / "gt" / "gt.txt").read_bytes()
        assert gt_a == (b / name / "gt" / "gt.txt").read_bytes()
        assert gt_a != (c / name / "gt" / "gt.txt").read_bytes()
    assert (a / "world_gt.txt").read_bytes() == (b / "world_gt.txt").read_bytes()
    assert (a / "calibration.json").read_bytes() == (b / "calibration.json").read_bytes()
    frames = [SceneModel(SynthConfig(**s)).render(1)[0][0] for s in (small, small, dict(small, seed=12))]
    assert np.array_equal(frames[0], frames[1])
    assert not np.array_equal(frames[0], frames[2])


def _two_people(cfg: SynthConfig):
    """A model with 2 identities and the camera 0 view; positions chosen by the tests."""
    model = SceneModel(cfg)
    return model, model.view(0), model.cameras["cam0"]


def _render(view, model, placements):
    bodies = [build_body(model.identities[k], x, y, hd, 0.0, 0.0, sit) for k, (x, y, hd, sit) in enumerate(placements)]
    ground = np.array([[p[0], p[1]] for p in placements])
    sit = np.array([p[3] for p in placements])
    image, tight, full = view.render(1, bodies, [1, 2][: len(bodies)], ground, sit, draw=True)
    return image, {int(b["id"]): b for b in tight}, {int(b["id"]): b for b in full}


def test_occlusion_lowers_visibility_and_sitting_lowers_the_box():
    cfg = SynthConfig(duration=1.0, cameras=1, people=2, furniture=False, initial_present=0, seed=3)
    model, view, cam = _two_people(cfg)
    c = cam.center
    target = np.array([2.5, 3.0])
    near = c[:2] + (target - c[:2]) * 0.55
    far = c[:2] + (target - c[:2]) * 0.9  # on the same line of sight, farther away
    _, alone, alone_full = _render(view, model, [(far[0], far[1], 0.0, 0.0)])
    _, both, _ = _render(view, model, [(far[0], far[1], 0.0, 0.0), (near[0], near[1], 0.0, 0.0)])
    assert alone[1]["vis"] > 0.99
    assert both[2]["vis"] > 0.99 and both[1]["vis"] < 0.8  # a high camera still sees the far head
    _, sitting, sitting_full = _render(view, model, [(far[0], far[1], 0.0, 1.0)])
    assert sitting[1]["h"] < 0.85 * alone[1]["h"]
    foot = [b[1]["y"] + b[1]["h"] for b in (sitting_full, alone_full)]
    assert abs(foot[0] - foot[1]) < 0.5  # the full-extent box keeps the ground point of a sitting person


def test_gt_box_is_the_bounds_of_the_silhouette():
    """The tight gt box equals the bounds of the person's mask (alpha >= 128) within 1 px, also when cut by
    the image border; the mask is what the person adds to an empty (noise-free) background."""
    cfg = SynthConfig(duration=1.0, cameras=1, people=2, furniture=False, initial_present=0, seed=3, noise=0.0)
    model, view, cam = _two_people(cfg)
    empty = view.backgrounds[0].astype(int)
    corner = np.array(cam.image_size, float)
    checked = cut = 0
    for frac in (0.12, 0.35, 0.6, 0.9):  # 0.12: so close that the image cuts the legs off
        pos = cam.center[:2] + (np.array([2.5, 3.0]) - cam.center[:2]) * frac
        for heading in (0.0, 1.2):
            image, tight, full = _render(view, model, [(pos[0], pos[1], heading, 0.0)])
            if 1 not in tight:
                continue
            # alpha >= 128 changes a pixel by at least half the colour difference: threshold loosely, then
            # compare bounds with 1 px of tolerance (anti-aliased edge pixels).
            changed = np.abs(image.astype(int) - empty).max(axis=2) > 12
            rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
            mask_box = np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], float)
            b = tight[1]
            box = np.array([b["x"], b["y"], b["x"] + b["w"], b["y"] + b["h"]])
            assert np.abs(box - mask_box).max() <= 1.0, (frac, heading, box, mask_box)
            assert (box >= 0).all() and (box[2:] <= corner).all()
            f = full[1]
            assert f["w"] > b["w"]  # the old full-extent box is wider than the body
            checked += 1
            cut += bool(box[3] >= corner[1] - 0.5 or box[0] <= 0.5 or box[2] >= corner[0] - 0.5)
    assert checked >= 6 and cut >= 1


def test_drawing_depends_on_heading():
    cfg = SynthConfig(duration=1.0, cameras=1, people=2, furniture=False, initial_present=0, seed=4, noise=0.0)
    model, view, cam = _two_people(cfg)
    pos = cam.center[:2] + (np.array([2.5, 3.0]) - cam.center[:2]) * 0.7
    toward = float(np.arctan2(*(cam.center[:2] - pos)[::-1]))
    img_front, b, _ = _render(view, model, [(pos[0], pos[1], toward, 0.0)])
    img_back, _, _ = _render(view, model, [(pos[0], pos[1], toward + np.pi, 0.0)])
    x0, y0 = int(b[1]["x"]), int(b[1]["y"])
    x1, y1 = int(b[1]["x"] + b[1]["w"]), int(b[1]["y"] + b[1]["h"])
    diff = np.abs(img_front[y0:y1, x0:x1].astype(int) - img_back[y0:y1, x0:x1].astype(int)).mean()
    assert diff > 5.0  # face vs hair, front print vs plain back / backpack


def test_reid_crops_layout(tmp_path: Path):
    cfg = SynthConfig(cameras=3, seed=2, max_present=6)
    summary = export_reid_crops(cfg, tmp_path / "crops", train_ids=4, test_ids=3, every=8, min_height=40)
    root = tmp_path / "crops"
    pattern = re.compile(r"^(\d{4})_c(\d)s1_(\d{6})_00\.jpg$")
    parsed = {}
    for split in ("bounding_box_train", "query", "bounding_box_test"):
        names = sorted(p.name for p in (root / split).iterdir())
        assert names, split
        assert all(pattern.match(n) for n in names)
        parsed[split] = [tuple(int(v) for v in pattern.match(n).groups()) for n in names]
        assert len(names) == summary["images"][split]
    train_ids = {p for p, _, _ in parsed["bounding_box_train"]}
    test_ids = {p for p, _, _ in parsed["bounding_box_test"]}
    assert train_ids <= set(range(1, 5)) and test_ids <= set(range(5, 8)) and not train_ids & test_ids
    assert len(train_ids) >= 3 and len(test_ids) >= 2
    for pid, cam, _ in parsed["query"]:
        assert pid in test_ids
        assert any(g_pid == pid and g_cam != cam for g_pid, g_cam, _ in parsed["bounding_box_test"])
    assert {c for _, c, _ in parsed["bounding_box_train"]} >= {1, 2}
    crop = cv2.imread(str(root / "query" / sorted((root / "query").iterdir())[0].name))
    assert crop is not None and crop.shape[0] >= 40


def test_crop_people_are_not_scene_people():
    """A ReID model trained on `--reid-crops` must not have seen the people of a test scene."""
    from mtmc.synth.appearance import CROP_POPULATION, make_identities

    scene = make_identities(0, 12)
    crops = make_identities(0, 12, population=CROP_POPULATION)
    assert [p.pid for p in scene] == [p.pid for p in crops]
    for a, b in zip(scene, crops):
        assert not np.array_equal(a.front_tex, b.front_tex)
    again = make_identities(0, 12)  # scenes are unchanged by the population knob
    assert all(np.array_equal(a.front_tex, b.front_tex) for a, b in zip(scene, again))


def test_config_validation():
    with pytest.raises(ConfigError, match="cameras"):
        from_dict(SynthConfig, {"cameras": 0})
    with pytest.raises(ConfigError, match="camera_height"):
        from_dict(SynthConfig, {"camera_height": [3.5, 2.0]})
    with pytest.raises(ConfigError, match="size"):
        from_dict(SynthConfig, {"size": [640]})
    assert from_dict(SynthConfig, {"room": [4, 5]}).room == (4.0, 5.0)


def test_cli_smoke(tmp_path: Path, capsys):
    from mtmc.cli.main import main

    out = tmp_path / "cli"
    code = main(["synth", str(out), "noise=0", "room=[4, 5]", "--duration", "1", "--cameras", "1", "--size",
                 "160x120", "--quiet", "--workers", "1", "--format", "images"])
    assert code == 0
    assert len(list((out / "cam0" / "img1").glob("*.jpg"))) == 15
    assert json.loads((out / "scene.json").read_text())["room"]["size"] == [4.0, 5.0]
    assert main(["synth", str(out), "--duration", "1"]) == 2  # exists, no --overwrite
    assert main(["synth", str(tmp_path / "x"), "--size", "big"]) == 2
    assert main(["synth", str(tmp_path / "x"), "max_present=0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("mtmc synth: error:") for line in err)
    with pytest.raises(SystemExit):
        main(["synth", "--help"])
    with pytest.raises(MtmcError):
        generate_scene(SynthConfig(duration=1, cameras=1, size=(160, 120)), out)  # not empty
