"""Time ``eval.reid_metrics.rank_and_map`` on a Market-1501-sized problem (3,368 x 15,913 by default).

    python benchmarks/reid_eval_speed.py [--queries 3368] [--gallery 15913] [--ids 751] [--repeat 3]

Random features (so the numbers are about speed, not accuracy); pids/cameras drawn like Market-1501
(6 cameras, distractors with pid 0).  Prints the best time of ``--repeat`` runs for the distance matrix
and for the ranking + mAP.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from eval.reid_metrics import pairwise_distance, rank_and_map


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=3368)
    parser.add_argument("--gallery", type=int, default=15913)
    parser.add_argument("--ids", type=int, default=751)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    q_pids = rng.integers(1, args.ids + 1, args.queries)
    g_pids = np.concatenate(
        [
            rng.integers(1, args.ids + 1, args.gallery - args.gallery // 5),
            np.zeros(args.gallery // 5, dtype=np.int64),
        ]
    )  # ~20 % distractors (pid 0)
    q_cams, g_cams = rng.integers(0, 6, args.queries), rng.integers(0, 6, args.gallery)
    qf = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    gf = rng.standard_normal((args.gallery, args.dim), dtype=np.float32)

    def best(fn):
        """(best wall time, CPU time of that run, result): CPU time shows the cost on a busy machine."""
        runs = []
        for _ in range(args.repeat):
            c0, t0 = time.process_time(), time.perf_counter()
            out = fn()
            runs.append((time.perf_counter() - t0, time.process_time() - c0))
        wall, cpu = min(runs)
        return wall, cpu, out

    t_dist, c_dist, dist = best(lambda: pairwise_distance(qf, gf, "euclidean"))
    t_rank, c_rank, (cmc, mean_ap, nvalid) = best(lambda: rank_and_map(dist, q_pids, g_pids, q_cams, g_cams))
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} queries={args.queries} gallery={args.gallery} "
          f"dtype={dist.dtype}")
    print(f"pairwise_distance: {t_dist:.2f} s wall, {c_dist:.2f} s CPU")
    print(f"rank_and_map:      {t_rank:.2f} s wall, {c_rank:.2f} s CPU  "
          f"(valid queries {nvalid}, rank-1 {cmc[0]:.4f}, mAP {mean_ap:.4f})")

if __name__ == "__main__":
    main()
