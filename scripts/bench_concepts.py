"""Benchmark: time and peak memory to compute every FICT concept mask of one 512 px face.

    python scripts/bench_concepts.py [--repeat 30] [--size 512]

Runs on one core (OpenCV and BLAS threads pinned to 1). Prints the median and best time of
`atomic_label_map` (the per-pixel atomic labels), of `concept_masks(level=None)` (every node's mask),
and the peak memory that computing all masks allocates (tracemalloc counts numpy's buffers).
Target (issue 2): all concept masks of a 512 px face in under 50 ms on one core.
"""
import os
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(var, '1')
import argparse, time, tracemalloc, statistics, platform
import numpy as np, cv2
cv2.setNumThreads(1)
from fifa_nb.core import resize_max
from fifa_nb.samples import sample_face
from fifa_nb.concepts import FICT
from fifa_nb.regions import atomic_label_map, concept_masks

def timeit(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3, min(times) * 1e3

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--repeat', type=int, default=30)
    ap.add_argument('--size', type=int, default=512, help='longest image side in pixels')
    ap.add_argument('--sample', default='astronaut')
    args = ap.parse_args()
    s = sample_face(args.sample)
    image, scale = resize_max(s.image, args.size) if max(s.image.shape[:2]) != args.size else (s.image, 1.0)
    layouts = [s.landmarks.scaled(scale)] + ([s.mesh.scaled(scale)] if s.mesh is not None else [])
    timings = [(timeit(lambda: atomic_label_map(lm, image.shape), args.repeat),
                timeit(lambda: concept_masks(lm, image.shape), args.repeat)) for lm in layouts]
    results = []
    for lm, (label_ms, all_ms) in zip(layouts, timings):   # memory last: tracemalloc slows allocation for a while
        tracemalloc.start()
        masks = concept_masks(lm, image.shape)
        _, peak = tracemalloc.get_traced_memory(); tracemalloc.stop()
        results.append((lm.layout, label_ms, all_ms, peak, len(masks)))
        del masks
    print(f'fifa_nb concept masks, sample {args.sample!r} at {image.shape[1]}x{image.shape[0]} px, '
          f'{len(FICT)} nodes ({len(FICT.atomic())} atomic), 1 thread, {platform.processor() or platform.machine()}')
    for layout, (lm_med, lm_min), (all_med, all_min), peak, n in results:
        print(f'  {layout:13s} atomic label map: median {lm_med:6.1f} ms (best {lm_min:5.1f})   '
              f'all {n} masks: median {all_med:6.1f} ms (best {all_min:5.1f})   peak memory {peak / 2**20:5.1f} MiB')

if __name__ == '__main__': main()
