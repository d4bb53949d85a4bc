"""Market-protocol evaluation of a ReID model: embed query + gallery, rank, CMC / mAP, ranked pictures."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mtmc.atomic import atomic_path
from reid.data.datasets import Record
from reid.data.image_dataset import ImageDataset, read_image


def make_loader(records: Sequence[Record], transform, batch_size: int = 128, num_workers: int = 0):
    return torch.utils.data.DataLoader(
        ImageDataset(records, transform), batch_size=batch_size, shuffle=False, num_workers=num_workers
    )


@torch.no_grad()
def extract_features(model: nn.Module, loader, device: torch.device | str = "cpu", amp: bool = False) -> torch.Tensor:
    """(N, D) float32 CPU embeddings of every image of ``loader`` (model in eval mode)."""
    device = torch.device(device)
    was_training = model.training
    model.eval()
    feats = []
    for batch in loader:
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        with torch.autocast(device.type, enabled=amp and device.type == "cuda"):
            out = model(images.to(device, non_blocking=True))
        feats.append(out.float().cpu())
    model.train(was_training)
    return torch.cat(feats) if feats else torch.zeros(0, 0)


def distance_matrix(query: torch.Tensor, gallery: torch.Tensor, metric: str = "euclidean",
                    normalize: bool = True) -> np.ndarray:
    """(Q, G) distances; ``normalize`` L2-normalises first (the models' ranking convention)."""
    from eval.reid_metrics import pairwise_distance

    q, g = query.float(), gallery.float()
    if normalize:
        q, g = nn.functional.normalize(q, dim=1), nn.functional.normalize(g, dim=1)
    return pairwise_distance(q, g, metric).numpy()


def market_metrics(distmat: np.ndarray, query: Sequence[Record], gallery: Sequence[Record],
                   max_rank: int = 50) -> dict:
    """rank-1/5/10 and mAP in %, the CMC curve and the number of valid queries."""
    from eval.reid_metrics import rank_and_map

    cmc, mean_ap, n_valid = rank_and_map(
        distmat,
        np.array([r.pid for r in query]), np.array([r.pid for r in gallery]),
        np.array([r.camera for r in query]), np.array([r.camera for r in gallery]),
        max_rank=max_rank,
    )
    cmc = np.asarray(cmc, dtype=float)
    pct = 100.0  # rank_and_map returns fractions

    def rank(k: int) -> float:
        return float(cmc[min(k, len(cmc)) - 1] * pct) if len(cmc) else 0.0

    return {"rank1": rank(1), "rank5": rank(5), "rank10": rank(10), "mAP": float(mean_ap) * pct,
            "cmc": (cmc * pct).tolist(), "n_valid": int(n_valid)}


def evaluate_model(model: nn.Module, query: Sequence[Record], gallery: Sequence[Record], transform, *,
                   device="cpu", batch_size: int = 128, num_workers: int = 0, metric: str = "euclidean",
                   normalize: bool = True, max_rank: int = 50, amp: bool = False) -> tuple[dict, np.ndarray]:
    """Embed query and gallery with ``model`` and score them with the Market protocol."""
    qf = extract_features(model, make_loader(query, transform, batch_size, num_workers), device, amp)
    gf = extract_features(model, make_loader(gallery, transform, batch_size, num_workers), device, amp)
    if not (torch.isfinite(qf).all() and torch.isfinite(gf).all()):
        # a diverged (or barely trained) model: report NaN metrics instead of aborting the run
        nan = float("nan")
        return {"rank1": nan, "rank5": nan, "rank10": nan, "mAP": nan, "cmc": [], "n_valid": 0,
                "nonfinite_embeddings": True}, np.full((len(query), len(gallery)), np.nan)
    distmat = distance_matrix(qf, gf, metric, normalize)
    return market_metrics(distmat, query, gallery, max_rank), distmat


def save_ranked_picture(path: str | Path, distmat: np.ndarray, query: Sequence[Record], gallery: Sequence[Record],
                        top_k: int = 10, num_queries: int = 8, cell: tuple[int, int] = (128, 64),
                        seed: int = 0) -> Path:
    """A PNG grid: each row is a query then its top-k gallery images (green border = same pid)."""
    import cv2

    rng = np.random.default_rng(seed)
    rows_idx = rng.choice(len(query), size=min(num_queries, len(query)), replace=False)
    h, w = cell
    border, gap = 4, 10

    def tile(rec: Record, colour: tuple[int, int, int] | None) -> np.ndarray:
        img = np.asarray(read_image(rec.path).resize((w, h)))[:, :, ::-1]  # RGB -> BGR for OpenCV
        if colour is None:
            return cv2.copyMakeBorder(img, border, border, border, border, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        return cv2.copyMakeBorder(img, border, border, border, border, cv2.BORDER_CONSTANT, value=colour)

    rows = []
    for qi in rows_idx:
        q = query[qi]
        order = np.argsort(distmat[qi], kind="stable")
        # the protocol ignores same-pid same-camera gallery entries; so does the picture
        keep = [g for g in order if not (gallery[g].pid == q.pid and gallery[g].camera == q.camera)][:top_k]
        tiles = [tile(q, None), np.full((h + 2 * border, gap, 3), 255, np.uint8)]
        for g in keep:
            tiles.append(tile(gallery[g], (0, 200, 0) if gallery[g].pid == q.pid else (0, 0, 230)))
        width = (w + 2 * border) * (top_k + 1) + gap
        row = np.concatenate(tiles, axis=1)
        row = np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255)
        rows.append(row)
    picture = np.concatenate(rows, axis=0) if rows else np.full((h, w, 3), 255, np.uint8)
    path = Path(path)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp), picture):
            raise OSError(f"cannot write {path}")
    return path
