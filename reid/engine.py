"""ReID training loop: PK batches, branch losses, per-epoch lr, exact resume, evaluation, SWAG.

A checkpoint is written atomically after every epoch with everything a resumed run needs to
continue bit-identically: weights, optimiser, scheduler, AMP scaler, the PK sampler's generator,
the torch / numpy / python RNG states of every rank, the SWAG moments and the metrics history.
A run killed mid-epoch therefore loses at most that epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from mtmc.atomic import write_json, write_text
from mtmc.config import dump_config, to_dict
from mtmc.errors import ConfigError, DataError
from reid import registry
from reid.checkpoint import (
    TRAIN_FORMAT,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from reid.data import (
    DistributedPKBatchSampler,
    ImageDataset,
    ImagesOnly,
    PKBatchSampler,
    build_transforms,
    load_dataset,
)
from reid.distill import DistillLoss, build_distillation
from reid.distributed import (
    DistContext,
    average_gradients,
    barrier,
    cleanup,
    gather_objects,
    init_distributed,
    mean_over_ranks,
)
from reid.evaluate import evaluate_model
from reid.losses import BranchLoss, compact_reid_loss, fblneck_loss, retrieval_loss
from reid.reporting import plot_history, write_metrics_csv
from reid.schedules import as_lambda, build_schedule, chain, cosine_cycles_lr
from reid.swag import SWAG, bma_embeddings, swa_model
from reid.train_config import LossSection, TrainRecipe
from reid.weights import load_weights, save_weights

BatchHook = Callable[[int, int], None]  # (epoch, step) after every optimiser step
CHECKPOINT = "checkpoint.pth"


def build_loss(cfg: LossSection) -> BranchLoss:
    if cfg.name == "fblneck":
        return fblneck_loss(cfg.margin)
    if cfg.name == "retrieval":
        return retrieval_loss(cfg.retrieval_lambda, cfg.margin, cfg.label_smoothing)
    if cfg.name == "compact_reid":
        return compact_reid_loss(cfg.label_smoothing)
    return BranchLoss(cfg.id_weight, cfg.label_smoothing, cfg.triplet, cfg.triplet_weight, cfg.margin)


def build_optimizer(recipe: TrainRecipe, model: nn.Module, extra: Sequence[nn.Parameter] = ()) -> torch.optim.Optimizer:
    """The recipe's optimiser over ``model`` (classifiers at ``head_lr_factor``) and ``extra`` parameters
    (the distillation projection), which train at the backbone's lr."""
    o = recipe.optim
    if o.head_lr_factor <= 0:
        raise ConfigError(f"optim.head_lr_factor: expected > 0, got {o.head_lr_factor}")
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    heads = [p for n, p in named if "classifier" in n]  # the zoo's naming rule (see reid.checkpoint)
    body = [p for n, p in named if "classifier" not in n] + list(extra)
    params: list[dict] = [{"params": body, "lr": o.lr, "lr_factor": 1.0}]
    if heads and o.head_lr_factor != 1.0:  # one group otherwise: checkpoints keep their optimiser layout
        params.append({"params": heads, "lr": o.lr * o.head_lr_factor, "lr_factor": o.head_lr_factor})
    else:
        params[0]["params"] += heads
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay, nesterov=o.nesterov)
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)
    return torch.optim.AdamW(params, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


def build_lr_schedule(recipe: TrainRecipe):
    """Absolute lr per 0-based epoch: the main schedule, then the SWAG cosine cycles."""
    s = recipe.schedule
    main = build_schedule(s.name, recipe.optim.lr, recipe.epochs, warmup_epochs=s.warmup_epochs,
                          milestones=s.milestones, gamma=s.gamma, lr_min=s.lr_min)
    if not recipe.swag.enabled:
        return main
    w = recipe.swag

    def cycles(e: int) -> float:
        return cosine_cycles_lr(e, w.lr_max, w.lr_min, w.cycle_epochs, w.decay)

    return chain(main, recipe.epochs, cycles)


class Trainer:
    """Train one recipe into ``out_dir``; ``fit(resume=True)`` continues from ``out_dir/checkpoint.pth``."""

    def __init__(self, recipe: TrainRecipe, out_dir: str | Path, *, batch_hook: BatchHook | None = None,
                 log: Callable[[str], None] = print, dist_ctx: DistContext | None = None):
        self.recipe, self.out_dir, self.batch_hook = recipe, Path(out_dir), batch_hook
        self.ctx = dist_ctx or init_distributed(recipe.device)
        self.device = self.ctx.device
        self._log = log
        self.history: list[dict] = []
        self.start_epoch = 0
        self._setup()

    def log(self, text: str) -> None:
        if self.ctx.is_main:
            self._log(text)

    # ------------------------------------------------------------------------------------------
    def _setup(self) -> None:
        r, ctx = self.recipe, self.ctx
        info = registry.model_info(r.model.name)
        self.data = load_dataset(r.data.root, r.data.format)
        self.log(self.data.summary())
        size = r.data.input_size or info.input_size
        d = r.data
        self.train_tf = build_transforms(size, info.mean, info.std, info.rgb, True, d.flip_p, d.pad, d.erase_p,
                                         d.erase_area, d.erase_ratio, d.erase_value)
        self.test_tf = build_transforms(size, info.mean, info.std, info.rgb, train=False)
        seed_everything(r.seed)  # identical initial weights on every rank
        try:
            model = registry.build_model(r.model.name, num_classes=self.data.num_classes, **r.model.params)
        except TypeError as err:
            raise ConfigError(f"model.params: {err}") from None
        if r.model.weights and str(r.model.weights).lower().endswith(".onnx"):
            self._init_from_onnx(model, r.model.weights, tuple(size))
        elif r.model.weights:
            # a new dataset has other identities: the classifier starts afresh
            report = load_weights(model, r.model.weights, arch=r.model.name, verbose=False)
            self.log(f"initial {report.line(r.model.weights)}")
        self.model = model.to(self.device)
        self.net: nn.Module = self.model
        if ctx.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        seed_everything(r.seed + 1 + ctx.rank)  # augmentation / dropout streams differ per rank
        self.train_set = ImageDataset(self.data.train, self.train_tf)
        pids = self.train_set.pids
        if ctx.enabled:
            self.sampler: PKBatchSampler = DistributedPKBatchSampler(pids, d.p, d.k, r.seed, ctx.rank, ctx.world_size)
        else:
            self.sampler = PKBatchSampler(pids, d.p, d.k, r.seed)
        self.loader = torch.utils.data.DataLoader(
            self.train_set, batch_sampler=self.sampler, num_workers=d.num_workers,
            pin_memory=self.device.type == "cuda")
        self.criterion = build_loss(r.loss)
        self.distill: DistillLoss | None = None
        if r.loss.distill is not None:
            self.distill = build_distillation(r.loss.distill, info, int(self.model.embedding_dim), self.device,
                                              d.p * d.k, r.seed)
            self.log(f"distillation: {r.loss.distill.kind} x {r.loss.distill.weight} from {r.loss.distill.teacher} "
                     f"({self.distill.teacher.dim}-d at {self.distill.teacher.size[0]}x{self.distill.teacher.size[1]})")
        extra = list(self.distill.parameters()) if self.distill is not None else []
        self.optimizer = build_optimizer(r, self.model, extra)
        self.lr_at = build_lr_schedule(r)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, as_lambda(self.lr_at, r.optim.lr))
        self.amp = r.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.swag = SWAG(self.model) if r.swag.enabled else None

    def _init_from_onnx(self, model: nn.Module, path: str, size: tuple[int, int], images: int = 256) -> None:
        """Start from an ONNX export (BN folded): unfold it, then calibrate BN on training crops."""
        from reid.onnx_import import calibrate_unfolded_bn, import_onnx_weights

        count = import_onnx_weights(model, path, size)
        records = self.data.train[:: max(1, len(self.data.train) // images)][:images]
        loader = torch.utils.data.DataLoader(ImagesOnly(ImageDataset(records, self.test_tf)), batch_size=32)
        calibrated = calibrate_unfolded_bn(model, loader)
        self.log(f"initial weights {path}: {count} tensors, BatchNorm of {calibrated} folded convs "
                 f"calibrated on {len(records)} training crops")

    # ------------------------------------------------------------------------------------------
    def state(self, epoch: int) -> dict:
        rngs = gather_objects(self.ctx, rng_state())
        return {
            "format": TRAIN_FORMAT,
            "epoch": epoch,  # epochs completed
            "recipe": to_dict(self.recipe),
            "model_name": self.recipe.model.name,
            "num_classes": self.data.num_classes,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": rngs,
            "swag": self.swag.state_dict() if self.swag else None,
            "history": self.history,
            **({"distill": self.distill.state_dict()} if self.distill is not None else {}),
        }

    def load_state(self, state: dict) -> None:
        if state.get("format") != TRAIN_FORMAT:
            raise DataError("not an mtmc ReID training checkpoint", path=self.out_dir / CHECKPOINT)
        if state["num_classes"] != self.data.num_classes:
            raise DataError(f"checkpoint has {state['num_classes']} identities, the dataset "
                            f"{self.data.num_classes}", path=self.out_dir / CHECKPOINT)
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError:  # torch: "loaded state dict contains a parameter group that doesn't match ..."
            raise DataError("the checkpoint's optimiser holds other parameters than this recipe trains (e.g. "
                            "loss.distill with a projection added or removed); start a new run from its weights "
                            "with model.weights=...", path=self.out_dir / CHECKPOINT) from None
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.sampler.load_state_dict(state["sampler"])
        rngs = state["rng"]
        if len(rngs) == self.ctx.world_size:
            set_rng_state(rngs[self.ctx.rank])
        else:
            self.log(f"resume: checkpoint from {len(rngs)} processes, running {self.ctx.world_size}: "
                     "augmentation RNG reseeded")
        if self.swag is not None and state.get("swag"):
            self.swag.load_state_dict(state["swag"])
        if self.distill is not None and state.get("distill") is not None:
            self.distill.load_state_dict(state["distill"])
        self.history = list(state["history"])
        self.start_epoch = int(state["epoch"])
        # The optimiser stored the lr its old recipe chose for this epoch. The recipe given now decides (the
        # same value when it is unchanged; a continuation with another schedule, e.g. a SWAG stage, differs).
        self.scheduler.base_lrs = [self.recipe.optim.lr * g.get("lr_factor", 1.0) for g in self.optimizer.param_groups]
        for group, base, factor in zip(self.optimizer.param_groups, self.scheduler.base_lrs,
                                       self.scheduler.lr_lambdas):
            group["lr"] = base * factor(self.start_epoch)  # LambdaLR's own formula: bit-identical resumes

    # ------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> list[dict]:
        r, ctx = self.recipe, self.ctx
        if resume:
            path = self.out_dir / CHECKPOINT
            if not path.is_file():
                raise DataError("--resume: no checkpoint to resume from", path=path)
            self.load_state(load_checkpoint(path))
            self.log(f"resumed from {path} after epoch {self.start_epoch}")
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            write_text(self.out_dir / "config.yaml", dump_config(self.recipe))
        for epoch in range(self.start_epoch, r.total_epochs):
            row = self.train_epoch(epoch)
            if self.swag is not None and self._cycle_end(epoch):
                self.swag.collect(self.model)
                row["swag_n"] = self.swag.n
            if self._eval_due(epoch):
                row.update(self.evaluate())
            self.history.append(row)
            state = self.state(epoch + 1)
            if ctx.is_main:
                save_checkpoint(self.out_dir / CHECKPOINT, state)
                self._report()
            barrier(ctx)
        self.finish()
        return self.history

    def _cycle_end(self, epoch: int) -> bool:
        e = epoch - self.recipe.epochs
        return e >= 0 and (e + 1) % self.recipe.swag.cycle_epochs == 0

    def _eval_due(self, epoch: int) -> bool:
        every = self.recipe.eval.every
        last = epoch + 1 == self.recipe.total_epochs
        return self.data.has_eval and (last or (every > 0 and (epoch + 1) % every == 0))

    def train_epoch(self, epoch: int) -> dict:
        self.net.train()
        lr = self.optimizer.param_groups[0]["lr"]
        sums: dict[str, float] = {}
        steps, images, start = 0, 0, time.perf_counter()
        bar = tqdm(self.loader, total=len(self.sampler), desc=f"epoch {epoch + 1}/{self.recipe.total_epochs}",
                   disable=not (self.recipe.progress and self.ctx.is_main), leave=False, dynamic_ncols=True)
        for step, (imgs, pids, _cams) in enumerate(bar):
            imgs = imgs.to(self.device, non_blocking=True)
            pids = pids.to(self.device, non_blocking=True)
            with torch.autocast(self.device.type, enabled=self.amp):
                outputs = self.net(imgs)
            loss, parts = self.criterion(outputs, pids)
            if self.distill is not None:
                term, distill_parts = self.distill(outputs, imgs)
                loss, parts = loss + term, {**parts, **distill_parts}
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"loss became {loss_value} at epoch {epoch + 1} step {step + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if self.distill is not None:
                average_gradients(self.ctx, self.distill.parameters())  # outside DDP's reducer
            self.scaler.step(self.optimizer)
            self.scaler.update()
            steps += 1
            images += len(imgs)
            for key, value in {"loss": loss_value, **parts}.items():
                sums[key] = sums.get(key, 0.0) + value
            rate = images / max(time.perf_counter() - start, 1e-9)
            bar.set_postfix(loss=f"{sums['loss'] / steps:.3f}", lr=f"{lr:.2e}", img_s=f"{rate:.0f}")
            if self.batch_hook is not None:
                self.batch_hook(epoch, step)
        bar.close()
        if steps == 0:
            raise DataError("the PK sampler produced no batch: too few identities with images for P x K",
                            path=self.data.root)
        self.scheduler.step()
        means = mean_over_ranks(self.ctx, {k: v / steps for k, v in sums.items()})
        seconds = time.perf_counter() - start
        row = {"epoch": epoch + 1, **means, "lr": lr, "images_per_s": images * self.ctx.world_size / seconds,
               "seconds": seconds}
        self.log(f"epoch {epoch + 1}: " + ", ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
        return row

    def evaluate(self) -> dict:
        """Market-protocol rank-1 / mAP of the current weights (computed on rank 0)."""
        metrics: dict = {}
        if self.ctx.is_main:
            e = self.recipe.eval
            metrics, _ = evaluate_model(self.model, self.data.query, self.data.gallery, self.test_tf,
                                        device=self.device, batch_size=e.batch_size,
                                        num_workers=self.recipe.data.num_workers, metric=e.distance,
                                        normalize=e.normalize, max_rank=e.max_rank, amp=self.amp)
            metrics.pop("n_valid", None)
            if metrics.pop("nonfinite_embeddings", False):
                self.log("  warning: the model produced non-finite embeddings; metrics are NaN")
            self.log(f"  rank-1 {metrics['rank1']:.2f}  rank-5 {metrics['rank5']:.2f}  "
                     f"rank-10 {metrics['rank10']:.2f}  mAP {metrics['mAP']:.2f}")
        barrier(self.ctx)
        return metrics

    def _report(self) -> None:
        write_metrics_csv(self.out_dir / "metrics.csv", self.history)
        write_json(self.out_dir / "metrics.json", self.history)
        plot_history(self.out_dir, self.history)

    # ------------------------------------------------------------------------------------------
    def bn_loader(self):
        return torch.utils.data.DataLoader(ImagesOnly(self.train_set), batch_size=self.recipe.data.p * self.recipe.data.k,
                                           shuffle=False, num_workers=self.recipe.data.num_workers)

    def finish(self) -> None:
        """Final weights (``model.pth``, with what rebuilds the network); with SWAG also ``swa_model.pth``."""
        if self.ctx.is_main:
            save_weights(self.out_dir / "model.pth", self.model, self.recipe.model.name)
            if self.swag is not None and self.swag.n > 0:
                self._finish_swag()
        barrier(self.ctx)
        cleanup(self.ctx)

    def _finish_swag(self) -> None:
        w, e = self.recipe.swag, self.recipe.eval
        final = self.model.state_dict()
        model = swa_model(self.model, self.swag, self.bn_loader(), self.device)
        save_weights(self.out_dir / "swa_model.pth", model, self.recipe.model.name)
        if self.data.has_eval:
            results = {"swa_mean": self.evaluate()}
            if w.inference == "bma":
                from reid.evaluate import distance_matrix, extract_features, make_loader, market_metrics

                nw = self.recipe.data.num_workers

                def embed(loader):
                    return lambda m: extract_features(m, loader, self.device, self.amp)

                q_loader = make_loader(self.data.query, self.test_tf, e.batch_size, nw)
                g_loader = make_loader(self.data.gallery, self.test_tf, e.batch_size, nw)
                qf = bma_embeddings(model, self.swag, self.bn_loader(), embed(q_loader), w.bma_samples,
                                    w.bma_scale, self.recipe.seed, self.device)
                gf = bma_embeddings(model, self.swag, self.bn_loader(), embed(g_loader), w.bma_samples,
                                    w.bma_scale, self.recipe.seed, self.device)
                dm = distance_matrix(qf, gf, e.distance, e.normalize)
                results["swag_bma"] = market_metrics(dm, self.data.query, self.data.gallery, e.max_rank)
                self.log(f"  SWAG-BMA ({w.bma_samples} samples): rank-1 {results['swag_bma']['rank1']:.2f} "
                         f"mAP {results['swag_bma']['mAP']:.2f}")
            write_json(self.out_dir / "swag_metrics.json", results)
        self.model.load_state_dict(final)  # keep the trainer's model as trained


def train(recipe: TrainRecipe, out_dir: str | Path, resume: bool = False, **kwargs) -> list[dict]:
    """Build a :class:`Trainer` and run it; returns the metrics history."""
    return Trainer(recipe, out_dir, **kwargs).fit(resume=resume)
