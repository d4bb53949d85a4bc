"""``mtmc track FOLDER --batch -o OUT``: one tracking job per scene or video in FOLDER.

Every sub-folder (a multi-camera scene, a MOT sequence or an image folder) and every video
file of FOLDER is one job, tracked into ``OUT/<name>/`` exactly as ``mtmc track`` would.
Jobs run in a local process pool (``runtime.executor: local``) or as Ray tasks
(``runtime.executor: ray``; each job then runs its cameras in one process), at most
``runtime.num_workers`` at a time.  A job whose ``summary.json`` is complete is skipped, so
an interrupted batch resumes where it stopped; ``OUT/batch.json`` and the printed table
summarise all jobs.  A failed job does not stop the others; the batch then fails at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mtmc.atomic import write_json
from mtmc.config import PipelineConfig, RuntimeConfig, dump_config
from mtmc.errors import ConfigError, DataError, first_line
from mtmc.io.media import VIDEO_EXTS


@dataclass
class Job:
    name: str
    input: Path
    out: Path


def find_jobs(folder: str | Path, out: str | Path) -> list[Job]:
    """One job per visible sub-folder and video file of ``folder``, in name order."""
    folder, out = Path(folder), Path(out)
    if not folder.is_dir():
        raise DataError("--batch expects a folder of scenes or videos", path=folder)
    jobs: dict[str, Job] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or entry.resolve() == out.resolve():
            continue
        if entry.is_file() and entry.suffix.lower() not in VIDEO_EXTS:
            continue
        name = entry.stem if entry.is_file() else entry.name
        if name in jobs:
            raise DataError(f"two jobs would write {out / name}: {jobs[name].input.name} and {entry.name}", path=folder)
        jobs[name] = Job(name, entry, out / name)
    if not jobs:
        raise DataError(f"no scene folders or videos ({', '.join(VIDEO_EXTS)}) to track", path=folder)
    return list(jobs.values())


def job_config(cfg: PipelineConfig) -> PipelineConfig:
    """What each job runs: the same config, its cameras in one process (the batch spreads the jobs)."""
    return dataclasses.replace(cfg, runtime=RuntimeConfig())


def finished(job: Job, cfg: PipelineConfig) -> dict | None:
    """The summary of a job already done with this config; None if it has still to run.

    A job done with another config is an error: its results would be mixed with this batch's."""
    try:
        summary = json.loads((job.out / "summary.json").read_text())
    except (OSError, ValueError):
        return None  # not finished (summary.json is written last, atomically)
    if not isinstance(summary, dict) or "frames" not in summary:
        return None
    config = job.out / "config.yaml"
    if not config.is_file() or config.read_text() != dump_config(job_config(cfg)):
        raise ConfigError(
            f"{job.out} was tracked with another config (its config.yaml differs); "
            "write this batch to another -o folder or delete that run"
        )
    return summary


def run_job(job: Job, cfg: PipelineConfig, evaluate: bool, online: bool = False) -> dict:
    """Track one job; a row for the table (never raises: a failure is a row too)."""
    from mtmc.run import run_tracking

    start = time.perf_counter()
    try:
        summary = run_tracking(job.input, job_config(cfg), job.out, evaluate=evaluate, progress=False,
                               online=online)
    except Exception as err:  # noqa: BLE001 - one job's failure is reported in the table, the rest go on
        text = first_line(err)
        return {"job": job.name, "status": "failed", "error": text, "seconds": round(time.perf_counter() - start, 1)}
    return row(job, summary, "done")


def row(job: Job, summary: dict, status: str) -> dict:
    out = {
        "job": job.name,
        "status": status,
        "cameras": len(summary.get("cameras", [])),
        "frames": summary.get("frames"),
        "identities": summary.get("identities"),
        "seconds": summary.get("wall_seconds"),
    }
    metrics = summary.get("metrics") or {}
    if isinstance(metrics, dict) and metrics:
        overall = metrics.get("MULTICAM") or metrics.get("OVERALL") or next(iter(metrics.values()))
        for key in ("MOTA", "IDF1"):
            if isinstance(overall, dict) and key in overall:
                out[key] = overall[key]
    return out


def _local_results(jobs: list[Job], cfg: PipelineConfig, evaluate: bool, workers: int,
                   online: bool) -> Iterator[dict]:
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            yield run_job(job, cfg, evaluate, online)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn: a fresh interpreter per worker (forking a process with torch/onnxruntime threads is unsafe)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_job, job, cfg, evaluate, online) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _ray_results(jobs: list[Job], cfg: PipelineConfig, evaluate: bool, online: bool) -> Iterator[dict]:
    from mtmc.runtime.ray_executor import connect, import_ray

    ray = import_ray()
    started = connect(cfg.runtime)
    # A task lost with its worker or node runs again from the start (its outputs are written atomically).
    task = ray.remote(run_job).options(num_cpus=cfg.runtime.cpus_per_worker, num_gpus=cfg.runtime.gpus_per_worker,
                                       max_retries=2)
    limit = cfg.runtime.num_workers or len(jobs)
    try:
        waiting, pending = list(jobs), {}
        while waiting or pending:
            while waiting and len(pending) < limit:
                job = waiting.pop(0)
                pending[task.remote(job, cfg, evaluate, online)] = job
            done, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(done[0])
            try:
                yield ray.get(done[0])
            except (ray.exceptions.RayError, OSError) as err:
                text = first_line(err)
                yield {"job": job.name, "status": "failed", "error": text}
    finally:
        if started:
            ray.shutdown()


def run_batch(
    folder: str | Path,
    cfg: PipelineConfig,
    out: str | Path,
    evaluate: bool = False,
    online: bool = False,
    echo: Callable[[str], None] = print,
) -> list[dict]:
    """Track every job of ``folder`` into ``out``; returns the rows of the summary table (job order)."""
    out = Path(out)
    jobs = find_jobs(folder, out)
    rows: dict[str, dict] = {}
    todo = []
    for job in jobs:
        summary = finished(job, cfg)
        if summary is not None:
            rows[job.name] = row(job, summary, "skipped")  # done by an earlier, interrupted batch
        else:
            todo.append(job)
    echo(f"batch: {len(jobs)} jobs, {len(jobs) - len(todo)} already done, {len(todo)} to run")
    if todo:
        workers = cfg.runtime.num_workers or os.cpu_count() or 1
        results = _ray_results(todo, cfg, evaluate, online) if cfg.runtime.executor == "ray" else _local_results(
            todo, cfg, evaluate, min(workers, len(todo)), online
        )
        for k, result in enumerate(results, 1):
            rows[result["job"]] = result
            echo(f"[{k}/{len(todo)}] {result['job']}: {result['status']}" + (
                f" ({result['error']})" if result["status"] == "failed" else ""))
    table = [rows[job.name] for job in jobs]
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "batch.json", {"input": str(Path(folder).resolve()), "jobs": table})
    return table


def format_table(rows: list[dict]) -> str:
    """The batch summary as an aligned text table."""
    keys = ["job", "status", "cameras", "frames", "identities", "seconds"]
    keys += [k for k in ("MOTA", "IDF1") if any(k in r for r in rows)]
    cells = [[_cell(r.get(k)) for k in keys] for r in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]
    lines = ["  ".join(k.ljust(w) for k, w in zip(keys, widths))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
    failed = [r for r in rows if r["status"] == "failed"]
    lines += [f"  {r['job']}: {r['error']}" for r in failed]
    return "\n".join(lines)


def _cell(value) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)

