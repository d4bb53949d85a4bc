"""OpenCV storage import, K + R + t files, point-pair homographies, reprojection checks, `mtmc calibrate`."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import shared_path

from mtmc.calibration import Camera, load_calibration, look_at
from mtmc.calibration_tools import (
    camera_from_krt_files,
    camera_from_point_pairs,
    read_opencv_camera,
    reprojection_errors,
)
from mtmc.cli.main import main
from mtmc.errors import DataError

SIZE = (640, 480)
K = np.array([[500.0, 0, 320], [0, 500.0, 240], [0, 0, 1]])


def _pose():
    return look_at([-4.0, -3.0, 3.0], [2.0, 2.0, 0.0])


def _write_storage(path, **nodes):
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_WRITE)
    for name, value in nodes.items():
        fs.write(name, np.asarray(value, dtype=np.float64))
    fs.release()


@pytest.mark.parametrize("ext", ["xml", "yml"])
def test_opencv_storage_rvec_in_cm_matches_the_metre_camera(tmp_path, ext):
    R, t = _pose()
    truth = Camera.from_krt("cam", K, None, R, t, SIZE)
    rvec = cv2.Rodrigues(R)[0]
    _write_storage(tmp_path / f"intr.{ext}", camera_matrix=K, distortion_coefficients=np.zeros(5))
    _write_storage(tmp_path / f"extr.{ext}", rvec=rvec, tvec=t * 100.0)
    cam = read_opencv_camera("cam", [tmp_path / f"intr.{ext}", tmp_path / f"extr.{ext}"], SIZE, units="cm")
    xy = np.array([[1.0, 2.0], [3.0, 0.5], [2.0, 2.0]])
    np.testing.assert_allclose(cam.ground_to_image(xy), truth.ground_to_image(xy), atol=1e-6)
    np.testing.assert_allclose(cam.t, t, atol=1e-9)


def test_opencv_storage_errors_name_file_and_node(tmp_path):
    _write_storage(tmp_path / "intr.xml", camera_matrix=K)
    with pytest.raises(DataError, match="no rvec or R, tvec or t node"):
        read_opencv_camera("cam", [tmp_path / "intr.xml"], SIZE)
    _write_storage(tmp_path / "bad.xml", camera_matrix=K, R=np.ones((3, 3)), t=[0, 0, 1])
    with pytest.raises(DataError, match="not a rotation"):
        read_opencv_camera("cam", [tmp_path / "bad.xml"], SIZE)
    (tmp_path / "junk.xml").write_text("<opencv_storage><rvec>1 2</opencv_storage>")
    with pytest.raises(DataError, match="junk.xml"):
        read_opencv_camera("cam", [tmp_path / "junk.xml"], SIZE)


def test_krt_files_and_point_pairs_reproduce_the_camera(tmp_path):
    R, t = _pose()
    truth = Camera.from_krt("cam", K, None, R, t, SIZE)
    np.savetxt(tmp_path / "K.txt", K)
    np.savetxt(tmp_path / "R.txt", cv2.Rodrigues(R)[0].ravel())  # a Rodrigues vector works too
    np.savetxt(tmp_path / "t.txt", t * 1000.0)
    cam = camera_from_krt_files("cam", tmp_path / "K.txt", tmp_path / "R.txt", tmp_path / "t.txt", SIZE, units="mm")
    xy = np.array([[0.0, 0.0], [1.0, 3.0], [4.0, 1.0], [3.0, 3.0], [2.0, 0.5]])
    uv = truth.ground_to_image(xy)
    np.testing.assert_allclose(cam.ground_to_image(xy), uv, atol=1e-6)
    hom = camera_from_point_pairs("cam", uv, xy, SIZE)
    np.testing.assert_allclose(hom.image_to_ground(uv), xy, atol=1e-6)
    np.testing.assert_allclose(reprojection_errors(hom, xy, uv + [3.0, 4.0]), 5.0, atol=1e-4)
    with pytest.raises(DataError, match="at least 4"):
        camera_from_point_pairs("cam", uv[:3], xy[:3], SIZE)
    with pytest.raises(DataError, match="collinear"):
        camera_from_point_pairs("cam", np.tile(uv[:1], (4, 1)), xy[:4], SIZE)


def test_cli_builds_and_checks_a_calibration(tmp_path, capsys):
    R, t = _pose()
    truth = Camera.from_krt("cam", K, None, R, t, SIZE)
    xy = np.array([[0.0, 0.0], [1.0, 3.0], [4.0, 1.0], [3.0, 3.0], [2.0, 0.5]])
    uv = truth.ground_to_image(xy)
    np.savetxt(tmp_path / "pairs.txt", np.hstack([uv, xy * 100]), delimiter=",")
    np.savetxt(tmp_path / "check.txt", np.hstack([xy * 100, uv + [0.0, 2.0]]), delimiter=",")
    out = tmp_path / "calibration.json"
    assert main(["calibrate", "points", "--camera", "hom", "--pairs", str(tmp_path / "pairs.txt"),
                 "--image-size", "640x480", "--units", "cm", "-o", str(out)]) == 0
    _write_storage(tmp_path / "cam.yml", camera_matrix=K, rvec=cv2.Rodrigues(R)[0], tvec=t)
    assert main(["calibrate", "opencv", "--camera", "cv", str(tmp_path / "cam.yml"), "--image-size", "640x480",
                 "-o", str(out)]) == 0
    assert sorted(load_calibration(out)) == ["cv", "hom"]
    capsys.readouterr()
    assert main(["calibrate", "check", str(out), "--points", "cv", str(tmp_path / "check.txt"), "--units", "cm"]) == 0
    assert "median 2.00 px" in capsys.readouterr().out
    assert main(["calibrate", "check", str(out), "--points", "cv", str(tmp_path / "check.txt"), "--units", "cm",
                 "--max-error", "1"]) == 1
    assert main(["calibrate", "check", str(out), "--points", "nope", str(tmp_path / "check.txt")]) == 2
    assert "camera 'nope' not in the calibration" in capsys.readouterr().err
    assert json.loads(out.read_text())["units"] == "m"


def test_wildtrack_opencv_xml_reproduces_the_readme_check():
    """README: a positionID's ground point lands on the bottom centre of the person's box (frame 0)."""
    from mtmc.io.wildtrack import VIEWS, position_to_ground, read_calibration

    root = shared_path("data", "wildtrack")
    cameras = read_calibration(root)
    people = json.loads((root / "annotations_positions" / "00000000.json").read_text())
    for num, view in enumerate(VIEWS):
        du, dv = [], []
        for person in people:
            box = person["views"][num]
            if box["xmin"] == -1 or box["ymax"] >= 1080:
                continue
            uv = cameras[view].ground_to_image(position_to_ground([person["positionID"]]))[0]
            du.append(abs(uv[0] - (box["xmin"] + box["xmax"]) / 2))
            dv.append(abs(uv[1] - box["ymax"]))
        assert len(dv) >= 5, view
        assert np.median(dv) < 2.0, (view, np.median(dv))  # README: 0.6-0.9 px
        assert np.median(du) < 20.0, (view, np.median(du))  # README: 3-16 px
