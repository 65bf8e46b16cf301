"""The demo under load: N concurrent `gradio_client` requests on loopback against a demo server in its own process.

    python scripts/bench_load.py                          # 20 concurrent uploads, then 100 against the 64-place queue
    python scripts/bench_load.py --n 20 --over 100 --out results/bench_load.md

Phase 1 sends `--n` requests at once (each uploads a picture and asks the Analyze endpoint); all must complete.
Phase 2 sends `--over` requests at once, more than the queue holds (DEMO_QUEUE_SIZE waiting + 1 running): the extra ones
must be refused at once ("queue is full") instead of piling up in memory. The server's resident memory is sampled
every 20 ms (psutil) before and during each phase. Prints a Markdown table of latency percentiles and memory.
"""
import argparse, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))] if xs else float('nan')

class Sampler(threading.Thread):
    "Peak resident memory of a process, sampled every 20 ms."
    def __init__(self, pid):
        import psutil
        super().__init__(daemon=True); self.proc, self.peak, self.stop = psutil.Process(pid), 0, threading.Event()
    def run(self):
        while not self.stop.is_set():
            try: self.peak = max(self.peak, self.proc.memory_info().rss)
            except Exception: pass
            time.sleep(0.02)

def burst(url, picture, n, workers):
    "n requests at once; (latencies of the completed ones, error messages of the refused ones, wall time)."
    from gradio_client import Client, handle_file
    clients = [Client(url, verbose=False) for _ in range(min(n, workers))]
    def one(i):
        t = time.perf_counter()
        try:
            out = clients[i % len(clients)].predict(handle_file(picture), 'age', '', None, api_name='/analyze')
            assert out[3]['verdict'] in ('real', 'fake')
            return time.perf_counter() - t, None
        except Exception as e: return time.perf_counter() - t, f'{type(e).__name__}: {e}'
    t0 = time.perf_counter()
    with ThreadPoolExecutor(n) as pool: results = list(pool.map(one, range(n)))
    return [t for t, e in results if e is None], [e for _, e in results if e], time.perf_counter() - t0

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--n', type=int, default=20, help='concurrent requests that must all complete (default 20)')
    ap.add_argument('--over', type=int, default=100, help='concurrent requests for the overload phase (default 100; 0 skips it)')
    ap.add_argument('--clients', type=int, default=20, help='gradio_client connections shared by the requests (default 20)')
    ap.add_argument('--out', help='also write the Markdown table here')
    args = ap.parse_args()
    os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
    from fifa_nb.demo import sample_file, DEMO_QUEUE_SIZE
    tmp = Path(tempfile.mkdtemp())
    picture = str(tmp / 'upload.png'); shutil.copy(sample_file('astronaut/swap_mouth'), picture)   # a neutral name: dlib runs
    port = free_port()
    code = (f'from fifa_nb.demo import launch_demo; launch_demo(port={port})')
    server = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, 'OMP_NUM_THREADS': os.environ.get('OMP_NUM_THREADS', '2')})
    try:
        for line in server.stdout:   # wait for the start line
            if 'running on' in line: break
        else: raise SystemExit('the demo server did not start')
        url = f'http://127.0.0.1:{port}/'
        import psutil
        burst(url, picture, 3, 3)                                   # warm-up
        idle = psutil.Process(server.pid).memory_info().rss
        rows = []
        for name, n in [('phase 1', args.n)] + ([('phase 2 (overload)', args.over)] if args.over else []):
            sampler = Sampler(server.pid); sampler.start()
            done, refused, wall = burst(url, picture, n, args.clients)
            sampler.stop.set(); sampler.join()
            rows.append((name, n, done, refused, wall, sampler.peak))
            time.sleep(1)
    finally:
        server.terminate(); server.wait(10)
    lines = [f'# The demo under load, `python scripts/bench_load.py --n {args.n} --over {args.over}`', '',
             f'Server: `launch_demo` in its own process on 127.0.0.1 (one worker, queue of {DEMO_QUEUE_SIZE}), shipped `small` '
             f'checkpoint, {os.cpu_count()} CPUs; each request uploads a 512x512 PNG and runs Analyze (dlib + the model). '
             f'Client: {args.clients} `gradio_client` connections in threads, all requests sent at once. Idle server memory after '
             f'warm-up: {idle / 2**20:.0f} MiB.', '',
             '| phase | sent | completed | refused | p50 s | p90 s | p99 s | max s | wall s | peak server RSS MiB |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for name, n, done, refused, wall, peak in rows:
        lines.append(f'| {name} | {n} | {len(done)} | {len(refused)} | {pct(done, 50):.2f} | {pct(done, 90):.2f} | {pct(done, 99):.2f} | '
                     f'{max(done) if done else float("nan"):.2f} | {wall:.1f} | {peak / 2**20:.0f} |')
    for name, n, done, refused, wall, peak in rows:
        if refused: lines.append(f'\n{name}: refused requests said e.g. "{sorted(set(refused))[0][:160]}"')
    text = '\n'.join(lines) + '\n'
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True); Path(args.out).write_text(text); print(f'wrote {args.out}', file=sys.stderr)
    if rows and len(rows[0][2]) != args.n: raise SystemExit(f'only {len(rows[0][2])} of {args.n} requests completed')

if __name__ == '__main__': main()
