"""Input detection (video, image folder, MOT sequence, multi-camera scene) and the synchronised reader."""

from __future__ import annotations

import json
import tracemalloc

import cv2
import numpy as np
import pytest
from conftest import shared_path

from mtmc.errors import DataError, MtmcError
from mtmc.io import SyncReader, open_input

W, H = 64, 48


def frame_image(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A flat frame whose grey level encodes its index (survives lossy codecs)."""
    return np.full((h, w, 3), (i * 8) % 250, np.uint8)


def make_video(path, n, fps=10.0, fourcc="mp4v", size=(W, H)):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened()
    for i in range(1, n + 1):
        writer.write(frame_image(i, *size))
    writer.release()
    return path


def make_images(folder, n, size=(W, H), ext=".png"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(1, n + 1):
        cv2.imwrite(str(folder / f"{i:06d}{ext}"), frame_image(i, *size))
    return folder


def grey(image) -> int:
    return int(round(float(image.mean()) / 8))


def seqinfo(folder, fps, length, size=(W, H)):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname={folder.name}\nimDir=img1\nframeRate={fps}\nseqLength={length}\n"
        f"imWidth={size[0]}\nimHeight={size[1]}\nimExt=.png\n"
    )


def homography_json(names):
    return {
        "units": "m",
        "cameras": {n: {"image_size": [W, H], "homography": np.eye(3).tolist()} for n in names},
    }


# ---- the four input kinds -----------------------------------------------------------------------


def test_video_file(tmp_path):
    video = make_video(tmp_path / "lobby.avi", 12, fps=8, fourcc="MJPG")
    scene = open_input(video)
    assert scene.camera_names == ["lobby"] and scene.cameras[0].kind == "video"
    assert (scene.fps, scene.num_frames, scene.cameras[0].image_size) == (8.0, 12, (W, H))
    assert scene.load_gt(0) is None and scene.calibration is None


def test_image_folder(tmp_path):
    folder = make_images(tmp_path / "shots", 7)
    scene = open_input(folder)
    cam = scene.cameras[0]
    assert (cam.name, cam.kind, cam.num_frames, cam.image_size) == ("shots", "images", 7, (W, H))
    assert scene.fps == 30.0 and any("assuming 30 fps" in w for w in scene.warnings)
    frames = list(SyncReader(scene))
    assert [grey(f.images[0]) for f in frames] == list(range(1, 8))


def test_mot_sequence_folder(tmp_path):
    seq = shared_path("data", "mot17_mini", "train", "MOT17-09-FRCNN")
    scene = open_input(seq)
    cam = scene.cameras[0]
    assert cam.name == "MOT17-09-FRCNN" and cam.kind == "images"
    assert cam.image_size == (1920, 1080) and scene.fps == 30
    assert scene.num_frames == len(list((seq / "img1").iterdir()))
    assert any(
        "seqLength=525" in w for w in scene.warnings
    )  # trimmed copy: img1 is shorter than seqinfo says
    gt = scene.load_gt(0)
    assert len(gt) and (gt["camera"] == 0).all() and (gt["cls"] == 1).all()
    # annotation-only sequence (no img1/): length from seqinfo, frames decode to None
    eth = open_input(shared_path("data", "mot15", "train", "ETH-Bahnhof"))
    assert eth.cameras[0].media is None and eth.num_frames == 1000
    first = next(iter(SyncReader(eth, start=5, end=6)))
    assert first.frame == 5 and first.images == [None]


def test_multi_camera_scene(tmp_path):
    root = tmp_path / "scene"
    make_video(root / "cam1" / "video.mp4", 10, fps=10)
    make_video(root / "cam0" / "video.avi", 10, fps=10, fourcc="MJPG")
    seqinfo(root / "cam2", 10, 10)
    make_images(root / "cam2" / "img1", 10)
    (root / "cam1" / "gt").mkdir()
    (root / "cam1" / "gt" / "gt.txt").write_text("1,5,1,2,10,20,1,1,1.0\n2,5,2,2,10,20,1,1,1.0\n")
    (root / "notes").mkdir()
    (root / "calibration.json").write_text(json.dumps(homography_json(["cam0", "cam1", "cam2"])))
    (root / "world_gt.txt").write_text("1,5,0.5,1.5\n2,5,0.6,1.5\n")
    (root / "scene.json").write_text(json.dumps({"name": "lab", "fps": 10, "room": [5, 4]}))
    scene = open_input(root)
    assert scene.name == "lab" and scene.meta["room"] == [5, 4]
    assert scene.camera_names == ["cam0", "cam1", "cam2"]
    assert [c.kind for c in scene.cameras] == ["video", "video", "images"]
    assert [c.index for c in scene.cameras] == [0, 1, 2]
    assert (scene.fps, scene.num_frames) == (10.0, 10)
    assert sorted(scene.calibration) == ["cam0", "cam1", "cam2"]
    assert scene.camera_calibration(1).name == "cam1"
    assert scene.warnings == ["ignored folder notes/: no video, images, seqinfo.ini, gt or det in it"]
    gt = scene.load_gt(1)
    assert gt["camera"].tolist() == [1, 1] and gt["id"].tolist() == [5, 5]
    assert scene.load_gt(0) is None
    world = scene.load_world_gt()
    assert world["gx"].tolist() == [0.5, 0.6] and world["frame"].tolist() == [1, 2]
    # synchronised: every camera shows the same frame index at each step
    for fs in SyncReader(scene):
        assert fs.cameras == ["cam0", "cam1", "cam2"]
        assert fs.time == pytest.approx((fs.frame - 1) / 10)
        assert [grey(img) for img in fs.images] == [fs.frame] * 3
    part = list(SyncReader(scene, start=4, end=6))
    assert [fs.frame for fs in part] == [4, 5, 6]
    assert [grey(img) for img in part[0].images] == [4, 4, 4]  # video streams positioned at `start`
    fast = list(SyncReader(scene, decode=False))
    assert len(fast) == 10 and all(fs.images == [None, None, None] for fs in fast)


def test_folder_of_videos_is_one_camera_per_video(tmp_path):
    make_video(tmp_path / "b.mp4", 5)
    make_video(tmp_path / "a.mp4", 5)
    assert open_input(tmp_path).camera_names == ["a", "b"]


def test_calibration_camera_mismatch_is_reported(tmp_path):
    make_video(tmp_path / "cam0" / "v.mp4", 4)
    make_video(tmp_path / "cam1" / "v.mp4", 4)
    (tmp_path / "calibration.json").write_text(json.dumps(homography_json(["cam0", "camX"])))
    scene = open_input(tmp_path)
    assert any("'camX' is not in the scene" in w for w in scene.warnings)
    assert any("no calibration for camera 'cam1'" in w for w in scene.warnings)
    assert scene.camera_calibration(1) is None


# ---- errors -------------------------------------------------------------------------------------


def test_input_errors(tmp_path):
    with pytest.raises(DataError, match="input not found"):
        open_input(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: nothing recognisable"):
        open_input(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="not a video file"):
        open_input(tmp_path / "notes.txt")
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 2000)
    with pytest.raises(DataError, match="broken.mp4: cannot open video"):
        open_input(tmp_path / "broken.mp4")


def test_camera_with_two_videos(tmp_path):
    make_video(tmp_path / "s" / "cam0" / "a.mp4", 3)
    make_video(tmp_path / "s" / "cam0" / "b.mp4", 3)
    with pytest.raises(DataError, match=r"cam0: camera folder holds 2 videos \(a.mp4, b.mp4\)"):
        open_input(tmp_path / "s")


def test_mismatched_fps_is_an_error(tmp_path):
    make_video(tmp_path / "cam0" / "v.mp4", 5, fps=10)
    make_video(tmp_path / "cam1" / "v.mp4", 5, fps=25)
    with pytest.raises(DataError, match=r"different frame rates \(cam0=10, cam1=25\)"):
        open_input(tmp_path)


def test_mismatched_lengths_use_longest(tmp_path):
    make_video(tmp_path / "cam0" / "v.mp4", 8)
    make_video(tmp_path / "cam1" / "v.mp4", 5)
    scene = open_input(tmp_path)
    assert scene.num_frames == 8
    assert any("camera cam1 has 5 frames, the scene 8" in w for w in scene.warnings)
    frames = list(SyncReader(scene))
    assert [fs.images[1] is None for fs in frames] == [False] * 5 + [True] * 3
    assert all(fs.images[0] is not None for fs in frames)


def test_truncated_video_names_file_and_frame(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for _ in range(30):
        writer.write(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))  # noise: large frames
    writer.release()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    scene = open_input(path)
    assert scene.num_frames == 30  # the container still announces 30 frames
    with pytest.raises(DataError, match=r"cut.avi: cannot decode frame \d+ of 30 \(video truncated"):
        for _ in SyncReader(scene):
            pass


def test_reader_range_checked(tmp_path):
    scene = open_input(make_video(tmp_path / "v.mp4", 5))
    with pytest.raises(MtmcError, match="outside the scene's frames 1..5"):
        SyncReader(scene, start=2, end=9)
    with SyncReader(scene, start=5) as reader:
        assert len(reader) == 1 and [fs.frame for fs in reader] == [5]


def test_reader_memory_is_flat(tmp_path):
    size, n = (320, 240), 60
    scene = open_input(make_video(tmp_path / "long.avi", n, fourcc="MJPG", size=size))
    frame_bytes = size[0] * size[1] * 3
    tracemalloc.start()
    try:
        count = 0
        for fs in SyncReader(scene):
            assert fs.images[0].shape == (240, 320, 3)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 8 * frame_bytes, f"peak {peak} bytes while streaming {n} frames of {frame_bytes} bytes"


def test_scene_json_rules(tmp_path):
    make_images(tmp_path / "cam0" / "images", 4)
    make_video(tmp_path / "cam1" / "v.mp4", 4, fps=10)
    (tmp_path / "scene.json").write_text(json.dumps({"fps": 10, "num_frames": 6}))
    scene = open_input(tmp_path)
    assert scene.cameras[0].kind == "images" and scene.cameras[0].fps == 10  # images take the scene's rate
    assert scene.num_frames == 6 and sum("the scene 6" in w for w in scene.warnings) == 2
    (tmp_path / "scene.json").write_text(json.dumps({"fps": 25}))
    with pytest.raises(DataError, match=r"scene.json: fps 25 but camera cam1 runs at 10 fps"):
        open_input(tmp_path)
    (tmp_path / "scene.json").write_text('{"fps": 10,}')
    with pytest.raises(DataError, match=r"scene.json:1: invalid JSON"):
        open_input(tmp_path)


# ---- background decoding ------------------------------------------------------------------------


def decoding_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "mtmc-decode" and t.is_alive()]


def test_background_decoding_gives_the_frames_of_sync_reading(tmp_path, monkeypatch):
    import threading

    import mtmc.io.reader as reader

    make_video(tmp_path / "cam0" / "v.avi", 12, fourcc="MJPG")
    make_video(tmp_path / "cam1" / "v.mp4", 9)  # shorter: None after its last frame
    make_images(tmp_path / "cam2" / "img1", 12)
    scene = open_input(tmp_path)
    sync = list(SyncReader(scene, prefetch=0))
    decoders = set()
    read = reader._VideoStream.read

    def traced(self, frame):
        decoders.add(threading.current_thread().name)
        return read(self, frame)

    monkeypatch.setattr(reader._VideoStream, "read", traced)
    background = list(SyncReader(scene, start=1, prefetch=2))
    assert decoders == {"mtmc-decode"}  # decoded off the consumer's thread
    assert [fs.frame for fs in background] == [fs.frame for fs in sync] == list(range(1, 13))
    for a, b in zip(sync, background):
        assert a.cameras == b.cameras and a.time == b.time
        assert all((x is None and y is None) or np.array_equal(x, y) for x, y in zip(a.images, b.images))
    assert background[-1].images[1] is None and not decoding_threads()


def test_decoding_error_surfaces_in_the_consumer_as_the_same_error(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "cut.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    for _ in range(30):
        writer.write(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    writer.release()
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    scene = open_input(path)
    errors = []
    for prefetch in (0, 2):
        seen = 0
        with pytest.raises(DataError) as err:
            for _ in SyncReader(scene, prefetch=prefetch):
                seen += 1
        errors.append((type(err.value), str(err.value), seen))
    assert errors[0] == errors[1] and "cannot decode frame" in errors[0][1]
    assert not decoding_threads()


def test_leaving_the_loop_stops_the_decoding_thread(tmp_path):
    scene = open_input(make_video(tmp_path / "v.avi", 40, fourcc="MJPG"))
    with SyncReader(scene, prefetch=2) as reader:
        for fs in reader:
            if fs.frame == 3:
                break
    assert not decoding_threads()
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the consumer: the thread ends, captures close
        for fs in SyncReader(scene, prefetch=2):
            if fs.frame == 5:
                raise KeyboardInterrupt
    assert not decoding_threads()
    with pytest.raises(MtmcError, match="prefetch"):
        SyncReader(scene, prefetch=-1)
