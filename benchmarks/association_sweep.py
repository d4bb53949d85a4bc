"""Sweep tracker / association thresholds for one ReID model on a *development* scene.

    python benchmarks/association_sweep.py work/lab60 --reid osnet_x0_25=work/reid/osnet_x0_25/model.onnx \
        --grid association.params.entry.reid_threshold=0.6,0.7 --grid tracker.params.appearance_thresh=0.2,0.25

Thresholds on cosine similarity depend on the model (a ReLU embedding such as OSNet's puts different people
at cosine ~0.4, the oracle at 0): tune them on a scene that is *not* one of the benchmark's test scenes, then
pass the chosen values to ``lab_headline.py --set``.  Embeddings are cached per box (camera, frame, box), so
every setting after the first costs only tracking and association.  Prints MULTICAM MOTA / IDF1 per setting.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from mtmc.stages import Embedder

ROOT = Path(__file__).resolve().parents[1]


class CachedEmbedder(Embedder):
    """Wraps an embedder; remembers the embedding of every (camera, frame, box) it has seen."""

    needs_pixels = True

    def __init__(self, inner):
        self.inner = inner
        self.dim = inner.dim
        self.cache: dict[tuple, np.ndarray] = {}
        self.misses = 0

    @staticmethod
    def _key(b) -> tuple:
        return (int(b["camera"]), int(b["frame"]), *(round(float(b[k]), 2) for k in ("x", "y", "w", "h")))

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        keys = [self._key(b) for b in boxes]
        todo = [i for i, k in enumerate(keys) if k not in self.cache]
        if todo:
            self.misses += len(todo)
            fresh = self.inner.embed(image, boxes[todo])
            for i, emb in zip(todo, fresh):
                self.cache[keys[i]] = emb
        return np.stack([self.cache[k] for k in keys]) if keys else np.zeros((0, self.dim), np.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scene")
    p.add_argument("--config", action="append", help="config layers, in order (default: configs/lab.yaml + configs/detectors/simulated.yaml)")
    p.add_argument("--reid", required=True, metavar="NAME=WEIGHTS", help="the model whose thresholds to tune")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="fixed overrides")
    p.add_argument("--out", default="work/sweep/results.json")
    p.add_argument("--cache", help="pickle file of cached embeddings, read if present and written after")
    p.add_argument("--online", action="store_true",
                   help="score the ids as streamed (association.params.latency_seconds late, never changed)")
    args = p.parse_args(argv)
    configs = args.config or [str(ROOT / "configs" / "lab.yaml"), str(ROOT / "configs" / "detectors" / "simulated.yaml")]

    from mtmc.config import load_config
    from mtmc.embedders import build_embedder
    from mtmc.run import run_tracking

    name, _, weights = args.reid.partition("=")
    base = [f"reid.model={name}", f"reid.weights={weights}", "output.map=false"] + args.set
    embedder = CachedEmbedder(build_embedder(load_config(configs, base).reid))
    if args.cache and Path(args.cache).is_file():  # only ever our own file: pickle is fine here
        embedder.cache = pickle.loads(Path(args.cache).read_bytes())
    axes = [(item.partition("=")[0], item.partition("=")[2].split(",")) for item in args.grid]
    results = []
    for values in itertools.product(*[v for _, v in axes]):
        overrides = [f"{k}={v}" for (k, _), v in zip(axes, values)]
        cfg = load_config(configs, base + overrides)
        start = time.perf_counter()
        summary = run_tracking(Path(args.scene), cfg, Path(args.out).parent / "run", evaluate=True,
                               progress=False, embedder=embedder, online=args.online)
        m = summary["metrics"]["MULTICAM"]
        row = {"overrides": overrides, "MOTA": round(m["MOTA"], 1), "IDF1": round(m["IDF1"], 1),
               "IDsw": int(m["IDsw"]), "identities": summary["identities"],
               "seconds": round(time.perf_counter() - start, 1),
               "associate_ms_per_frame": round(1000 * summary["seconds"]["associate"] / max(summary["frames"], 1), 2)}
        results.append(row)
        print(json.dumps(row), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    if args.cache:
        Path(args.cache).write_bytes(pickle.dumps(embedder.cache))
    best = max(results, key=lambda r: (r["IDF1"], r["MOTA"]))
    print(f"best: {' '.join(best['overrides'])}  MOTA {best['MOTA']}  IDF1 {best['IDF1']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
