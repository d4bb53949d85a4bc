"""CPU throughput of zoo models (crops/s) on torch and onnxruntime, against the matmul peak.

The bound: a model doing M MACs per crop cannot beat ``peak_gmacs * 1e9 / M`` crops/s, where
``peak_gmacs`` is half the GFLOP/s of a large float32 matmul on the same threads.  ``ratio``
= bound / achieved (1.0 = at the matmul peak; the target is <= 2).  Timings cover the model
forward only (a preprocessed float32 batch), not JPEG decoding or resizing; each cell
is the fastest of several round-robin calls, since other processes on a shared machine only ever add time.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class BenchRow:
    model: str
    backend: str
    batch: int
    crops_per_s: float
    params: int
    macs: int

    @property
    def gmacs_per_s(self) -> float:
        return self.crops_per_s * self.macs / 1e9


def time_per_call(
    fn: Callable[[], object], min_time: float = 1.0, warmup: int = 1, min_calls: int = 2
) -> float:
    """Fastest single call (seconds) after ``warmup`` calls, over >= ``min_calls`` calls and ``min_time``.

    The minimum, not the mean: on a shared machine other processes only ever add time.
    """
    for _ in range(warmup):
        fn()
    best, calls, start = float("inf"), 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        calls += 1
    return best


def matmul_gflops(threads: int, n: int = 2048, min_time: float = 1.0) -> float:
    """GFLOP/s of an n x n float32 torch matmul (2 n^3 FLOPs) on ``threads`` threads."""
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = time_per_call(lambda: torch.mm(a, b), min_time)
    return 2 * n**3 / seconds / 1e9


def run_bench(
    names: Sequence[str],
    batch_sizes: Sequence[int],
    backends: Sequence[str],
    threads: int,
    rounds: int = 3,
    log: Callable[[str], None] = lambda msg: None,
) -> tuple[list[BenchRow], float]:
    """Crops/s of every (model, backend, batch size), and the matmul peak GFLOP/s.

    Cells are timed round-robin, ``rounds`` times each (after one warm-up call), keeping each
    cell's fastest call, and the peak is re-measured every round (keeping the best), so slow
    phases of a shared machine hit all models alike instead of whichever ran at that moment.
    """
    from reid.export import export_onnx
    from reid.flops import count_macs
    from reid.models.blocks import count_inference_params
    from reid.registry import build_model, model_info

    torch.set_num_threads(threads)
    cells: list[tuple[BenchRow, Callable[[], object]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            log(f"preparing {name} ...")
            info = model_info(name)
            model = build_model(name, num_classes=0).eval()
            params, macs = count_inference_params(model), count_macs(model, info.input_size)
            for backend in backends:
                if backend == "torch":
                    runner = _torch_runner(model)
                elif backend == "onnx":
                    runner = _onnx_runner(export_onnx(model, Path(tmp) / f"{name}.onnx", info), threads)
                else:
                    raise ValueError(f"unknown backend {backend!r}; expected torch or onnx")
                for batch in batch_sizes:
                    x = np.random.default_rng(0).standard_normal(
                        (batch, 3, *info.input_size), dtype=np.float32
                    )
                    call = lambda x=x, run=runner: run(x)  # noqa: E731
                    call()  # warm-up: allocations, one-off kernel selection
                    cells.append((BenchRow(name, backend, batch, 0.0, params, macs), call))
    best = [float("inf")] * len(cells)
    peak = 0.0
    for r in range(rounds):
        peak = max(peak, matmul_gflops(threads, min_time=0.5))
        log(f"round {r + 1}/{rounds} (peak so far {peak:.1f} GFLOP/s)")
        for i, (_, call) in enumerate(cells):
            t0 = time.perf_counter()
            call()
            best[i] = min(best[i], time.perf_counter() - t0)
    rows = [row for row, _ in cells]
    for row, seconds in zip(rows, best):
        row.crops_per_s = row.batch / seconds
    return rows, peak


def _torch_runner(model: torch.nn.Module) -> Callable[[np.ndarray], object]:
    from reid.models.blocks import optimize_for_inference

    model = optimize_for_inference(model)  # what TorchEmbedder runs

    def run(x: np.ndarray) -> object:
        with torch.inference_mode():
            return model(torch.from_numpy(x).contiguous(memory_format=torch.channels_last))

    return run


def _onnx_runner(path: Path, threads: int) -> Callable[[np.ndarray], object]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def machine_line(threads: int) -> str:
    import onnxruntime

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs; {threads} thread(s); load average {load}; "
        f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}"
    )


def markdown_report(rows: list[BenchRow], peak_gflops: float, threads: int, command: str) -> str:
    """Throughput table and bound table in markdown."""
    peak_gmacs = peak_gflops / 2
    batches = sorted({r.batch for r in rows})
    models = list(dict.fromkeys(r.model for r in rows))
    lines = [
        f"Command: `{command}`",
        "",
        f"Machine: {machine_line(threads)}. Matmul peak: {peak_gflops:.1f} GFLOP/s float32 "
        f"(= {peak_gmacs:.1f} GMAC/s).",
        "",
        "Throughput (crops/s, model forward only, batch of preprocessed crops):",
        "",
        "| model | params (inference) | MACs | backend | " + " | ".join(f"b={b}" for b in batches) + " |",
        "|---|---:|---:|---|" + "---:|" * len(batches),
    ]
    for row_model in models:
        for backend in dict.fromkeys(r.backend for r in rows if r.model == row_model):
            cells = {r.batch: r for r in rows if r.model == row_model and r.backend == backend}
            first = next(iter(cells.values()))
            values = " | ".join(f"{cells[b].crops_per_s:.1f}" if b in cells else "-" for b in batches)
            lines.append(
                f"| {row_model} | {first.params:,} | {first.macs / 1e6:.1f}M | {backend} | {values} |"
            )
    lines += [
        "",
        "Best backend against the matmul bound (ratio = bound / achieved crops/s; target <= 2):",
        "",
        "| model | batch | best backend | crops/s | achieved GMAC/s | bound crops/s | ratio | within 2x |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for row_model in models:
        for b in batches:
            cands = [r for r in rows if r.model == row_model and r.batch == b]
            if not cands:
                continue
            best = max(cands, key=lambda r: r.crops_per_s)
            bound = peak_gmacs * 1e9 / best.macs
            ratio = bound / best.crops_per_s
            lines.append(
                f"| {row_model} | {b} | {best.backend} | {best.crops_per_s:.1f} | {best.gmacs_per_s:.1f} | "
                f"{bound:.1f} | {ratio:.2f} | {'yes' if ratio <= 2 else 'no'} |"
            )
    return "\n".join(lines) + "\n"
