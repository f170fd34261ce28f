"""Benchmark the photo pipeline on a generated 12 MP phone-like JPEG.

Compares :func:`relief_pwa.adapters.photos.process_photo` with a naive
baseline measured in the same run: ``Image.open(...).save(...)`` at full size
(decode everything, re-encode everything, no checks, no resize).

Each variant runs in its own child process so that ``ru_maxrss`` (a
process-wide high-water mark) is not inherited from the other variant. The
test photo is generated in a child too: on Linux a child starts with its
parent's maxrss (it survives fork and exec), so a parent that had built a
12 MP image would hide the children's peaks.
Timing and memory are measured in separate passes: tracemalloc slows Python
code down and would distort the times. Note that tracemalloc only sees Python
allocations (the upload and output ``bytes``); Pillow's pixel buffers are
allocated in C and show up only in the maxrss figure.

Run from the repository root::

    .venv/bin/python -m bench.bench_photos            # 10 photos per variant
    .venv/bin/python -m bench.bench_photos -n 30
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from relief_pwa.adapters.photos import PhotoLimits, process_photo

TARGET_MS = 400.0
VARIANTS = ("pipeline", "baseline")


def run_pipeline(data: bytes) -> int:
    return len(process_photo(data, PhotoLimits()).image_jpeg)


def run_baseline(data: bytes) -> int:
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buffer, format="JPEG", quality=PhotoLimits().jpeg_quality)
    return len(buffer.getvalue())


RUNNERS: dict[str, Callable[[bytes], int]] = {"pipeline": run_pipeline, "baseline": run_baseline}


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (no interpolation: honest with few samples)."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.5))
    return ordered[min(rank, len(ordered)) - 1]


def maxrss_mib() -> float:
    # Linux reports KiB (macOS bytes; this bench targets the Linux servers).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(variant: str, data: bytes, repeat: int, warmup: int) -> dict[str, float]:
    """Run one variant in this process and return its figures."""
    run = RUNNERS[variant]
    rss_before = maxrss_mib()
    for _ in range(warmup):
        run(data)

    times_ms: list[float] = []
    output_bytes = 0
    for _ in range(repeat):
        started = time.perf_counter()
        output_bytes = run(data)
        times_ms.append((time.perf_counter() - started) * 1000)

    tracemalloc.start()
    run(data)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        "p50_ms": percentile(times_ms, 0.50),
        "p95_ms": percentile(times_ms, 0.95),
        "mean_ms": statistics.fmean(times_ms),
        "tracemalloc_peak_mib": traced_peak / 2**20,
        "maxrss_delta_mib": maxrss_mib() - rss_before,
        "output_kib": output_bytes / 1024,
    }


def run_self(*arguments: str) -> str:
    command = [sys.executable, "-m", "bench.bench_photos", *arguments]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def run_child(variant: str, input_path: Path, repeat: int, warmup: int) -> dict[str, float]:
    output = run_self(
        "--child", variant, "--input", str(input_path), "-n", str(repeat), "--warmup", str(warmup)
    )
    figures: dict[str, float] = json.loads(output)
    return figures


def write_photo(path: Path) -> None:
    # The same generator the tests use: 4000×3000, photo-like texture, EXIF GPS.
    from tests.adapters.imagefactory import twelve_megapixel_jpeg

    path.write_bytes(twelve_megapixel_jpeg())


def print_table(results: dict[str, dict[str, float]], photo_size: int, repeat: int) -> None:
    columns = [
        ("p50 ms", "p50_ms"),
        ("p95 ms", "p95_ms"),
        ("mean ms", "mean_ms"),
        ("tracemalloc peak MiB", "tracemalloc_peak_mib"),
        ("maxrss delta MiB", "maxrss_delta_mib"),
        ("output KiB", "output_kib"),
    ]
    print(f"input: 4000×3000 JPEG, {photo_size / 2**20:.2f} MiB; {repeat} runs per variant")
    header = f"{'variant':<10}" + "".join(f"{title:>22}" for title, _ in columns)
    print(header)
    print("-" * len(header))
    for variant, figures in results.items():
        print(f"{variant:<10}" + "".join(f"{figures[key]:>22.1f}" for _, key in columns))
    pipeline, baseline = results["pipeline"], results["baseline"]
    ratio_row = "".join(
        f"{pipeline[key] / baseline[key]:>22.2f}" if baseline[key] else f"{'n/a':>22}" for _, key in columns
    )
    print(f"{'ratio':<10}{ratio_row}")
    verdict = "OK" if pipeline["p95_ms"] < TARGET_MS else "OVER TARGET"
    print(
        f"target: pipeline under {TARGET_MS:.0f} ms per photo -> p95 {pipeline['p95_ms']:.0f} ms: {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--repeat", type=int, default=10, help="photos per variant (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.generate:
        write_photo(args.generate)
        return
    if args.child:
        data = args.input.read_bytes()
        print(json.dumps(measure(args.child, data, args.repeat, args.warmup)))
        return

    with tempfile.TemporaryDirectory() as folder:
        input_path = Path(folder) / "photo.jpg"
        run_self("--generate", str(input_path))
        photo_size = input_path.stat().st_size
        results = {variant: run_child(variant, input_path, args.repeat, args.warmup) for variant in VARIANTS}
    print_table(results, photo_size, args.repeat)


if __name__ == "__main__":
    main()
