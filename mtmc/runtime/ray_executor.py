"""``runtime.executor: ray``: cameras in groups, one Ray actor per group, the associator in the driver.

Per time step each worker reads, detects and tracks its cameras and returns their tracks
(a few hundred bytes per camera); the driver's associator then says which crops it wants
embedded, and the worker that holds that frame's images embeds them.  Workers run up to
``runtime.max_in_flight`` time steps ahead (their tracking does not wait for the associator),
which also bounds the images each one holds.  Requests to one actor run in the order they
were sent, so a worker sees exactly the calls the local executor makes, in the same order,
and the output files are identical.

A worker that dies (killed, out of memory, its node lost) stops the run with one error
naming its cameras; cameras are not restarted (their trackers' state is gone with them).
"""

from __future__ import annotations

import logging
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator

import numpy as np

from mtmc.errors import ConfigError, MtmcError, first_line
from mtmc.runtime.worker import CameraWorker, sent_bytes

RAY_HINT = 'runtime.executor=ray needs Ray: pip install "mtmc[ray]" (or pip install "ray>=2.9")'


def import_ray():
    """The ``ray`` module, or a one-line ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_HINT) from None
    return ray


def connect(runtime) -> bool:
    """Join the Ray cluster at ``runtime.address`` (or start a private one); True if this call started it."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    # Workers' own output stays in Ray's log folder: a dying worker is reported once, by the driver.
    kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if runtime.address:
        kwargs["address"] = runtime.address
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        reason = first_line(err)
        raise ConfigError(
            f"runtime.address={runtime.address}: cannot join a Ray cluster ({reason}); start one with "
            "`ray start --head`, or leave runtime.address unset for a Ray on this machine only"
        ) from None
    return True


def camera_groups(num_cameras: int, num_workers: int) -> list[list[int]]:
    """Contiguous, balanced groups of camera indices, one per worker (0 workers: one per camera)."""
    workers = num_cameras if num_workers <= 0 else min(num_workers, num_cameras)
    return [chunk.tolist() for chunk in np.array_split(np.arange(num_cameras), max(workers, 1))]


