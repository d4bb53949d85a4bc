"""Camera geometry (synthetic round trips) and the dataset calibration readers on real data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import shared_path

from mtmc.calibration import Camera, load_calibration, look_at, save_calibration
from mtmc.calibration_io import (
    read_cmc_calibration,
    read_cmc_projection,
    read_epfl_calibration_txt,
    read_epfl_homography_json,
)
from mtmc.errors import DataError

SIZE = (640, 480)
K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def synthetic_cameras() -> dict[str, Camera]:
    """The same view as a K+dist+R+t camera, a P camera and a homography camera."""
    R, t = look_at([-4.0, -3.0, 3.0], [2.0, 2.0, 0.0])
    krt = Camera.from_krt("krt", K, [-0.05, 0.01, 0.001, -0.001, 0.0], R, t, SIZE)
    P = K @ np.hstack([R, t[:, None]])
    proj = Camera.from_projection("proj", P, SIZE)
    hom = Camera.from_homography("hom", np.linalg.inv(P[:, [0, 1, 3]]), SIZE)
    return {"krt": krt, "proj": proj, "hom": hom}


def visible_ground_points(cam: Camera) -> np.ndarray:
    rng = np.random.default_rng(0)
    xy = rng.uniform([-1.0, -1.0], [6.0, 6.0], size=(400, 2))
    return xy[cam.in_view(xy, margin=20)]


@pytest.mark.parametrize("name", ["krt", "proj", "hom"])
def test_ground_image_round_trip(name):
    cam = synthetic_cameras()[name]
    xy = visible_ground_points(cam)
    assert len(xy) > 50
    np.testing.assert_allclose(cam.image_to_ground(cam.ground_to_image(xy)), xy, atol=1e-4)
    uv = np.array([[100.0, 300.0], [320.0, 240.0], [600.0, 460.0]])
    np.testing.assert_allclose(cam.ground_to_image(cam.image_to_ground(uv)), uv, atol=1e-3)


def test_models_agree_and_distortion_matters():
    cams = synthetic_cameras()
    xy = visible_ground_points(cams["proj"])
    np.testing.assert_allclose(cams["proj"].ground_to_image(xy), cams["hom"].ground_to_image(xy), atol=1e-6)
    # The distorted camera sees the same points elsewhere in the image, but the same ground.
    shift = np.abs(cams["krt"].ground_to_image(xy) - cams["proj"].ground_to_image(xy)).max()
    assert shift > 1.0


@pytest.mark.parametrize("name", ["krt", "proj", "hom"])
def test_in_view_front_behind_outside(name):
    cam = synthetic_cameras()[name]
    pts = np.array([[2.0, 2.0], [-10.0, -8.0], [2.0, 60.0], [40.0, -30.0]])  # target, behind, far, aside
    assert cam.in_view(pts).tolist() == [True, False, False, False]
    assert np.isnan(cam.ground_to_image(pts[1:2])).all()  # behind the camera: no pixel
    assert np.isnan(cam.image_to_ground(np.array([[320.0, 0.0]]))).all()  # above the horizon


def test_calibration_json_round_trip(tmp_path):
    cams = synthetic_cameras()
    path = tmp_path / "calibration.json"
    save_calibration(path, cams, scene="synthetic")
    loaded = load_calibration(path)
    assert set(loaded) == set(cams)
    assert json.loads(path.read_text())["scene"] == "synthetic"
    for name, cam in cams.items():
        xy = visible_ground_points(cam)
        assert loaded[name].image_size == SIZE
        np.testing.assert_allclose(loaded[name].ground_to_image(xy), cam.ground_to_image(xy), atol=1e-6)


@pytest.mark.parametrize(
    "entry, words",
    [
        ({"homography": np.eye(3).tolist()}, "image_size"),
        ({"image_size": [640, 480], "homography": np.zeros((3, 3)).tolist()}, "singular"),
        ({"image_size": [640, 480], "P": np.eye(3).tolist()}, "3x4"),
        ({"image_size": [640, 480], "K": K.tolist()}, "without"),
        ({"image_size": [640, 480]}, "needs"),
    ],
)
def test_bad_calibration_entry_names_camera(tmp_path, entry, words):
    path = tmp_path / "calibration.json"
    path.write_text(
        json.dumps(
            {"cameras": {"good": {"image_size": [4, 4], "homography": np.eye(3).tolist()}, "badcam": entry}}
        )
    )
    with pytest.raises(DataError, match=words) as err:
        load_calibration(path)
    assert "badcam" in str(err.value)


def test_readers_reject_bad_files(tmp_path):
    txt = tmp_path / "calibration-4p.txt"
    txt.write_text("# Camera 0\n# Ground plane homography\n1 0 0\n0 1\n0 0 1\n")
    with pytest.raises(DataError, match="cam0"):
        read_epfl_calibration_txt(txt)
    txt.write_text("# Camera 2\n# Ground plane homography\n0 0 0\n0 0 0\n0 0 0\n")
    with pytest.raises(DataError, match="cam2.*singular"):
        read_epfl_calibration_txt(txt)
    js = tmp_path / "h.json"
    js.write_text(json.dumps({"lab": {"cams": [np.eye(3).tolist(), [[1, 2], [3, 4]]]}}))
    with pytest.raises(DataError, match=r"cam1"):
        read_epfl_homography_json(js, "lab")
    with pytest.raises(DataError, match="'other'"):
        read_epfl_homography_json(js, "other")
    h5py = pytest.importorskip("h5py")
    mat = tmp_path / "cam7_cam_mat.mat"
    with h5py.File(mat, "w") as f:
        f["cam7_cam_mat"] = np.ones((3, 3))
    with pytest.raises(DataError, match="cam7.*3x4"):
        read_cmc_projection(mat)


# -- EPFL laboratory: four homographies, six people, one instant ---------------------------------


def link_views(ground: list[np.ndarray], radius: float) -> list[set[int]]:
    """Groups of views whose ground points are mutual nearest neighbours within ``radius``.

    Returns, per cross-view group (a person seen in >= 2 views), the set of views it spans.
    """
    nodes = [(v, i) for v, g in enumerate(ground) for i in range(len(g)) if np.isfinite(g[i]).all()]
    parent = {n: n for n in nodes}

    def root(n):
        while parent[n] != n:
            n = parent[n]
        return n

    for a in range(len(ground)):
        for b in range(a + 1, len(ground)):
            if not len(ground[a]) or not len(ground[b]):
                continue
            d = np.linalg.norm(ground[a][:, None] - ground[b][None], axis=2)
            d = np.where(np.isnan(d), np.inf, d)
            for i in range(len(ground[a])):
                j = int(np.argmin(d[i]))
                if d[i, j] <= radius and int(np.argmin(d[:, j])) == i:
                    parent[root((a, i))] = root((b, j))
    groups: dict = {}
    for n in nodes:
        groups.setdefault(root(n), set()).add(n[0])
    return [views for views in groups.values() if len(views) >= 2]


@pytest.fixture(scope="module")
def epfl_ground():
    """Foot points of YOLOX-nano person detections in the four synchronised views, on the ground."""
    cv2 = pytest.importorskip("cv2")
    from mtmc.boxes import foot_points
    from mtmc.detectors import DETECTORS
    from mtmc.stages import FrameSet

    root = shared_path("data", "epfl_lab")
    weights = shared_path("weights", "yolox_nano_coco", "yolox_nano.onnx")
    cams = read_epfl_homography_json(root / "epfl_ground_plane_homographies.json", "laboratory_6p")
    images = [cv2.imread(str(root / "six_people_sync" / f"cam{i}.jpg")) for i in range(4)]
    detector = DETECTORS.build("yolox-onnx", {"weights": str(weights), "conf": 0.3, "threads": 1}, scene=None)
    boxes = detector.detect(FrameSet(frame=1, time=0.0, cameras=[0, 1, 2, 3], images=images))
    return [cams[f"cam{i}"].image_to_ground(foot_points(b)) for i, b in enumerate(boxes)]


def test_epfl_txt_and_json_agree():
    root = shared_path("data", "epfl_lab")
    txt = read_epfl_calibration_txt(root / "calibration-4p.txt")
    js = read_epfl_homography_json(root / "epfl_ground_plane_homographies.json", "laboratory_6p")
    assert list(txt) == ["cam0", "cam1", "cam2", "cam3"] == list(js)
    assert all(c.image_size == (360, 288) for c in txt.values())
    for name in ("cam0", "cam1", "cam3"):  # same numbers in both files
        np.testing.assert_allclose(txt[name].H, js[name].H, rtol=1e-9)
    # cam2 was recalibrated for the 6-people sequence: different numbers, nearly the same floor mapping.
    assert not np.allclose(txt["cam2"].H, js["cam2"].H, rtol=1e-3)
    u, v = np.meshgrid(np.linspace(40, 320, 8), np.linspace(150, 280, 6))
    uv = np.stack([u.ravel(), v.ravel()], axis=1)
    gap = np.linalg.norm(txt["cam2"].image_to_ground(uv) - js["cam2"].image_to_ground(uv), axis=1)
    assert np.nanmedian(gap) < 6.0 and np.nanmax(gap) < 15.0  # measured: median 4.5, max 7.9 grid units


def test_epfl_six_people_cross_view_consistency(epfl_ground):
    counts = [len(g) for g in epfl_ground]
    assert sum(counts) >= 20  # measured: 8, 6, 5, 7 person boxes
    people = link_views(epfl_ground, radius=10.0)
    # measured: people linked across >= 2 views: 3 within 10 grid units, 5 within 15, all 6 within 20
    # (YOLOX-nano foot points on 360x288 frames are a few pixels off, i.e. ~5-15 grid units far away).
    assert len(people) >= 3
    assert len(link_views(epfl_ground, radius=15.0)) >= 5
    assert len(link_views(epfl_ground, radius=20.0)) >= 6
    # Broken calibration (x and y swapped in three views) breaks the consistency: measured 2 and 4.
    shuffled = [epfl_ground[0], epfl_ground[1][:, ::-1], epfl_ground[2][:, ::-1], epfl_ground[3][:, ::-1]]
    assert len(link_views(shuffled, radius=10.0)) < len(people)
    assert len(link_views(shuffled, radius=20.0)) < 6


# -- CMC room: four projection matrices, real detections, world-centroid ground truth -----------

ROOM = (7.67, 3.41)


def cmc_cameras() -> dict[str, Camera]:
    pytest.importorskip("h5py")
    return read_cmc_calibration(shared_path("data", "cmc_4cam_room", "calibration"))


def cmc_person_feet(seq: int, cam: int) -> dict[int, np.ndarray]:
    """Per frame, (N, 2) pixel foot points of person detections (score >= 0.5) of one CMC camera."""
    path = shared_path("data", "cmc_4cam_room", "detections_frcnn_resnet50_coco", f"CMC{seq}_Cam_{cam}.csv")
    a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
    a = a[(a[:, 1] == 1) & (a[:, 6] >= 0.5)]
    w, h = 1920, 1024
    feet = np.stack([(a[:, 3] + a[:, 5]) / 2 * w, a[:, 4] * h], axis=1)
    return {int(f): feet[a[:, 0] == f] for f in np.unique(a[:, 0])}


def test_cmc_projection_matrices():
    cams = cmc_cameras()
    assert list(cams) == ["cam1", "cam2", "cam3", "cam4"]
    w, h = ROOM
    for cam in cams.values():
        assert cam.image_size == (1920, 1024)
        c = cam.center  # the cameras hang near the ceiling corners of the 7.67 x 3.41 x 2.7 m room
        assert -0.5 < c[0] < w + 0.5 and -0.5 < c[1] < h + 0.5 and 1.8 < c[2] < 2.7
        assert cam.in_view(np.array([[w / 2, h / 2]]))[0]  # the room centre is seen by every camera
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]])
    seen = sum(int(cam.in_view(corners).sum()) for cam in cams.values())
    assert seen == 8  # measured: each camera sees the two far corners, not the two below it


@pytest.fixture(scope="module")
def cmc1_fused():
    cams = cmc_cameras()
    feet = [cmc_person_feet(1, c) for c in range(1, 5)]
    gt = np.loadtxt(shared_path("data", "cmc_4cam_room", "world_centroid_J", "GT_J_1_1_WORLD_CENTROID.txt"))
    frames = [1, 10, 20, 40, 60, 80, 100]
    ground = {
        f: [cams[f"cam{c + 1}"].image_to_ground(feet[c].get(f, np.zeros((0, 2)))) for c in range(4)]
        for f in frames
    }
    return cams, ground, gt


def test_cmc_gt_centroids_in_view(cmc1_fused):
    cams, _, gt = cmc1_fused
    xyz = gt[:, 7:10]
    assert (xyz[:, :2] > -0.1).all() and (xyz[:, 0] < ROOM[0]).all() and (xyz[:, 1] < ROOM[1]).all()
    for cam in cams.values():
        uv = cam.project(xyz)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 1920) & (uv[:, 1] >= 0) & (uv[:, 1] < 1024)
        assert inside.mean() > 0.95  # measured: 1.0 for every camera


def test_cmc_detections_cluster_across_cameras(cmc1_fused):
    _, ground, _ = cmc1_fused
    near = total = 0
    for views in ground.values():
        for a, g in enumerate(views):
            others = np.vstack([views[b] for b in range(4) if b != a])
            if not len(g) or not len(others):
                continue
            d = np.nanmin(np.linalg.norm(g[:, None] - others[None], axis=2), axis=1)
            near += int((d < 0.75).sum())
            total += len(g)
    # measured: 125 of 136 person detections (7 frames) have a detection from another camera within 0.75 m
    assert total > 80 and near / total > 0.8


def test_cmc_detections_near_gt_centroid(cmc1_fused):
    _, ground, gt = cmc1_fused
    errors = []
    for frame, views in ground.items():
        for x, y in gt[gt[:, 0] == frame][:, 7:9]:
            per_cam = [np.nanmin(np.linalg.norm(g - [x, y], axis=1)) for g in views if len(g)]
            errors.append(np.median(per_cam))  # a foot point per camera, fused by the median
    errors = np.array(errors)
    # measured: 13 GT people in 7 frames, median 0.21 m, max 0.36 m (foot points vs the ellipsoid centroid)
    assert len(errors) >= 10 and np.median(errors) < 0.35 and errors.max() < 0.6
