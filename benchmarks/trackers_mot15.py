"""Benchmark every registered tracker (and ultralytics' BYTETracker / BOTSORT as peers) on MOT15.

Public-detection protocol: each sequence's ``det/det.txt`` is fed to every tracker unchanged
(no score threshold added here), the output is scored against ``gt/gt.txt`` with the project's
evaluation (MOTA, IDF1, HOTA, IDsw, FP, FN per sequence and pooled over sequences), and the mean
CPU time (``time.process_time``, so other processes on a shared machine do not inflate it) of one
``update()`` call is reported.

    python benchmarks/trackers_mot15.py [--data ../shared/data/mot15/train] [--out results.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault(
    "YOLO_CONFIG_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "mtmc-bench-ultralytics")
)

from mtmc.boxes import from_xyxy, tlwh  # noqa: E402
from mtmc.config import load_yaml  # noqa: E402
from mtmc.io.mot import iter_frames, read_mot  # noqa: E402
from mtmc.io.seqinfo import read_seqinfo  # noqa: E402
from trackers import TRACKERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mot15" / "train"
SEQUENCES = ["ADL-Rundle-6", "ETH-Bahnhof", "KITTI-13", "PETS09-S2L1", "TUD-Campus", "TUD-Stadtmitte"]
COLUMNS = ["MOTA", "IDF1", "HOTA", "IDsw", "FP", "FN"]


# ---------------------------------------------------------------------------------------------
# ultralytics peers, fed our detections through their Results-like interface
# ---------------------------------------------------------------------------------------------


class _DetResults:
    """The slice of ``ultralytics.engine.results.Boxes`` that the trackers read."""

    def __init__(self, xywh: np.ndarray, conf: np.ndarray, cls: np.ndarray):
        self.xywh, self.conf, self.cls = xywh, conf, cls

    @property
    def xyxy(self) -> np.ndarray:
        out = self.xywh.copy()
        out[:, :2] -= out[:, 2:] / 2.0
        out[:, 2:] += out[:, :2]
        return out

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, idx) -> _DetResults:
        return _DetResults(self.xywh[idx], self.conf[idx], self.cls[idx])


class UltralyticsPeer:
    """Adapter giving ultralytics' BYTETracker / BOTSORT our ``update(detections) -> boxes`` interface."""

    def __init__(self, kind: str, frame_rate: float):
        from ultralytics.trackers.bot_sort import BOTSORT
        from ultralytics.trackers.byte_tracker import BYTETracker
        from ultralytics.utils import YAML
        from ultralytics.utils.checks import check_yaml

        cfg = YAML.load(check_yaml(f"{kind}.yaml"))
        cfg.update(with_reid=False, gmc_method="none")
        args = SimpleNamespace(**cfg)
        # ultralytics scales its buffer by the video frame rate the same way (track_buffer at 30 fps)
        args.track_buffer = int(round(frame_rate / 30.0 * args.track_buffer))
        self.tracker = (BOTSORT if kind == "botsort" else BYTETracker)(args)

    def update(self, detections: np.ndarray, frame=None, embeddings=None) -> np.ndarray:
        b = tlwh(detections)
        xywh = np.concatenate([b[:, :2] + b[:, 2:] / 2.0, b[:, 2:]], axis=1).astype(np.float32)
        res = _DetResults(xywh, detections["score"].astype(np.float32), np.zeros(len(detections), np.float32))
        out = self.tracker.update(res, None)
        out = np.asarray(out, dtype=np.float64).reshape(-1, 8)
        frame_no = int(detections["frame"][0]) if len(detections) else 0
        return from_xyxy(out[:, :4], score=out[:, 5], id=out[:, 4].astype(np.int64), frame=frame_no)


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------


