"""How far a plain colour histogram gets on a synthetic ReID crop set (it should NOT solve it).

    mtmc synth --reid-crops runs/synth-reid
    python benchmarks/synth_hist_reid.py runs/synth-reid

HSV histogram (8x4x4 bins) of the crop's central part (the middle 40% of the width, where the body is,
so the background weighs little), L1-normalised; L1 distance; Market-1501
protocol (same-camera matches of the query identity are ignored) via eval.reid_metrics.rank_and_map.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import cv2
import numpy as np

from eval.reid_metrics import rank_and_map

NAME = re.compile(r"^(\d{4})_c(\d+)s\d+_\d+_\d+\.jpg$")


def load(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    feats, pids, cams = [], [], []
    for path in sorted(folder.glob("*.jpg")):
        m = NAME.match(path.name)
        if not m:
            continue
        img = cv2.imread(str(path))
        h, w = img.shape[:2]
        hsv = cv2.cvtColor(img[int(0.05 * h): int(0.95 * h), int(0.3 * w): int(0.7 * w) + 1], cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1, 2], None, [8, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
        feats.append(hist / max(hist.sum(), 1.0))
        pids.append(int(m.group(1)))
        cams.append(int(m.group(2)))
    return np.array(feats), np.array(pids), np.array(cams)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="folder with query/ and bounding_box_test/")
    args = ap.parse_args()
    qf, qp, qc = load(args.root / "query")
    gf, gp, gc = load(args.root / "bounding_box_test")
    dist = np.abs(qf[:, None, :] - gf[None, :, :]).sum(axis=2)
    cmc, mAP, n = rank_and_map(dist, qp, gp, qc, gc)
    print(f"colour histogram on {args.root}: {n} queries, {len(gp)} gallery images, "
          f"{len(set(gp.tolist()))} ids: rank-1 {cmc[0]:.1%}, rank-5 {cmc[4]:.1%}, mAP {mAP:.1%}")


if __name__ == "__main__":
    main()