def worker_count(ray, runtime, num_cameras: int) -> int:
    """``runtime.num_workers``, or (0) one per camera as far as the cluster's CPUs go.

    Workers beyond the cluster's CPUs would wait for resources forever (or for an autoscaler): an explicit
    count is kept but warned about, the automatic one fits the cluster."""
    cpus = float(ray.cluster_resources().get("CPU", 0.0))
    fits = max(1, int(cpus // runtime.cpus_per_worker))
    if runtime.num_workers <= 0:
        return min(num_cameras, fits)
    wanted = min(runtime.num_workers, num_cameras)
    if wanted > fits:
        print(
            f"mtmc: warning: runtime.num_workers={wanted} x cpus_per_worker={runtime.cpus_per_worker:g} needs "
            f"{wanted * runtime.cpus_per_worker:g} CPUs, the Ray cluster has {cpus:g}: workers wait for them",
            file=sys.stderr,
        )
    return wanted


class RaySteps:
    """The time steps of ``pipeline``'s scene, tracked by Ray actors (see the module doc)."""

    def __init__(self, pipeline):
        cfg, scene = pipeline.cfg, pipeline.scene
        self._clock = [time.perf_counter()]  # start, first step in, last step done
        self.ray = ray = import_ray()
        self.runtime = runtime = cfg.runtime
        self.scene = scene
        self.started = connect(runtime)
        self.groups = camera_groups(len(scene.cameras), worker_count(ray, runtime, len(scene.cameras)))
        self.names = [[scene.cameras[i].name for i in group] for group in self.groups]
        self.holds_images = pipeline.embedder is not None  # workers keep a step's images until embed()
        actor = ray.remote(CameraWorker)
        run_id = uuid.uuid4().hex[:8]
        scene_ref = ray.put(scene)
        self.workers = [
            actor.options(
                name=f"mtmc-{run_id}-{'+'.join(names)}",  # `ray list actors` shows whose cameras these are
                num_cpus=runtime.cpus_per_worker,
                num_gpus=runtime.gpus_per_worker,
                max_restarts=0,
                max_task_retries=0,
            ).remote(cfg, scene_ref, group, pipeline.custom_embedder)
            for group, names in zip(self.groups, self.names)
        ]
        self._in_flight: deque[list] = deque()  # per submitted time step: one track() ref per worker
        self._next_frame = 1
        self._embedded = False
        self._stats: list[dict] = []
        self._orphans: list = []  # refs left unread when a step failed
        self.request_bytes = 0
        self.frames_done = 0

    # -- the StepSource protocol -----------------------------------------------------------------

    @property
    def seconds(self) -> dict[str, float]:
        total = {"detect": 0.0, "track": 0.0, "reid": 0.0}
        for stats in self._stats:
            for key, value in stats["seconds"].items():
                total[key] = total.get(key, 0.0) + value
        return total

    @property
    def embedded_crops(self) -> int:
        return sum(stats["embedded_crops"] for stats in self._stats)

    def __iter__(self) -> Iterator[tuple[int, list[np.ndarray]]]:
        self._fill()
        for frame in range(1, self.scene.num_frames + 1):
            parts = self._get(list(range(len(self.workers))), self._in_flight.popleft())
            tracks: list[np.ndarray] = [None] * len(self.scene.cameras)  # type: ignore[list-item]
            for group, part in zip(self.groups, parts):
                for cam, boxes in zip(group, part):
                    tracks[cam] = boxes
            self._embedded = False
            if frame == 1:
                self._clock.append(time.perf_counter())
            yield frame, tracks
            if not self._embedded and self.holds_images:
                self.embed(frame, [None] * len(tracks))  # let the workers drop this step's images
            self.frames_done += 1
            self._fill()
        self._clock.append(time.perf_counter())
        self._stats = self._get(list(range(len(self.workers))), [w.stats.remote() for w in self.workers])

    def embed(self, frame: int, wanted: list[np.ndarray | None]) -> list[np.ndarray | None]:
        self._embedded = True
        out: list[np.ndarray | None] = [None] * len(wanted)
        if not self.holds_images:
            return out
        waiting, refs = [], []
        for index, (worker, group) in enumerate(zip(self.workers, self.groups)):
            masks = [wanted[cam] for cam in group]
            self.request_bytes += sent_bytes((frame, masks))
            ref = worker.embed.remote(frame, masks)  # sent even when nothing is wanted: frees the images
            if any(m is not None and np.any(m) for m in masks):
                waiting.append(index)
                refs.append(ref)
        self._fill()  # queue the next steps behind these requests, so workers never wait for the driver
        for index, part in zip(waiting, self._get(waiting, refs)):
            for cam, rows in zip(self.groups[index], part):
                if rows is not None:  # back to CameraStage.embed's layout: row-aligned, nan where not wanted
                    out[cam] = np.full((len(wanted[cam]), rows.shape[1]), np.nan, dtype=rows.dtype)
                    out[cam][wanted[cam]] = rows
        return out

    def stats(self) -> dict:
        frames = max(self.frames_done, 1) * max(len(self.scene.cameras), 1)
        sent = {
            "tracks": sum(s["bytes"]["tracks"] for s in self._stats),
            "embeddings": sum(s["bytes"]["embeddings"] for s in self._stats),
            "requests": self.request_bytes + sent_bytes(1) * self.frames_done * len(self.groups),
        }
        per = {key: round(value / frames, 1) for key, value in sent.items()}
        per["total"] = round(sum(sent.values()) / frames, 1)
        out = {
            "executor": "ray",
            "workers": [list(names) for names in self.names],
            "max_in_flight": self.runtime.max_in_flight,
            "bytes_per_camera_frame": per,
            "worker_cpu_seconds": round(sum(s["cpu_seconds"] for s in self._stats), 2),
            "worker_busy": [round(s["busy"], 3) for s in self._stats],  # share of its life a worker had work
        }
        if len(self._clock) == 3:  # connecting and starting workers vs the steady state after the first step
            start, first, last = self._clock
            out["startup_seconds"] = round(first - start, 2)
            out["steps_per_second"] = round((self.frames_done - 1) / max(last - first, 1e-9), 2)
        return out

    def __enter__(self) -> RaySteps:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for worker in self.workers:
            self.ray.kill(worker)
        self.workers = []
        # Collect what is still in flight (failed by the kill, or the error that stopped the run), so
        # Ray does not print an "unhandled error" for each of them.
        for ref in self._orphans + [ref for step in self._in_flight for ref in step]:
            try:
                self.ray.get(ref, timeout=10)
            except Exception:  # noqa: BLE001 - whatever these hold, the run is over
                pass
        self._orphans, self._in_flight = [], deque()
        if self.started:
            self.ray.shutdown()
            self.started = False

    # -- helpers ----------------------------------------------------------------------------------

    def _fill(self) -> None:
        """Keep ``max_in_flight`` time steps submitted to every worker (backpressure beyond that)."""
        while self._next_frame <= self.scene.num_frames and len(self._in_flight) < self.runtime.max_in_flight:
            frame = self._next_frame
            self._in_flight.append([w.track.remote(frame) for w in self.workers])
            self._next_frame += 1

    def _get(self, indices: list[int], refs: list) -> list:
        """Results of ``refs`` (one per worker ``indices``); a dead worker is one error naming its cameras."""
        out = []
        for k, (index, ref) in enumerate(zip(indices, refs)):
            try:
                out.append(self._get_one(index, ref))
            except BaseException:
                self._orphans.extend(refs[k + 1 :])
                raise
        return out

    def _get_one(self, index: int, ref):
        exceptions = self.ray.exceptions
        try:
            return self.ray.get(ref)
        except exceptions.RayTaskError as err:  # the worker raised: give its own error back
            if isinstance(getattr(err, "cause", None), MtmcError):
                raise err.cause from None
            raise
        except exceptions.RayActorError as err:
            cameras = ", ".join(repr(n) for n in self.names[index])
            raise MtmcError(
                f"camera {cameras}: its Ray worker died ({first_line(err)}); the run stopped "
                "(cameras are not restarted: run the scene again)"
            ) from None