def evaluate(gt: dict[str, np.ndarray], pred: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """{sequence or "OVERALL": {MOTA, IDF1, HOTA, IDsw, FP, FN}} with the project's evaluation."""
    from eval.mot import evaluate as mot_evaluate

    report = mot_evaluate(gt, pred, iou_threshold=0.5, hota=True)
    return _report_rows(report, list(gt) + ["OVERALL"])


def _report_rows(report, names: list[str]) -> dict[str, dict[str, float]]:
    """The benchmark's columns (percent / counts) of the named report rows."""
    return {name: {c: report.rows[name].get(c, float("nan")) for c in COLUMNS} for name in names}


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def load_sequence(folder: Path) -> tuple[np.ndarray, np.ndarray, float, int]:
    info = read_seqinfo(folder / "seqinfo.ini")
    dets = read_mot(folder / "det" / "det.txt", kind="det")
    gt = read_mot(folder / "gt" / "gt.txt", kind="gt")
    length = info.seq_length or int(max(dets["frame"].max(initial=0), gt["frame"].max(initial=0)))
    return dets, gt, float(info.frame_rate or 30.0), length


def run_tracker(make, dets: np.ndarray, length: int) -> tuple[np.ndarray, float, int]:
    """Feed every frame (empty ones too); return (tracks, seconds spent in update, frames)."""
    tracker = make()
    out, spent = [], 0.0
    for frame, boxes in iter_frames(dets, start=1, end=length):
        boxes = boxes.copy()
        boxes["frame"] = frame
        t0 = time.process_time()  # CPU time: robust to other processes sharing the machine
        tracks = tracker.update(boxes)
        spent += time.process_time() - t0
        tracks["frame"] = frame
        out.append(tracks)
    return np.concatenate(out) if out else dets[:0], spent, length


def tracker_factories(names: list[str]) -> dict[str, callable]:
    """name -> (frame_rate -> tracker); ours with their YAML config, then the ultralytics peers."""
    out = {}
    for name in names:
        if name.startswith("ultralytics-"):
            kind = name.split("-", 1)[1]
            out[name] = lambda fr, kind=kind: UltralyticsPeer(kind, fr)
            continue
        cfg_file = ROOT / "configs" / "trackers" / f"{name}.yaml"
        params = load_yaml(cfg_file)["tracker"]["params"] if cfg_file.is_file() else {}
        out[name] = lambda fr, name=name, params=params: TRACKERS.build(name, params, frame_rate=fr)
    return out


def fmt(v: float, col: str) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if col in ("IDsw", "FP", "FN"):
        return str(int(v))
    return f"{v:.1f}"  # the report's ratios are already in percent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--trackers", nargs="*", default=None, help="default: all registered + ultralytics peers")
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown here")
    ap.add_argument("--sequences", nargs="*", default=SEQUENCES)
    args = ap.parse_args(argv)
    names = args.trackers or TRACKERS.names() + ["ultralytics-bytetrack", "ultralytics-botsort"]
    factories = tracker_factories(names)
    seqs = {s: load_sequence(args.data / s) for s in args.sequences}
    gt = {s: v[1] for s, v in seqs.items()}
    lines = [
        "| tracker | sequence | " + " | ".join(COLUMNS) + " | ms/frame |",
        "|---|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    summary = []
    for name, make in factories.items():
        pred, spent, frames = {}, 0.0, 0
        for s, (dets, _, fr, length) in seqs.items():
            pred[s], dt, n = run_tracker(lambda make=make, fr=fr: make(fr), dets, length)
            spent, frames = spent + dt, frames + n
        rows = evaluate(gt, pred)
        ms = 1000.0 * spent / max(frames, 1)
        for s in list(seqs) + ["OVERALL"]:
            r = rows[s]
            label = f"**{s}**" if s == "OVERALL" else s
            cells = " | ".join(fmt(r[c], c) for c in COLUMNS)
            lines.append(
                f"| {name} | {label} | {cells} | {ms:.3f} |"
                if s == "OVERALL"
                else f"| {name} | {label} | {cells} | |"
            )
        summary.append((name, rows["OVERALL"], ms))
        print(
            f"{name}: "
            + ", ".join(f"{c} {fmt(rows['OVERALL'][c], c)}" for c in COLUMNS)
            + f", {ms:.3f} ms/frame",
            file=sys.stderr,
        )
    lines += [
        "",
        "| tracker (pooled over the 6 sequences) | " + " | ".join(COLUMNS) + " | ms/frame |",
        "|---|" + "---|" * (len(COLUMNS) + 1),
    ]
    for name, r, ms in summary:
        lines.append(f"| {name} | " + " | ".join(fmt(r[c], c) for c in COLUMNS) + f" | {ms:.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from mtmc.atomic import write_text

        write_text(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
