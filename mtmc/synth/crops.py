"""Person crops of synthetic identities in Market-1501 layout, for training and testing ReID.

``bounding_box_train/`` holds identities ``1..train_ids``; ``query/`` and
``bounding_box_test/`` hold the next ``test_ids`` identities (disjoint from
training).  The people come from their own population, so they are none of the
people of a scene rendered with any seed.  Names are ``PPPP_cCs1_FFFFFF_00.jpg`` (person, 1-based camera,
frame).  Every query has a gallery image of the same person from another camera.
"""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from mtmc.errors import ConfigError
from mtmc.synth.appearance import CROP_POPULATION, make_identities
from mtmc.synth.config import SynthConfig
from mtmc.synth.scene import SceneModel, staged_folder

SPLITS = ("bounding_box_train", "query", "bounding_box_test")


def crop_scene_config(cfg: SynthConfig, identities: int) -> SynthConfig:
    """A scene long enough for ``identities`` people to each visit the room once."""
    busy = max(1, cfg.max_present)
    visit = (8.0, 14.0)
    crowd = (identities / busy) * np.mean(visit) * 1.35 + identities * cfg.entry_gap * 0.2
    # Everyone passes the door twice and the door wants entry_gap around each passage: with many
    # identities the door, not the room's capacity, sets the pace.
    door = identities * 2.0 * cfg.entry_gap * 1.3 + visit[1]
    duration = max(crowd, door) + 20.0
    return dataclasses.replace(cfg, people=identities, initial_present=busy, visit_seconds=visit,
                               away_seconds=(1e6, 1e6), duration=float(duration), lookalike_rate=cfg.lookalike_rate)


def _name(pid: int, camera: int, frame: int) -> str:
    return f"{pid:04d}_c{camera + 1}s1_{frame:06d}_00.jpg"


def _spread(items: list, k: int) -> list:
    """Up to ``k`` items evenly spread over the list (frames far apart look more different)."""
    if len(items) <= k:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, k).round().astype(int)]


def export_reid_crops(cfg: SynthConfig, out_dir: str | Path, train_ids: int = 100, test_ids: int = 50,
                      every: int | None = None, min_visibility: float = 0.7, min_height: int = 48,
                      per_camera: int = 6, overwrite: bool = False, progress: bool = False) -> dict:
    """Render identities walking through the room and save their crops; returns a summary dict."""
    if train_ids < 1 or test_ids < 1:
        raise ConfigError(f"train_ids and test_ids: expected at least 1 each, got {train_ids} and {test_ids}")
    if not 0 <= min_visibility <= 1:
        raise ConfigError(f"min_visibility: expected a ratio in [0, 1], got {min_visibility}")
    if min_height < 8 or per_camera < 1:
        raise ConfigError(f"min_height >= 8 and per_camera >= 1 expected, got {min_height} and {per_camera}")
    scfg = crop_scene_config(cfg, train_ids + test_ids)
    scfg.validate()
    every = every or max(1, int(round(scfg.fps / 1.5)))
    w, h = scfg.size
    with staged_folder(Path(out_dir), overwrite) as tmp:
        # Other people than any scene's: a ReID model trained here is tested on scenes it never saw.
        people = make_identities(scfg.seed, scfg.people, scfg.lookalike_rate, population=CROP_POPULATION)
        model = SceneModel(scfg, identities=people)
        candidates: dict[tuple[int, int], list[tuple[int, bytes]]] = defaultdict(list)
        frames = range(1, model.num_frames + 1, every)
        if progress:
            from tqdm import tqdm

            frames = tqdm(frames, desc="crops", unit="frame")
        for frame in frames:
            for cam, (image, boxes, _) in enumerate(model.render(frame)):  # tight boxes, as detected
                inside = ((boxes["x"] > 0.5) & (boxes["y"] > 0.5) & (boxes["x"] + boxes["w"] < w - 0.5)
                          & (boxes["y"] + boxes["h"] < h - 0.5))
                good = boxes[inside & (boxes["vis"] >= min_visibility) & (boxes["h"] >= min_height)]
                for b in good:
                    x0, y0 = int(round(b["x"])), int(round(b["y"]))
                    x1, y1 = int(round(b["x"] + b["w"])), int(round(b["y"] + b["h"]))
                    ok, jpg = cv2.imencode(".jpg", image[y0:y1, x0:x1], [cv2.IMWRITE_JPEG_QUALITY, 92])
                    candidates[(int(b["id"]), cam)].append((frame, jpg.tobytes()))
        rng = np.random.default_rng([int(cfg.seed) & 0xFFFFFFFF, 2718])
        for split in SPLITS:
            (tmp / split).mkdir()
        counts = {split: 0 for split in SPLITS}
        ids = {split: set() for split in SPLITS}
        by_pid: dict[int, dict[int, list]] = defaultdict(dict)
        for (pid, cam), items in sorted(candidates.items()):
            by_pid[pid][cam] = _spread(items, per_camera)
        for pid, cams in sorted(by_pid.items()):
            test = pid > train_ids
            queries: set[tuple[int, int]] = set()
            if test and len(cams) >= 2:  # one query per camera that keeps a gallery image of its own
                for cam, items in cams.items():
                    if len(items) >= 2:
                        queries.add((cam, items[int(rng.integers(len(items)))][0]))
            for cam, items in cams.items():
                for frame, jpg in items:
                    split = ("query" if (cam, frame) in queries else "bounding_box_test") if test \
                        else "bounding_box_train"
                    (tmp / split / _name(pid, cam, frame)).write_bytes(jpg)
                    counts[split] += 1
                    ids[split].add(pid)
        missing = sorted(set(range(1, train_ids + test_ids + 1)) - set(by_pid))
        summary = {
            "images": counts,
            "identities": {split: len(v) for split, v in ids.items()},
            "identities_without_crops": missing,
            "seed": cfg.seed,
            "frames_rendered": len(range(1, model.num_frames + 1, every)),
            "min_visibility": min_visibility,
            "min_height": min_height,
            "cameras": scfg.cameras,
        }
        (tmp / "crops.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
