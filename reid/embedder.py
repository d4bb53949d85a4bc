"""Appearance embedders (the ``mtmc.stages.Embedder`` protocol) on torch or onnxruntime.

They are the ``torch`` and ``onnx`` backends of :data:`mtmc.embedders.EMBEDDERS`
(:func:`torch_embedder`, :func:`onnx_embedder` build them from a ``reid`` config).

Both cut boxes out of a BGR frame, resize the crops to the model's input size (cv2, linear),
convert BGR -> RGB when the model wants RGB, scale to [0, 1], normalise with mean / std, run
the model in batches and return float32 L2-normalised rows.  Boxes with no pixel inside the
image give all-zero rows ("no appearance"), so row i always belongs to box i.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mtmc.errors import ConfigError, DataError
from mtmc.ort import session_options
from mtmc.vectors import l2_normalize
from reid.registry import IMAGENET_MEAN, IMAGENET_STD, ModelInfo, model_info

Triple = tuple[float, float, float]


class _Preprocessor:
    """Crops -> normalised NCHW float32 batch, one fused multiply-add over the whole batch."""

    def __init__(self, input_size: Sequence[int], rgb: bool, mean: Sequence[float], std: Sequence[float]):
        self.height, self.width = (int(v) for v in input_size)
        self.rgb = rgb
        std_arr = np.asarray(std, np.float32)
        self.scale = (1.0 / (255.0 * std_arr)).reshape(1, 3, 1, 1)
        self.offset = (-np.asarray(mean, np.float32) / std_arr).reshape(1, 3, 1, 1)

    def __call__(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        size = (self.width, self.height)
        batch = np.stack([cv2.resize(_as_bgr(c), size, interpolation=cv2.INTER_LINEAR) for c in crops])
        if self.rgb:
            batch = batch[..., ::-1]
        chw = batch.transpose(0, 3, 1, 2).astype(np.float32)
        return chw * self.scale + self.offset


def _as_bgr(crop: np.ndarray) -> np.ndarray:
    if crop.ndim == 2:
        return cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    if crop.ndim != 3 or crop.shape[2] != 3 or crop.size == 0:
        raise DataError(f"expected a non-empty HxWx3 BGR crop, got shape {crop.shape}")
    return crop


def crop_boxes(image: np.ndarray, boxes: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Cut ``boxes`` (BOX_DTYPE, or an (N, 4) x/y/w/h array) out of ``image``, clipped to it.

    Returns the crops and a boolean mask of the boxes that had at least one pixel inside.
    """
    if boxes.dtype.names:
        tlwh = np.stack([boxes["x"], boxes["y"], boxes["w"], boxes["h"]], axis=1).astype(np.float64)
    else:
        tlwh = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = image.shape[:2]
    with np.errstate(invalid="ignore"):
        x1 = np.clip(np.floor(tlwh[:, 0]), 0, w)
        y1 = np.clip(np.floor(tlwh[:, 1]), 0, h)
        x2 = np.clip(np.ceil(tlwh[:, 0] + tlwh[:, 2]), 0, w)
        y2 = np.clip(np.ceil(tlwh[:, 1] + tlwh[:, 3]), 0, h)
        valid = (x2 - x1 >= 1) & (y2 - y1 >= 1)  # nan compares False: nan boxes are invalid too
    crops = [image[int(a) : int(c), int(b) : int(d)] for a, b, c, d, ok in zip(y1, x1, y2, x2, valid) if ok]
    return crops, valid


