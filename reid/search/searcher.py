"""Alternating first-order architecture search: a w step on a train PK batch, then an alpha step on a
fresh val PK batch (spec §2.6 step 5, §4.4 Alg. 1), resumable per epoch.

Run folder: ``config.yaml``, ``checkpoint.pth`` (atomic, every epoch), ``search_log.csv`` (losses,
lrs, current genotype per epoch), ``alpha_history.json`` (alpha, softmax and genotype per epoch),
``genotype.json`` (the current derivation, rewritten every epoch) and ``train_model.yaml`` (a recipe
layer that makes ``mtmc reid train`` build the searched network).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import yaml
from torch import nn
from tqdm import tqdm

from mtmc.atomic import write_json, write_text
from mtmc.config import dump_config, to_dict
from mtmc.errors import DataError
from reid.checkpoint import load_checkpoint, rng_state, save_checkpoint, seed_everything, set_rng_state
from reid.data import ImageDataset, PKBatchSampler, build_transforms, load_dataset
from reid.distributed import pick_device
from reid.losses import BranchLoss, retrieval_loss
from reid.models.darts_ops import BASELINE_PRIMITIVES, REID_PRIMITIVES
from reid.registry import IMAGENET_MEAN, IMAGENET_STD
from reid.reporting import write_metrics_csv
from reid.schedules import as_lambda, build_schedule
from reid.search.config import SearchRecipe
from reid.search.darts import DartsSupernet
from reid.search.splits import split_train_val
from reid.search.topk import TopKSupernet

CHECKPOINT = "checkpoint.pth"
GENOTYPE = "genotype.json"
FORMAT = "mtmc-reid-search/1"
DEFAULT_INPUT = (256, 128)


def build_supernet(recipe: SearchRecipe, num_classes: int) -> nn.Module:
    if recipe.method == "darts-autoreid":
        d = recipe.darts
        primitives = REID_PRIMITIVES if d.primitives == "reid" else BASELINE_PRIMITIVES
        return DartsSupernet(num_classes, d.channels, tuple(d.layers), d.stem, primitives, d.embedding_dim,
                             d.dropout, d.alpha_init)
    t = recipe.topk
    space = "cs" if recipe.method == "topk-cs" else "cds"
    return TopKSupernet(space, num_classes, t.k, t.code_quirk_nonselected_scalar, t.planes, t.fc_dim, t.dropout,
                        t.alpha_init)


def build_search_loss(recipe: SearchRecipe) -> BranchLoss:
    """Top-k: L = CE + batch-hard triplet (paper eq.9); DARTS: lambda * triplet + (1 - lambda) * CE."""
    if recipe.method == "darts-autoreid":
        return retrieval_loss(recipe.loss.retrieval_lambda, recipe.loss.margin)
    return BranchLoss(1.0, 0.0, "batch_hard", 1.0, recipe.loss.margin)


def genotype_summary(model: nn.Module) -> str:
    """One line naming the current derived architecture (for logs)."""
    if isinstance(model, TopKSupernet):
        return " ".join("({},{},{})".format(*c) for c in model.genotype().layers)
    geno = model.genotype()
    return " | ".join(f"{kind}: " + " ".join(f"{op}:{i}" for op, i in getattr(geno, kind)) for kind in ("normal", "reduce"))


class Searcher:
    """Search one recipe into ``out_dir``; ``fit(resume=True)`` continues from ``out_dir/checkpoint.pth``."""

    def __init__(self, recipe: SearchRecipe, out_dir: str | Path, log: Callable[[str], None] = print):
        self.recipe, self.out_dir, self.log = recipe, Path(out_dir), log
        self.history: list[dict] = []
        self.alpha_history: list[dict] = []
        self.start_epoch = 0
        self._setup()

    def _setup(self) -> None:
        r, d = self.recipe, self.recipe.data
        self.device = pick_device(r.device)
        self.data = load_dataset(d.root, d.format)
        train, val = split_train_val(self.data.train, r.split_mode, d.k, r.seed)
        if not train or not val:
            raise DataError(f"split {r.split_mode!r} left an empty train or val set "
                            f"({len(train)} / {len(val)} images)", path=self.data.root)
        self.log(f"{self.data.summary()}; search split {r.split_mode}: train {len(train)} images, val {len(val)}")
        size = tuple(d.input_size or DEFAULT_INPUT)
        tf = build_transforms(size, IMAGENET_MEAN, IMAGENET_STD, True, True, d.flip_p, d.pad, d.erase_p,
                              d.erase_area, d.erase_ratio, d.erase_value)
        self.train_set, self.val_set = ImageDataset(train, tf), ImageDataset(val, tf)
        self.train_sampler = PKBatchSampler(self.train_set.pids, d.p, d.k, r.seed)
        self.val_sampler = PKBatchSampler(self.val_set.pids, d.p, d.k, r.seed + 1)
        seed_everything(r.seed)
        self.model = build_supernet(r, self.data.num_classes).to(self.device)
        self.criterion = build_search_loss(r)
        w, a = r.w_optim, r.alpha_optim
        self.w_params = self.model.weight_parameters()
        self.w_optimizer = torch.optim.SGD(self.w_params, lr=w.lr, momentum=w.momentum, nesterov=w.nesterov,
                                           weight_decay=w.weight_decay)
        self.alpha_optimizer = torch.optim.Adam(self.model.arch_parameters(), lr=a.lr, betas=a.betas,
                                                weight_decay=a.weight_decay)
        w_lr = build_schedule("cosine", w.lr, r.epochs, lr_min=w.lr_min)
        a_lr = build_schedule("step", a.lr, r.epochs, milestones=a.milestones, gamma=a.gamma)
        self.w_scheduler = torch.optim.lr_scheduler.LambdaLR(self.w_optimizer, as_lambda(w_lr, w.lr))
        self.alpha_scheduler = torch.optim.lr_scheduler.LambdaLR(self.alpha_optimizer, as_lambda(a_lr, a.lr))

    # ------------------------------------------------------------------------------------------
    def state(self, epoch: int) -> dict:
        return {
            "format": FORMAT,
            "method": self.recipe.method,
            "epoch": epoch,
            "recipe": to_dict(self.recipe),
            "num_classes": self.data.num_classes,
            "model": self.model.state_dict(),
            "w_optimizer": self.w_optimizer.state_dict(),
            "alpha_optimizer": self.alpha_optimizer.state_dict(),
            "w_scheduler": self.w_scheduler.state_dict(),
            "alpha_scheduler": self.alpha_scheduler.state_dict(),
            "train_sampler": self.train_sampler.state_dict(),
            "val_sampler": self.val_sampler.state_dict(),
            "rng": rng_state(),
            "history": self.history,
            "alpha_history": self.alpha_history,
        }

    def load_state(self, state: dict, path: Path) -> None:
        if state.get("format") != FORMAT:
            raise DataError("not an mtmc ReID search checkpoint", path=path)
        if state["method"] != self.recipe.method:
            raise DataError(f"checkpoint is a {state['method']} search, the recipe asks for {self.recipe.method}",
                            path=path)
        if state["num_classes"] != self.data.num_classes:
            raise DataError(f"checkpoint has {state['num_classes']} identities, the dataset "
                            f"{self.data.num_classes}", path=path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise DataError(f"checkpoint does not fit this supernet ({str(err).splitlines()[0]})", path=path) from None
        for name in ("w_optimizer", "alpha_optimizer", "w_scheduler", "alpha_scheduler", "train_sampler",
                     "val_sampler"):
            getattr(self, name).load_state_dict(state[name])
        set_rng_state(state["rng"])
        self.history, self.alpha_history = list(state["history"]), list(state["alpha_history"])
        self.start_epoch = int(state["epoch"])

    # ------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> Path:
        """Run the remaining epochs; returns the path of the derived genotype JSON."""
        r = self.recipe
        if resume:
            path = self.out_dir / CHECKPOINT
            if not path.is_file():
                raise DataError("--resume: no checkpoint to resume from", path=path)
            self.load_state(load_checkpoint(path), path)
            self.log(f"resumed from {path} after epoch {self.start_epoch}")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.out_dir / "config.yaml", dump_config(r))
        for epoch in range(self.start_epoch, r.epochs):
            row = self.train_epoch(epoch)
            self.history.append(row)
            self.alpha_history.append(self.alpha_record(epoch + 1))
            self.write_genotype(epoch + 1)
            save_checkpoint(self.out_dir / CHECKPOINT, self.state(epoch + 1))
            write_metrics_csv(self.out_dir / "search_log.csv", self.history)
            write_json(self.out_dir / "alpha_history.json", self.alpha_history)
        if not (self.out_dir / GENOTYPE).is_file():  # resumed a finished run: nothing left to do
            self.write_genotype(self.start_epoch)
        return self.out_dir / GENOTYPE

    def _batches(self, sampler: PKBatchSampler, steps: int | None) -> list[list[int]]:
        """``steps`` batches (or one epoch); new epochs are drawn as needed, so each batch is fresh."""
        batches = sampler.epoch_batches()
        if steps is None:
            return batches
        while len(batches) < steps:
            more = sampler.epoch_batches()
            if not more:
                break
            batches += more
        return batches[:steps]

    def _loader(self, dataset: ImageDataset, batches: list[list[int]]) -> Iterator:
        # The epoch's batches are fixed up front, so worker prefetching cannot desynchronise a resume.
        return iter(torch.utils.data.DataLoader(dataset, batch_sampler=batches,
                                                num_workers=self.recipe.data.num_workers,
                                                pin_memory=self.device.type == "cuda"))

    def _loss(self, imgs: torch.Tensor, pids: torch.Tensor, where: str):
        loss, parts = self.criterion(self.model(imgs.to(self.device)), pids.to(self.device))
        if not math.isfinite(float(loss.detach())):
            raise FloatingPointError(f"{where} loss became {float(loss.detach())}")
        return loss, parts

    def train_epoch(self, epoch: int) -> dict:
        r = self.recipe
        self.model.train()
        cap = r.max_steps_per_epoch or None
        train_batches = self._batches(self.train_sampler, cap)
        if not train_batches:
            raise DataError("the PK sampler produced no train batch: too few identities with images for P x K",
                            path=self.data.root)
        val_batches = self._batches(self.val_sampler, len(train_batches))
        if len(val_batches) < len(train_batches):
            raise DataError("the PK sampler produced no val batch: too few val identities for P x K",
                            path=self.data.root)
        lr_w, lr_a = self.w_optimizer.param_groups[0]["lr"], self.alpha_optimizer.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        start = time.perf_counter()
        val_iter = self._loader(self.val_set, val_batches)
        bar = tqdm(self._loader(self.train_set, train_batches), total=len(train_batches),
                   desc=f"search {epoch + 1}/{r.epochs}", disable=not r.progress, leave=False, dynamic_ncols=True)
        for step, (imgs, pids, _) in enumerate(bar):
            where = f"epoch {epoch + 1} step {step + 1}"
            # (a) w step on the train batch
            loss, parts = self._loss(imgs, pids, f"{where} w-step")
            self.w_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if r.w_optim.grad_clip > 0:
                nn.utils.clip_grad_norm_(self.w_params, r.w_optim.grad_clip)
            self.w_optimizer.step()
            # (b) alpha step on a fresh val batch; w is frozen (first order, no unrolled term)
            vimgs, vpids, _ = next(val_iter)
            for p in self.w_params:
                p.requires_grad_(False)
            try:
                vloss, vparts = self._loss(vimgs, vpids, f"{where} alpha-step")
                self.alpha_optimizer.zero_grad(set_to_none=True)
                vloss.backward()
                self.alpha_optimizer.step()
            finally:
                for p in self.w_params:
                    p.requires_grad_(True)
            values = {"loss_w": float(loss.detach()), "id": parts["id"], "triplet": parts["triplet"],
                      "acc": parts["acc"], "loss_alpha": float(vloss.detach()), "val_acc": vparts["acc"]}
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.set_postfix(loss_w=f"{sums['loss_w'] / (step + 1):.3f}",
                            loss_a=f"{sums['loss_alpha'] / (step + 1):.3f}")
        bar.close()
        self.w_scheduler.step()
        self.alpha_scheduler.step()
        steps = len(train_batches)
        row = {"epoch": epoch + 1, **{k: v / steps for k, v in sums.items()}, "lr_w": lr_w, "lr_alpha": lr_a,
               "steps": steps, "seconds": time.perf_counter() - start, "genotype": genotype_summary(self.model)}
        self.log(f"epoch {epoch + 1}/{r.epochs}: " + ", ".join(
            f"{k} {v:.4g}" for k, v in row.items() if k not in ("epoch", "genotype")) + f"\n  genotype {row['genotype']}")
        return row

    # ------------------------------------------------------------------------------------------
    def alpha_record(self, epoch: int) -> dict:
        m = self.model
        if isinstance(m, TopKSupernet):
            return {"epoch": epoch, "alpha": m.alpha.detach().cpu().tolist(),
                    "softmax": m.probabilities().cpu().tolist(), "selected": m.selected(),
                    "genotype": m.genotype().to_dict()["layers"]}
        probs = m.probabilities()
        return {"epoch": epoch, "alpha_normal": m.alpha_normal.detach().cpu().tolist(),
                "alpha_reduce": m.alpha_reduce.detach().cpu().tolist(),
                "softmax_normal": probs["normal"].cpu().tolist(), "softmax_reduce": probs["reduce"].cpu().tolist(),
                "primitives": list(m.primitives), "genotype": m.genotype().to_dict()}

    def genotype_dict(self, epoch: int) -> dict:
        m, r = self.model, self.recipe
        source = f"mtmc reid search {r.method}, derived from the alpha of epoch {epoch}/{r.epochs}"
        if isinstance(m, TopKSupernet):
            geno = m.genotype(name=f"{r.method}-search", source=source, top_k=m.top_k,
                              softmax=[[round(v, 6) for v in row] for row in m.probabilities().cpu().tolist()])
            return geno.to_dict()
        return {"name": f"{r.method}-search", **m.genotype_dict(), "source": source}

    def write_genotype(self, epoch: int) -> None:
        """``genotype.json`` plus ``train_model.yaml``, a recipe layer for ``mtmc reid train -c BASE -c IT``."""
        geno = self.genotype_dict(epoch)
        path = self.out_dir / GENOTYPE
        write_json(path, geno)
        name = "autoreid" if self.recipe.method == "darts-autoreid" else "cdnet_genotype"
        model = {"name": name, "params": {"genotype": str(path.resolve())}}
        header = f"# searched architecture (epoch {epoch}); use: mtmc reid train -c BASE_RECIPE -c THIS_FILE\n"
        write_text(self.out_dir / "train_model.yaml", header + yaml.safe_dump({"model": model}, sort_keys=False))


def search(recipe: SearchRecipe, out_dir: str | Path, resume: bool = False, **kwargs) -> Path:
    """Build a :class:`Searcher` and run it; returns the genotype JSON path."""
    return Searcher(recipe, out_dir, **kwargs).fit(resume=resume)
