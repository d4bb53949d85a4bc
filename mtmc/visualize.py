"""Annotated per-camera videos (boxes, global ids, short trails) and a top-down map of the ground plane."""

from __future__ import annotations

from collections import defaultdict, deque
from pathlib import Path

import cv2
import numpy as np

from mtmc.atomic import atomic_path


def id_color(identity: int) -> tuple[int, int, int]:
    """A stable, well-spread BGR colour per identity."""
    hue = (int(identity) * 0.618033988749895) % 1.0
    hsv = np.uint8([[[int(hue * 179), 200, 255]]])
    return tuple(int(c) for c in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def draw_tracks(image: np.ndarray, boxes: np.ndarray, trails: dict[int, deque] | None = None) -> np.ndarray:
    """Draw boxes with their ids (and trails of recent foot points) on a copy of ``image``."""
    out = image.copy()
    for b in boxes:
        color = id_color(b["id"])
        x1, y1 = int(round(b["x"])), int(round(b["y"]))
        x2, y2 = int(round(b["x"] + b["w"])), int(round(b["y"] + b["h"]))
        cv2.rectangle(out, (x1, y1), (x2, y2), color, 2)
        cv2.putText(out, str(int(b["id"])), (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, color, 2)
        if trails is not None:
            trail = trails[int(b["id"])]
            trail.append((int(round(b["x"] + b["w"] / 2)), y2))
            if len(trail) > 1:
                cv2.polylines(out, [np.array(trail, dtype=np.int32)], False, color, 2)
    return out


def write_annotated_videos(scene, tracks: list[np.ndarray], out_dir: Path, trail_frames: int = 15) -> list[Path]:
    """Re-read every camera and write ``out_dir/<camera>.mp4`` with final ids drawn."""
    from mtmc.io.mot import group_by_frame
    from mtmc.io.reader import SyncReader

    out_dir.mkdir(parents=True, exist_ok=True)
    by_frame = [group_by_frame(t) for t in tracks]
    trails = [defaultdict(lambda: deque(maxlen=trail_frames)) for _ in tracks]
    writers: list = [None] * len(tracks)
    temps: list = [None] * len(tracks)
    paths = [out_dir / f"{cam.name}.mp4" for cam in scene.cameras]
    contexts = [atomic_path(p) for p in paths]
    try:
        temps = [ctx.__enter__() for ctx in contexts]
        for frames in SyncReader(scene, decode=True):
            for cam, image in enumerate(frames.images):
                if image is None:
                    continue
                if writers[cam] is None:
                    h, w = image.shape[:2]
                    writers[cam] = cv2.VideoWriter(
                        str(temps[cam]), cv2.VideoWriter_fourcc(*"mp4v"), float(scene.fps or 15), (w, h)
                    )
                boxes = by_frame[cam].get(frames.frame)
                if boxes is None:
                    boxes = tracks[cam][:0]
                writers[cam].write(draw_tracks(image, boxes, trails[cam]))
        for w in writers:
            if w is not None:
                w.release()
        for ctx in contexts:
            ctx.__exit__(None, None, None)
    except BaseException as err:
        for w in writers:
            if w is not None:
                w.release()
        for ctx in contexts:
            ctx.__exit__(type(err), err, err.__traceback__)
        raise
    return paths


def _map_canvas(bounds: tuple[float, float, float, float], scale: float) -> tuple[np.ndarray, callable]:
    x0, y0, x1, y1 = bounds
    w, h = int((x1 - x0) * scale) + 40, int((y1 - y0) * scale) + 40
    canvas = np.full((h, w, 3), 255, np.uint8)

    def to_px(xy: np.ndarray) -> np.ndarray:
        return np.stack([(xy[:, 0] - x0) * scale + 20, (y1 - xy[:, 1]) * scale + 20], axis=1).astype(np.int32)

    cv2.rectangle(canvas, tuple(to_px(np.array([[x0, y1]]))[0]), tuple(to_px(np.array([[x1, y0]]))[0]), (0, 0, 0), 1)
    return canvas, to_px


def ground_bounds(tracks: list[np.ndarray], scene=None) -> tuple[float, float, float, float] | None:
    room = getattr(scene, "room", None)
    if room:
        return (0.0, 0.0, float(room[0]), float(room[1]))
    pts = np.concatenate([np.stack([t["gx"], t["gy"]], 1) for t in tracks]) if tracks else np.empty((0, 2))
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        return None
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    return (lo[0] - 0.5, lo[1] - 0.5, hi[0] + 0.5, hi[1] + 0.5)


def write_map(tracks: list[np.ndarray], png_path: Path, video_path: Path | None = None, fps: float = 15.0,
              scene=None, scale: float = 80.0) -> bool:
    """Top-down map of ground-plane trajectories per global id (PNG, and optionally a video)."""
    from mtmc.boxes import concat

    bounds = ground_bounds(tracks, scene)
    if bounds is None:
        return False
    allb = concat(tracks)
    allb = allb[np.isfinite(allb["gx"]) & np.isfinite(allb["gy"])]
    canvas, to_px = _map_canvas(bounds, scale)
    order = np.lexsort((allb["frame"], allb["id"]))
    allb = allb[order]
    for ident in np.unique(allb["id"]):
        sel = allb[allb["id"] == ident]
        # one point per frame: the mean over cameras
        frames, inv = np.unique(sel["frame"], return_inverse=True)
        pts = np.stack([np.bincount(inv, sel["gx"]) / np.bincount(inv), np.bincount(inv, sel["gy"]) / np.bincount(inv)], 1)
        px = to_px(pts)
        cv2.polylines(canvas, [px], False, id_color(ident), 1, cv2.LINE_AA)
        cv2.putText(canvas, str(int(ident)), tuple(px[-1]), cv2.FONT_HERSHEY_SIMPLEX, 0.4, id_color(ident), 1)
    with atomic_path(png_path) as tmp:
        cv2.imwrite(str(tmp), canvas)
    if video_path is not None and len(allb):
        base, _ = _map_canvas(bounds, scale)
        frames = np.unique(allb["frame"])
        by_time = allb[np.argsort(allb["frame"], kind="stable")]
        groups = np.split(by_time, np.searchsorted(by_time["frame"], frames[1:]))
        with atomic_path(video_path) as tmp:
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (base.shape[1], base.shape[0]))
            trail = base.copy()
            for group in groups:
                px = to_px(np.stack([group["gx"], group["gy"]], 1))
                frame_img = trail.copy()
                for (u, v), ident in zip(px, group["id"]):
                    cv2.circle(trail, (int(u), int(v)), 1, id_color(ident), -1)
                    cv2.circle(frame_img, (int(u), int(v)), 6, id_color(ident), -1)
                    cv2.putText(frame_img, str(int(ident)), (int(u) + 6, int(v) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                                (0, 0, 0), 1)
                writer.write(frame_img)
            writer.release()
    return True
