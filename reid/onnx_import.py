"""Initialise a zoo model from an ONNX export of the same architecture, so it can be fine-tuned.

Some ReID weights are distributed only as ONNX (e.g. the OSNet x0.25 in ``../shared/weights``).
Exporters fold every BatchNorm into the convolution before it, so the file holds ``W' = W * s`` and
a bias ``b'`` per folded conv, and the original BN statistics are gone.  We load ``W'`` into the
conv and turn the BN after it into an affine map that reproduces ``conv + b'`` exactly in eval
mode.  For training, BN must also see sensible batch statistics: :func:`calibrate_unfolded_bn`
measures each conv's output mean and variance on real crops and sets the BN so that its running
statistics are those and eval mode is still exactly ``conv + b'``; in train mode the batch
statistics then land close to the running ones, so fine-tuning starts from the imported network.

Tensors whose names survive export (convs without BN, the fc layer) are copied by name; folded
convs (anonymous initializers) are matched in execution order, each against the next torch conv
that is followed by a BatchNorm, with shape checks.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from mtmc.errors import DataError
from reid.weights import check_shapes

_UNFOLDED = "_mtmc_unfolded_bias"  # attribute on BN modules whose statistics await calibration


def _execution_order(model: nn.Module, input_size: tuple[int, int]) -> list[nn.Module]:
    """Leaf conv / linear / BN modules in the order a forward pass first calls them."""
    calls: list[nn.Module] = []
    kinds = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)
    hooks = [m.register_forward_hook(lambda mod, i, o: calls.append(mod)) for m in model.modules()
             if isinstance(m, kinds)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return calls


def _conv_bn_pairs(calls: list[nn.Module]) -> list[tuple[nn.Conv2d, nn.BatchNorm2d]]:
    pairs, seen = [], set()
    for prev, nxt in zip(calls, calls[1:]):
        if isinstance(prev, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d) and id(prev) not in seen:
            if nxt.num_features == prev.out_channels:
                pairs.append((prev, nxt))
                seen.add(id(prev))
    return pairs


def import_onnx_weights(model: nn.Module, path: str | Path, input_size: tuple[int, int]) -> int:
    """Copy the weights of the ONNX file ``path`` into ``model``; returns the number of tensors set.

    Raises :class:`DataError` when the file does not fit the architecture.  Folded BNs are marked
    for :func:`calibrate_unfolded_bn`; without calibration the model is exact in eval mode only.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    try:
        graph = onnx.load(str(path)).graph
    except Exception as err:  # noqa: BLE001 - protobuf raises several types on a bad file
        raise DataError(f"cannot read ONNX model: {str(err).splitlines()[0]}", path=path) from None
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    own = model.state_dict()
    named = {k: v for k, v in inits.items() if k in own}
    check_shapes(own, named, type(model).__name__, path)
    folded: list[tuple[str, np.ndarray, np.ndarray | None]] = []
    used: set[str] = set()
    for node in graph.node:
        if node.op_type != "Conv" or node.input[1] in named or node.input[1] in used:
            continue
        used.add(node.input[1])
        bias = inits.get(node.input[2]) if len(node.input) > 2 else None
        folded.append((_module_path(node.output[0]), inits[node.input[1]], bias))
    pairs = _conv_bn_pairs(_execution_order(model, input_size))
    names = {id(m): name for name, m in model.named_modules()}
    free = {names[id(c)]: (c, b) for c, b in pairs if f"{names[id(c)]}.weight" not in named}
    unfolded = {names[id(m)] for pair in free.values() for m in pair}  # every one is filled below
    if len(free) != len(folded):
        raise DataError(f"weights do not fit this model: the file has {len(folded)} folded conv+BN layers, "
                        f"the model {len(free)}", path=path)
    with torch.no_grad():
        model.load_state_dict({k: torch.tensor(v) for k, v in named.items()}, strict=False)
        for i, (module_path, weight, bias) in enumerate(folded):
            # The exporter's node names give the module path; otherwise (anonymous nodes) take the
            # earliest unused layer of the same shape in execution order.
            match = free.get(module_path) or next(
                (p for p in free.values() if tuple(p[0].weight.shape) == weight.shape), None)
            if match is None or tuple(match[0].weight.shape) != weight.shape:
                raise DataError(f"weights do not fit this model: no layer for folded conv #{i + 1} "
                                f"({module_path or 'unnamed'}, shape {list(weight.shape)})", path=path)
            conv, bn = match
            del free[names[id(conv)]]
            conv.weight.copy_(torch.tensor(weight))
            b = torch.zeros(conv.out_channels) if bias is None else torch.tensor(bias)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # (x - 0) / sqrt(var + eps) == x
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
            setattr(bn, _UNFOLDED, b.clone())
    missing = [k for k in own if k not in named and k.rsplit(".", 1)[0] not in unfolded
               and "classifier" not in k and not k.endswith("num_batches_tracked")]
    if missing:
        raise DataError(f"weights do not fit this model: {len(missing)} tensors not in the file, e.g. {missing[0]}",
                        path=path)
    return len(named) + 2 * len(folded)


def _module_path(output_name: str) -> str:
    """``/conv2/conv2.0/conv2a/conv2/Conv_output_0`` -> ``conv2.0.conv2a.conv2`` (torch.onnx naming)."""
    parts: list[str] = []
    for scope in output_name.strip("/").split("/")[:-1]:
        if parts and scope.startswith(parts[-1] + "."):  # a container's child is named "parent.index"
            parts[-1] = scope
        else:
            parts.append(scope)
    return ".".join(parts)


def calibrate_unfolded_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Give imported (unfolded) BNs the statistics of their conv's output on ``batches``.

    Eval-mode outputs are unchanged (``gamma = sqrt(var + eps)``, ``beta = mean + b'``); train-mode
    BN then normalises by batch statistics close to those.  Returns the number of BNs calibrated.
    """
    targets = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d) and hasattr(m, _UNFOLDED)]
    if not targets:
        return 0
    sums: dict[int, list[torch.Tensor]] = {}

    def record(bn: nn.BatchNorm2d, inputs, _output) -> None:
        x = inputs[0].detach().double()
        acc = sums.setdefault(id(bn), [torch.zeros(x.shape[1], dtype=torch.float64)] * 2 + [0])
        acc[0] = acc[0] + x.sum(dim=(0, 2, 3))
        acc[1] = acc[1] + (x * x).sum(dim=(0, 2, 3))
        acc[2] += x.shape[0] * x.shape[2] * x.shape[3]

    hooks = [bn.register_forward_hook(record) for bn in targets]
    was_training = model.training
    model.eval()  # BNs are exact identities+bias while measuring, so every layer sees imported inputs
    try:
        with torch.no_grad():
            for batch in batches:
                model(batch)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    with torch.no_grad():
        for bn in targets:
            if id(bn) not in sums:
                continue
            s, ss, n = sums[id(bn)]
            mean = s / n
            var = (ss / n - mean * mean).clamp_min(1e-6)
            bias = getattr(bn, _UNFOLDED).double()
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_((var + bn.eps).sqrt())
            bn.bias.copy_(mean + bias)
            delattr(bn, _UNFOLDED)
    return len(sums)
