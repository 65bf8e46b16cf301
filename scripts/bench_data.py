"""Benchmark the FiFa-11 data pipeline: annotator throughput and the time to build the dataset.

    python scripts/bench_data.py                  # annotator at 256 and 512 px, 1 and 2 processes; build-data with N=1000
    python scripts/bench_data.py --n 200          # a smaller build
    python scripts/bench_data.py --skip-build     # the annotator only

Annotator throughput is measured on the same (real, fake) pairs (one forgery per method, with a random
post-processing chain) annotated at the sample faces' own size (512 px) and at 256 px (pictures and landmarks
shrunk); "1 process" runs with OpenCV's default threads, "2 processes" forks two workers with one OpenCV thread
each (set in the parent before forking: a forked child must not touch OpenCV's thread pool). The build runs
`fifa_nb.dataset.build_dataset` into a temporary folder (deleted afterwards unless --keep) and reports its time,
size on disk and the manifest's counts.
"""
import argparse, multiprocessing as mp, os, platform, shutil, tempfile, time, warnings
from pathlib import Path
import numpy as np, cv2
from fifa_nb.core import resize_max
from fifa_nb.samples import sample_faces
from fifa_nb.forgery import FORGERY_METHODS, make_forgery, random_postprocess
from fifa_nb.annotator import annotate

PAIRS = []   # filled before forking, so workers inherit them

def make_pairs(size):
    "One (real, fake, landmarks, family, method) per forgery method, at `size` px (the longer side)."
    a, h = sample_faces()
    pairs = []
    for i, m in enumerate(FORGERY_METHODS):
        target, donor = (a, h) if i % 2 else (h, a)
        f = make_forgery(target.image, target.landmarks, m, donor=donor, seed=i, postprocess=random_postprocess(i))
        real, k = resize_max(f.real, size)
        fake = resize_max(f.fake, size)[0]
        lm = target.landmarks.scaled((real.shape[1] / f.real.shape[1], real.shape[0] / f.real.shape[0])) if k != 1 else target.landmarks
        pairs.append((real, fake, lm, f.family, m))
    return pairs

def annotate_one(i):
    real, fake, lm, family, method = PAIRS[i % len(PAIRS)]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        annotate(real, fake, lm, family=family, method=method, seed=i)

def throughput(n_pairs, procs):
    "Pairs per second over n_pairs annotations (after one warm-up)."
    annotate_one(0)
    if procs == 1:
        t = time.perf_counter()
        for i in range(n_pairs): annotate_one(i)
        return n_pairs / (time.perf_counter() - t)
    threads = cv2.getNumThreads(); cv2.setNumThreads(1)
    try:
        with mp.get_context('fork').Pool(procs) as pool:
            pool.map(annotate_one, range(procs))              # warm the workers
            t = time.perf_counter()
            pool.map(annotate_one, range(n_pairs), chunksize=1)
            return n_pairs / (time.perf_counter() - t)
    finally: cv2.setNumThreads(threads)

def folder_size(path): return sum(p.stat().st_size for p in Path(path).rglob('*') if p.is_file())

def main():
    global PAIRS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=1000, help='images in the benchmark build (default 1000)')
    ap.add_argument('--num-proc', type=int, default=2, help='worker processes for the build (default 2)')
    ap.add_argument('--pairs', type=int, default=2 * len(FORGERY_METHODS), help='annotations per throughput measurement')
    ap.add_argument('--skip-build', action='store_true', help='measure the annotator only')
    ap.add_argument('--out', help='build here instead of a temporary folder (kept)')
    ap.add_argument('--keep', action='store_true', help='keep the temporary build')
    args = ap.parse_args()
    print(f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OpenCV threads {cv2.getNumThreads()}')
    print('annotator throughput (pairs per second):')
    for size in (256, 512):
        PAIRS = make_pairs(size)
        rates = {procs: throughput(args.pairs, procs) for procs in (1, 2)}
        print(f'  {size} px: 1 process {rates[1]:.2f}/s ({1 / rates[1]:.2f} s a pair), 2 processes {rates[2]:.2f}/s')
    if args.skip_build: return
    from fifa_nb.dataset import build_dataset
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / 'fifa11'
    t = time.perf_counter()
    m = build_dataset(out, n=args.n, seed=0, num_proc=args.num_proc, progress=False, overwrite=bool(args.out))
    seconds = time.perf_counter() - t
    sp = m['splits']
    print(f'build-data N={args.n}, {args.num_proc} processes: {seconds:.1f} s ({seconds / args.n:.2f} s an image), '
          f"{m['samples']} samples, {folder_size(out / 'arrow') / 2**20:.0f} MB Arrow + {folder_size(out / 'parquet') / 2**20:.0f} MB Parquet")
    for s, d in sp.items():
        print(f"  {s:9s} {d['items']:5d} images ({d['fake_items']} fake, {d['real_items']} real) {d['samples']:6d} samples; "
              f"missed fakes {d['missed_fakes']}, false alarms {d['false_alarms']}, failed {d['failed_items']}, annotator IoU {d['annotator_iou']}")
    if not args.out and not args.keep: shutil.rmtree(out.parent)
    else: print(f'kept {out}')

if __name__ == '__main__': main()
