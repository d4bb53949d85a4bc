"""Export a zoo model to ONNX: eval mode, dynamic batch axis, preprocessing stored as metadata.

The graph outputs the *raw* inference embedding (``output``, shape ``[batch, D]``); the
embedders L2-normalise, exactly as they do for the torch model, so both backends share one
post-processing step and ``flip`` TTA can sum unnormalised features before normalising.
Metadata keys: ``arch``, ``input_size`` ("H,W"), ``rgb`` ("1"/"0"), ``mean``, ``std``, ``embedding_dim``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from mtmc.atomic import atomic_path
from mtmc.errors import MtmcError
from reid.registry import ModelInfo

INPUT_NAME = "images"
OUTPUT_NAME = "output"


def export_onnx(model: nn.Module, out: str | Path, info: ModelInfo, opset: int = 17) -> Path:
    """Write ``model`` (in eval mode) to ``out`` atomically; returns the path."""
    import onnx

    out = Path(out)
    model = model.eval().cpu()
    dummy = torch.zeros(2, 3, *info.input_size)
    with atomic_path(out) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation / tracer notes
        try:
            # The TorchScript-based exporter: it needs no onnxscript and handles these CNNs fully.
            torch.onnx.export(
                model,
                (dummy,),
                str(tmp),
                dynamo=False,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                do_constant_folding=True,
            )
        except Exception as err:
            raise MtmcError(f"ONNX export of {info.name} failed: {err}", path=out) from None
        proto = onnx.load(str(tmp))
        meta = {
            "arch": info.name,
            "input_size": ",".join(map(str, info.input_size)),
            "rgb": "1" if info.rgb else "0",
            "mean": ",".join(map(str, info.mean)),
            "std": ",".join(map(str, info.std)),
            "embedding_dim": str(getattr(model, "embedding_dim", "")),
        }
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return out


def max_abs_difference(model: nn.Module, onnx_path: str | Path, info: ModelInfo, batch: int = 3) -> float:
    """Largest absolute difference between torch and onnxruntime outputs on one random batch."""
    import numpy as np
    import onnxruntime as ort

    x = torch.randn(batch, 3, *info.input_size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = model.eval()(x).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    return float(np.abs(ref - out).max())
