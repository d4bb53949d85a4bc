"""A scripted multi-camera scenario for the association tests: hand-made tracklets, no pixels.

People walk in a 6 x 6 m room seen by 3 cameras; they leave and come back (absent for a few seconds),
trackers fragment (local ids change), crops are noisy versions of a per-person unit vector, some ground
positions are unknown.  Deterministic for a seed.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from mtmc.boxes import make_boxes

FPS = 10.0


def scene(n_cameras: int = 3):
    return SimpleNamespace(fps=FPS, cameras=[SimpleNamespace(image_size=(640, 480)) for _ in range(n_cameras)])


def frames(seed: int, n_people: int = 6, n_frames: int = 300, n_cameras: int = 3, dim: int = 16):
    """Yield (frame, tracks per camera, embeddings per camera (all rows), who per camera)."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.5, 5.5, size=(n_people, 2))
    vel = rng.normal(scale=0.04, size=(n_people, 2))
    codes = rng.normal(size=(n_people, dim))
    codes[1] = codes[0] + 0.6 * rng.normal(size=dim)  # a look-alike pair
    codes /= np.linalg.norm(codes, axis=1, keepdims=True)
    # each person is absent in one or two windows of 3-6 s
    absent = np.zeros((n_people, n_frames + 1), dtype=bool)
    for p in range(n_people):
        for _ in range(rng.integers(1, 3)):
            start = int(rng.integers(20, n_frames - 60))
            absent[p, start:start + int(rng.integers(30, 60))] = True
    for f in range(1, n_frames + 1):
        pos += vel
        bounce = (pos < 0.3) | (pos > 5.7)
        vel[bounce] *= -1
        pos = np.clip(pos, 0.3, 5.7)
        tracks, embs, who = [], [], []
        for cam in range(n_cameras):
            visible = [p for p in range(n_people) if not absent[p, f] and (p + cam + f // 50) % 5 != 0]
            out = make_boxes(len(visible))
            e = np.zeros((len(visible), dim), np.float32)
            for i, p in enumerate(visible):
                visit = int(absent[p, :f].sum())  # a new tracker id after each absence
                out[i]["frame"], out[i]["camera"] = f, cam
                out[i]["id"] = 1000 * (f // 70) + 10 * visit + p  # fragmentation every 7 s
                out[i]["x"], out[i]["y"], out[i]["w"], out[i]["h"] = 10 + 90 * i, 100, 60, 150
                g = pos[p] + rng.normal(scale=0.08, size=2)
                if (f + p + cam) % 23 == 0:
                    g[:] = np.nan  # feet cut off
                out[i]["gx"], out[i]["gy"] = g
                v = codes[p] + 0.35 * rng.normal(size=dim)
                e[i] = v / np.linalg.norm(v)
            tracks.append(out)
            embs.append(e)
            who.append(visible)
        yield f, tracks, embs, who


def run(assoc, seed: int, **kwargs):
    """Feed the scenario to ``assoc`` (asking it which crops to embed); returns the per-frame outputs."""
    outputs = []
    for f, tracks, embs, _ in frames(seed, **kwargs):
        masked = []
        for cam, t in enumerate(tracks):
            want = assoc.wants_embeddings(cam, t)
            e = np.full_like(embs[cam], np.nan)
            e[want] = embs[cam][want]
            masked.append(e)
        outputs.append(assoc.update(f, tracks, masked))
    return outputs
