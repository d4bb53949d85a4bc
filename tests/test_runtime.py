"""mtmc.runtime without Ray: batch mode (resumable, one table), camera groups, the missing-Ray hint."""

from __future__ import annotations

import json
import sys

from conftest import SIMULATED

from mtmc.cli.main import main
from mtmc.runtime.ray_executor import camera_groups


def test_camera_groups_are_contiguous_and_balanced():
    assert camera_groups(8, 2) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert camera_groups(5, 2) == [[0, 1, 2], [3, 4]]
    assert camera_groups(3, 0) == [[0], [1], [2]]  # 0: one worker per camera
    assert camera_groups(2, 8) == [[0], [1]]  # never an idle worker


def test_ray_missing_says_how_to_install_it(two_camera_scene, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["track", str(two_camera_scene), *SIMULATED, "-o", str(tmp_path / "r"), "--quiet", "runtime.executor=ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'pip install "mtmc[ray]"' in err[0]


def test_runtime_config_is_checked(two_camera_scene, tmp_path, capsys):
    assert main(["track", str(two_camera_scene), *SIMULATED, "-o", str(tmp_path / "r"), "runtime.executor=spark"]) == 2
    assert "runtime.executor: expected one of 'local', 'ray'" in capsys.readouterr().err
    assert main(["track", str(two_camera_scene), *SIMULATED, "-o", str(tmp_path / "r"), "runtime.max_in_flight=0"]) == 2
    assert "runtime.max_in_flight" in capsys.readouterr().err


def test_batch_runs_each_scene_once_and_resumes(two_camera_scene, tmp_path, capsys):
    folder, out = tmp_path / "scenes", tmp_path / "out"
    folder.mkdir()
    for name in ("a", "b", "c"):
        (folder / name).symlink_to(two_camera_scene, target_is_directory=True)
    (folder / "notes.txt").write_text("not a video: ignored\n")
    # b finished in an earlier batch; c was interrupted (outputs half written, no summary.json)
    assert main(["track", str(folder / "b"), *SIMULATED, "-o", str(out / "b"), "--quiet"]) == 0
    done_before = (out / "b" / "summary.json").read_bytes()
    (out / "c" / "tracks").mkdir(parents=True)
    (out / "c" / "tracks" / "cam0.txt").write_text("1,1,garbage\n")
    capsys.readouterr()

    assert main(["track", str(folder), *SIMULATED, "--batch", "-o", str(out), "--eval", "runtime.num_workers=2"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].split()[:2] == ["job", "status"] and "IDF1" in lines[0]
    assert [line.split()[:2] for line in lines[1:]] == [["a", "done"], ["b", "skipped"], ["c", "done"]]
    assert "3 jobs, 1 already done, 2 to run" in captured.err
    assert (out / "b" / "summary.json").read_bytes() == done_before  # not run again
    reference = (out / "b" / "global.txt").read_bytes()
    assert (out / "a" / "global.txt").read_bytes() == reference
    assert (out / "c" / "global.txt").read_bytes() == reference
    assert (out / "c" / "tracks" / "cam0.txt").read_bytes() == (out / "b" / "tracks" / "cam0.txt").read_bytes()
    jobs = json.loads((out / "batch.json").read_text())["jobs"]
    assert [j["status"] for j in jobs] == ["done", "skipped", "done"]

    # a batch with another config must not mix its results into these
    assert main(["track", str(folder), *SIMULATED, "--batch", "-o", str(out), "--quiet", "tracker.name=sort"]) == 2
    assert "tracked with another config" in capsys.readouterr().err


def test_batch_reports_failed_jobs_and_fails_at_the_end(two_camera_scene, tmp_path, capsys):
    folder = tmp_path / "scenes"
    folder.mkdir()
    (folder / "good").symlink_to(two_camera_scene, target_is_directory=True)
    (folder / "empty").mkdir()
    assert main(["track", str(folder), *SIMULATED, "--batch", "-o", str(tmp_path / "out"), "--quiet", "runtime.num_workers=1"]) == 2
    captured = capsys.readouterr()
    assert [line.split()[:2] for line in captured.out.splitlines()[1:3]] == [["empty", "failed"], ["good", "done"]]
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "1 of 2 jobs failed" in err[0] and "empty" in err[0]
    assert (tmp_path / "out" / "good" / "summary.json").is_file()


def test_batch_needs_a_folder_with_jobs(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert main(["track", str(tmp_path / "in"), "--batch", "-o", str(tmp_path / "out")]) == 2
    assert "no scene folders or videos" in capsys.readouterr().err


def test_automatic_worker_count_fits_the_cluster(capsys):
    from mtmc.config import RuntimeConfig
    from mtmc.runtime.ray_executor import worker_count

    class Cluster:  # what worker_count asks of ray
        @staticmethod
        def cluster_resources():
            return {"CPU": 2.0}

    assert worker_count(Cluster, RuntimeConfig(), 8) == 2  # not 8 workers waiting for 6 CPUs forever
    assert worker_count(Cluster, RuntimeConfig(cpus_per_worker=0.5), 8) == 4
    assert worker_count(Cluster, RuntimeConfig(), 1) == 1
    assert capsys.readouterr().err == ""
    assert worker_count(Cluster, RuntimeConfig(num_workers=4), 8) == 4  # explicit: kept, with a warning
    assert "needs 4 CPUs, the Ray cluster has 2" in capsys.readouterr().err


def test_first_line_is_one_line_even_for_empty_messages():
    from mtmc.errors import first_line

    assert first_line(RuntimeError("worker died\nTraceback (most recent call last): ...")) == "worker died"
    assert first_line(ValueError("  ")) == "ValueError"  # nothing to print: the type says what happened