class _BaseEmbedder:
    needs_pixels = True  # crops are cut from the frame (mtmc.stages.Embedder)
    dim: int
    batch_size: int
    flip: bool

    def __init__(self, preprocess: _Preprocessor, batch_size: int, flip: bool):
        if batch_size < 1:
            raise ConfigError(f"reid.batch_size: expected >= 1, got {batch_size}")
        self.preprocess = preprocess
        self.batch_size = batch_size
        self.flip = flip

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def embed_preprocessed(self, batch: np.ndarray) -> np.ndarray:
        """Raw (N, dim) embeddings (no flip, not normalised) of an already preprocessed NCHW float32 batch,
        in chunks of ``batch_size`` (a distillation teacher is fed the training batch this way)."""
        chunks = [self._forward(batch[s : s + self.batch_size]) for s in range(0, len(batch), self.batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, self.dim), np.float32)

    def embed_crops(self, crops: list[np.ndarray]) -> np.ndarray:
        """(N, dim) float32 unit vectors for BGR uint8 crops."""
        out = np.zeros((len(crops), self.dim), np.float32)
        for start in range(0, len(crops), self.batch_size):
            batch = self.preprocess(crops[start : start + self.batch_size])
            feats = self._forward(batch)
            if self.flip:  # mirror-image TTA: average the two (unnormalised) embeddings
                feats = feats + self._forward(np.ascontiguousarray(batch[..., ::-1]))
            out[start : start + len(batch)] = feats
        return l2_normalize(out)

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(N, dim) float32 unit vectors for ``boxes`` cut from a BGR ``image`` (zero rows: no pixels)."""
        return self.embed_many([image], [boxes])[0]

    def embed_many(self, images: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> list[np.ndarray]:
        """``embed(images[i], boxes[i])`` for every i, with the crops of all images in one batched pass
        (the pipeline's cameras of one time step: one model call instead of one per camera)."""
        crops, masks = [], []
        for image, b in zip(images, boxes):
            cut, valid = crop_boxes(image, b)
            crops.extend(cut)
            masks.append(valid)
        feats = self.embed_crops(crops) if crops else np.zeros((0, self.dim), np.float32)
        out, start = [], 0
        for valid in masks:
            emb = np.zeros((len(valid), self.dim), np.float32)
            emb[valid] = feats[start : start + int(valid.sum())]
            start += int(valid.sum())
            out.append(emb)
        return out


class TorchEmbedder(_BaseEmbedder):
    """Embeds with a torch model from the zoo (a registered name or a built ``nn.Module``).

    ``optimize`` runs a conv-BN-folded, channels-last copy (``optimize_for_inference``).
    """

    def __init__(
        self,
        model_or_name,
        weights: str | Path | None = None,
        device: str = "cpu",
        batch_size: int = 32,
        flip: bool = False,
        half: bool = False,
        info: ModelInfo | None = None,
        optimize: bool = True,
    ):
        import torch

        from reid.models.blocks import optimize_for_inference
        from reid.registry import build_model
        from reid.weights import load_weights

        if isinstance(model_or_name, str):
            info = info or model_info(model_or_name)
            model = build_model(model_or_name, num_classes=0)
            if weights is not None:
                load_weights(model, weights, arch=model_or_name)
        else:
            model = model_or_name
            if info is None:
                raise ConfigError("TorchEmbedder: a model passed as a module needs info=model_info(<name>)")
            if weights is not None:
                load_weights(model, weights, arch=info.name)
        try:
            self.device = torch.device(device)
        except RuntimeError as err:
            raise ConfigError(f"reid.device: {err}") from None
        # Reduced precision only pays (and is only well supported) on CUDA; on CPU it is ignored.
        self.half = bool(half and self.device.type == "cuda")
        self.dim = int(model.embedding_dim)
        model = model.to(self.device).eval()
        if optimize:  # conv-BN folding + channels-last: same outputs, faster
            model = optimize_for_inference(model)
        self.model = model.half() if self.half else model
        self.info = info
        super().__init__(_Preprocessor(info.input_size, info.rgb, info.mean, info.std), batch_size, flip)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            x = x.half() if self.half else x
            return self.model(x).float().cpu().numpy()


class OnnxEmbedder(_BaseEmbedder):
    """Embeds with an ONNX model through onnxruntime; a fixed batch dimension is run in padded chunks.

    Preprocessing defaults come from the file's metadata (written by ``reid.export``) and can be
    overridden; a foreign file needs ``input_size`` unless its input shape is static.
    """

    def __init__(
        self,
        path: str | Path,
        input_size: tuple[int, int] | None = None,
        rgb: bool | None = None,
        mean: Triple | None = None,
        std: Triple | None = None,
        batch_size: int = 32,
        flip: bool = False,
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ):
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise DataError("ONNX model not found", path=path)
        try:
            self.session = ort.InferenceSession(
                str(path), session_options(threads or 0), providers=list(providers or ["CPUExecutionProvider"])
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise DataError(f"cannot load ONNX model: {str(err).splitlines()[0]}", path=path) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        shape = inp.shape
        self.fixed_batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
        if input_size is None:
            if "input_size" in meta:
                input_size = tuple(int(v) for v in meta["input_size"].split(","))
            elif isinstance(shape[2], int) and isinstance(shape[3], int):
                input_size = (shape[2], shape[3])
            else:
                raise ConfigError("reid.input_size: required for an ONNX model with a dynamic input size")
        rgb = rgb if rgb is not None else meta.get("rgb", "1") == "1"
        mean = mean or _floats(meta.get("mean")) or IMAGENET_MEAN
        std = std or _floats(meta.get("std")) or IMAGENET_STD
        if self.fixed_batch:
            batch_size = self.fixed_batch
        super().__init__(_Preprocessor(input_size, rgb, mean, std), batch_size, flip)
        out_dim = self.session.get_outputs()[0].shape[-1]
        if not isinstance(out_dim, int):
            out_dim = self._forward(self.preprocess([np.zeros((*input_size, 3), np.uint8)])).shape[1]
        self.dim = int(out_dim)

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        n = len(batch)
        if self.fixed_batch and n < self.fixed_batch:  # pad the last chunk up to the static batch size
            pad = np.zeros((self.fixed_batch - n, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, pad])
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, np.float32)})[0]
        return np.asarray(out, np.float32).reshape(len(batch), -1)[:n]


