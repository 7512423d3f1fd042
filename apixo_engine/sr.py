"""Super-resolution: Real-ESRGAN models run by ncnn, tiled, on the CPU or a Vulkan GPU.

`Upscaler` owns the engine's models: each loads once per process (its files checked
against their pinned sha256 first), one inference runs at a time with every core (so two
pool threads never oversubscribe the machine), and `choose()` picks, per task, the best
model whose estimated time fits the budget. With no ncnn or no good weights it says why
and every task takes the Lanczos path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .weights import WeightsError, check

logger = logging.getLogger(__name__)

AUTO = "auto"
LANCZOS = "lanczos"
# Input pixels of context each tile gets from its neighbours (output: times the scale).
TILE_PADDING = 16


@dataclass(frozen=True)
class ModelSpec:
    name: str
    scale: int
    # Seconds per input megapixel with 2 threads on this project's 2-core machines
    # (bench/engine_quality.py) and a guess for a GPU; learnt from real runs after that.
    cpu_seconds_per_mp: float
    gpu_seconds_per_mp: float


MODELS = {
    spec.name: spec
    for spec in (
        ModelSpec("realesrgan-x4plus", 4, 250.0, 4.0),
        ModelSpec("realesrgan-x4plus-anime", 4, 75.0, 1.5),
        ModelSpec("realesr-animevideov3-x4", 4, 7.0, 0.3),
        ModelSpec("realesr-animevideov3-x3", 3, 6.0, 0.3),
        ModelSpec("realesr-animevideov3-x2", 2, 5.0, 0.3),
    )
}
# What `auto` tries, best first: the first whose estimate fits the budget runs.
AUTO_ORDER = ("realesrgan-x4plus", "realesr-animevideov3-x4")


@dataclass(frozen=True)
class Choice:
    model: str  # a MODELS name, or LANCZOS
    reason: str


class Network:
    """One loaded ncnn model. `upscale()` is not thread-safe: `Upscaler` serialises it."""

    def __init__(
        self,
        spec: ModelSpec,
        directory: Path,
        *,
        threads: int,
        gpu: bool = False,
        tile: int = 200,
        options: Mapping[str, bool] | None = None,
    ) -> None:
        import ncnn

        param, weights = directory / f"{spec.name}.param", directory / f"{spec.name}.bin"
        check(param)
        check(weights)
        self.spec = spec
        self.tile = max(16, tile)
        self.net = ncnn.Net()
        self.net.opt.num_threads = max(1, threads)
        self.net.opt.use_vulkan_compute = gpu
        for option, value in (options or {}).items():
            setattr(self.net.opt, option, value)
        # Our own memory pools, emptied after each tile: ncnn's default pools keep every
        # buffer they ever made, and edge tiles have other shapes than inner ones, so a
        # 640x480 photo held 3.6 GB through x4plus instead of one tile's worth.
        self._pools = (ncnn.PoolAllocator(), ncnn.PoolAllocator())
        self.net.opt.blob_allocator, self.net.opt.workspace_allocator = self._pools
        if self.net.load_param(str(param)) != 0 or self.net.load_model(str(weights)) != 0:
            raise WeightsError(f"ncnn could not load {spec.name}")
        self._mat = ncnn.Mat

    def upscale(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 -> (H*s, W*s, 3) uint8, tile by tile with overlapping context."""
        scale = self.spec.scale
        height, width = rgb.shape[:2]
        out = np.empty((height * scale, width * scale, 3), dtype=np.uint8)
        for y0, y1, x0, x1 in tiles(height, width, self.tile):
            py0, px0 = max(0, y0 - TILE_PADDING), max(0, x0 - TILE_PADDING)
            py1, px1 = min(height, y1 + TILE_PADDING), min(width, x1 + TILE_PADDING)
            result = self._infer(rgb[py0:py1, px0:px1])
            oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
            out[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = result[
                oy : oy + (y1 - y0) * scale, ox : ox + (x1 - x0) * scale
            ]
        return out

    def _infer(self, piece: np.ndarray) -> np.ndarray:
        height, width = piece.shape[:2]
        mat = self._mat.from_pixels(
            np.ascontiguousarray(piece).tobytes(), self._mat.PixelType.PIXEL_RGB, width, height
        )
        mat.substract_mean_normalize([], [1 / 255.0] * 3)
        try:
            extractor = self.net.create_extractor()
            extractor.input("data", mat)
            status, output = extractor.extract("output")
            if status != 0:
                raise RuntimeError(f"ncnn inference failed ({status})")
            planes = np.array(output)  # (3, H*s, W*s) floats in 0..1, a copy
            del output, extractor
        finally:
            for pool in self._pools:
                pool.clear()
        np.clip(planes, 0.0, 1.0, out=planes)
        return (planes * 255.0 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def tiles(height: int, width: int, size: int) -> Iterator[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of equal tiles of at most size x size that cover the image.

    Equal tiles, not size-wide ones and a sliver: less overlap to compute twice.
    """
    rows, cols = -(-height // size), -(-width // size)
    step_y, step_x = -(-height // rows), -(-width // cols)
    for y0 in range(0, height, step_y):
        for x0 in range(0, width, step_x):
            yield y0, min(y0 + step_y, height), x0, min(x0 + step_x, width)


class Upscaler:
    """The engine's models and how it picks one. Thread-safe."""

    def __init__(
        self,
        model: str = AUTO,
        directory: Path | None = None,
        *,
        threads: int = 0,
        tile: int = 200,
        time_budget: float = 120.0,
        gpu: str = AUTO,
        detail: float = 0.75,
        options: Mapping[str, bool] | None = None,
    ) -> None:
        self.requested = model if model in MODELS or model == LANCZOS else AUTO
        self.directory = directory
        self.threads = threads or os.cpu_count() or 1
        self.tile = tile
        self.time_budget = time_budget
        # The model's share of the result; the rest is a Lanczos resize of the source
        # (processing.blend): less invented texture, more of the photo's own structure.
        self.detail = min(1.0, max(0.0, detail))
        self.options = dict(options or {})
        self.gpu = False
        self.problem: str | None = None  # why no model can run: every task takes Lanczos
        self._networks: dict[str, Network] = {}
        self._broken: dict[str, str] = {}
        self._estimates: dict[str, float] = {}
        self._load_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self._prepare(gpu)

    def _prepare(self, gpu: str) -> None:
        """Find the device and load the models the setting needs (a knob may load others)."""
        if self.directory is None:
            self.problem = "no model folder is set"
            return
        try:
            import ncnn
        except ImportError as exc:
            self.problem = f"ncnn is not installed ({exc})"
            return
        if gpu != "off":
            with _quiet_stderr():  # without a Vulkan loader ncnn prints dlopen failures
                self.gpu = ncnn.get_gpu_count() > 0
        for name, spec in MODELS.items():
            per_mp = spec.gpu_seconds_per_mp if self.gpu else spec.cpu_seconds_per_mp
            self._estimates[name] = per_mp * (1 if self.gpu else 2 / self.threads)
        if self.requested == LANCZOS:
            return
        candidates = [self.requested] if self.requested in MODELS else list(AUTO_ORDER)
        if not [name for name in candidates if self.network(name) is not None]:
            self.problem = "; ".join(self._broken[name] for name in candidates)

    # --- loading ----------------------------------------------------------------------

    def network(self, name: str) -> Network | None:
        """The loaded model, loading it the first time; None if it can't be loaded."""
        with self._load_lock:
            if name in self._networks:
                return self._networks[name]
            if name in self._broken or name not in self._estimates or self.directory is None:
                return None
            try:
                network = Network(
                    MODELS[name],
                    self.directory,
                    threads=self.threads,
                    gpu=self.gpu,
                    tile=self.tile,
                    options=self.options,
                )
            except (WeightsError, ImportError, OSError) as exc:
                self._broken[name] = str(exc)
                logger.warning("model %s unavailable: %s", name, exc)
                return None
            self._networks[name] = network
            return network

    # --- choosing ---------------------------------------------------------------------

    def estimate(self, name: str, pixels: int) -> float:
        """Seconds the model is expected to take for a source of this many pixels."""
        return self._estimates[name] * pixels / 1e6

    def choose(self, override: str | None, width: int, height: int, long_edge: int) -> Choice:
        """The model for one task: a knob's override, else the engine's setting."""
        if max(width, height) >= long_edge:
            return Choice(LANCZOS, "the source is already at the tier's size")
        wanted = override if override in MODELS or override in (AUTO, LANCZOS) else None
        wanted = wanted or self.requested
        if wanted == LANCZOS:
            return Choice(LANCZOS, "asked for")
        if wanted in MODELS:
            if self.network(wanted) is None:
                why = self._broken.get(wanted) or self.problem or "not loaded"
                return Choice(LANCZOS, f"fallback: {why}")
            return Choice(wanted, "asked for")
        if self.problem:
            return Choice(LANCZOS, f"fallback: {self.problem}")
        pixels = width * height
        for name in AUTO_ORDER:
            seconds = self.estimate(name, pixels)
            if seconds <= self.time_budget and self.network(name) is not None:
                return Choice(name, f"auto: about {seconds:.0f} s, within the budget")
        return Choice(LANCZOS, "auto: every model would take longer than the budget")

    # --- running ----------------------------------------------------------------------

    def run(self, name: str, rgb: np.ndarray) -> np.ndarray:
        """Upscale by the model's scale; one inference at a time, every core for it."""
        network = self.network(name)
        if network is None:
            raise RuntimeError(f"model {name} is not available")
        with self._run_lock:
            started = time.perf_counter()
            out = network.upscale(rgb)
            elapsed = time.perf_counter() - started
        megapixels = rgb.shape[0] * rgb.shape[1] / 1e6
        if megapixels >= 0.01:  # tiny inputs are all overhead: they would skew it
            self._estimates[name] = 0.7 * self._estimates[name] + 0.3 * elapsed / megapixels
        return out

    # --- reporting --------------------------------------------------------------------

    def device(self) -> str:
        return "GPU (Vulkan)" if self.gpu else f"CPU, {self.threads} threads"

    def describe(self) -> str:
        """One line for the start banner: the model, the device and why."""
        if self.requested == LANCZOS:
            return "model lanczos (ENGINE_MODEL=lanczos: Pillow resize only)"
        if self.problem:
            return f"model lanczos (fallback: {self.problem})"
        if self.requested in MODELS:
            return f"model {self.requested} (ENGINE_MODEL) on the {self.device()}"
        best, fast = AUTO_ORDER
        per_mp = self._estimates[best]
        limit = self.time_budget / per_mp
        return (
            f"model auto: {best} on the {self.device()} (about {per_mp:.0f} s per input"
            f" megapixel) for sources up to {limit:.2f} MP within the {self.time_budget:.0f} s"
            f" budget, {fast} (about {self._estimates[fast]:.0f} s/MP) above that"
        )

    def health(self) -> dict[str, Any]:
        return {
            "model": self.requested,
            "detail": self.detail,
            "device": self.device(),
            "loaded": sorted(self._networks),
            "fallback": self.problem,
            "summary": self.describe(),
        }


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (C libraries write to it directly)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