def _floats(text: str | None) -> Triple | None:
    return tuple(float(v) for v in text.split(",")) if text else None  # type: ignore[return-value]


def _weights(cfg) -> Path | None:
    """``reid.weights`` as a path that exists (DataError otherwise), or None."""
    weights = Path(cfg.weights) if cfg.weights else None
    if weights is not None and not weights.is_file():
        raise DataError("reid.weights: file not found", path=weights)
    return weights


def _is_onnx(weights: Path | None) -> bool:
    return weights is not None and weights.suffix.lower() == ".onnx"


def onnx_embedder(cfg) -> OnnxEmbedder:
    """The ``onnx`` backend: an exported zoo model (preprocessed as the zoo says) or a foreign file."""
    if cfg.weights is None or not _is_onnx(Path(cfg.weights)):
        what = "model 'onnx'" if cfg.model == "onnx" else "reid.backend: 'onnx'"
        raise ConfigError(f"{what} needs reid.weights to be an .onnx file (see `mtmc reid export`)")
    weights = _weights(cfg)
    if cfg.model != "onnx":  # a zoo model exported to ONNX: preprocess as the zoo says
        info = model_info(cfg.model)
        size = tuple(cfg.input_size) if cfg.input_size is not None else info.input_size  # as in torch_embedder
        sizes = {"input_size": size, "rgb": info.rgb, "mean": info.mean, "std": info.std}
    else:  # foreign: the config says (input_size may come from a static input shape instead)
        size = tuple(cfg.input_size) if cfg.input_size is not None else None
        sizes = {"input_size": size, "rgb": cfg.rgb, "mean": tuple(cfg.mean), "std": tuple(cfg.std)}
    providers = onnx_providers(cfg.device)
    return OnnxEmbedder(weights, batch_size=cfg.batch_size, flip=cfg.flip, providers=providers, **sizes)


def torch_embedder(cfg) -> TorchEmbedder:
    """The ``torch`` backend: a zoo model, random-init (with a warning) or from a weights file."""
    weights = _weights(cfg)
    if _is_onnx(weights):
        raise ConfigError("reid.backend: 'torch' cannot run an .onnx file; use backend: onnx or auto")
    info = model_info(cfg.model)
    if cfg.input_size is not None:  # e.g. a model trained at a reduced resolution
        info = dataclasses.replace(info, input_size=tuple(cfg.input_size))
    if weights is None:
        if cfg.model == "cdnet_genotype":
            raise ConfigError(
                "reid.weights: model 'cdnet_genotype' is built from the genotype in its weights file"
            )
        print(
            f"reid: warning: {cfg.model} has no weights (reid.weights); embeddings are random-init",
            file=sys.stderr,
        )
        from mtmc.seeding import seeded_torch

        with seeded_torch():  # the same random network in every run and every (Ray) worker
            return TorchEmbedder(cfg.model, None, cfg.device, cfg.batch_size, cfg.flip, cfg.half, info=info)
    from reid.weights import build_from_weights

    model, _ = build_from_weights(weights, arch=cfg.model)
    return TorchEmbedder(model, None, cfg.device, cfg.batch_size, cfg.flip, cfg.half, info=info)


def onnx_providers(device: str) -> list[str]:
    """onnxruntime providers for ``reid.device``: CUDA first when asked for and available."""
    import onnxruntime as ort

    if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
