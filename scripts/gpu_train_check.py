"""A few hundred training steps of the `colab`-sized FiFa-MLLM (random init: CLIP ViT-B/16 shape + Qwen2.5-0.5B shape
+ LoRA + SAM-size mask head) on generated data, on a GPU in bf16: step time, throughput, peak memory, and whether
the losses fall.

    python scripts/gpu_train_check.py --steps 300 --batch-size 8 --out /tmp/colab-check

The data are FiFa-11 samples made on the fly from the sample faces (fifa_nb.model.example_samples, several phrasing
seeds): enough to see the losses fall, far too few to learn anything general."""
import argparse, json, statistics, time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--steps', type=int, default=300)
    ap.add_argument('--batch-size', type=int, default=8)
    ap.add_argument('--preset', default='colab')
    ap.add_argument('--out', required=True)
    ap.add_argument('--seeds', type=int, default=4, help='phrasing seeds of the generated samples')
    a = ap.parse_args()
    import torch
    from fifa_nb.model import example_samples
    from fifa_nb.train import TrainConfig, train, read_log
    t = time.perf_counter()
    samples = [s for seed in range(a.seeds) for s in example_samples(n_fakes=6, size=256, seed=seed)]
    print(json.dumps(dict(samples=len(samples), make_s=round(time.perf_counter() - t, 1), gpu=torch.cuda.is_available() and torch.cuda.get_device_name())))
    cfg = TrainConfig(preset=a.preset, steps=a.steps, batch_size=a.batch_size, lr=3e-4, warmup=20, log_every=25, save_every=10 ** 6,
                      mixed_precision='auto', seed=0)
    if torch.cuda.is_available(): torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    train(samples, a.out, cfg, progress=False)
    total = time.perf_counter() - t
    log = read_log(a.out)
    for r in log:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != 'task_ce'}))
    first, last = log[0], log[-1]
    sps = statistics.median(r['samples_per_s'] for r in log[1:]) if len(log) > 1 else log[0]['samples_per_s']
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if torch.cuda.is_available() else float('nan')
    falls = {k: (round(first[k], 3), round(last[k], 3)) for k in ('loss', 'ce', 'bce', 'dice', 'det', 'family', 'pix')}
    print(f'\n{a.preset}: {a.steps} steps of {a.batch_size} in {total:.0f} s (model build and checkpoint included); '
          f'median {sps:.1f} samples/s = {a.batch_size / sps:.3f} s/step; peak GPU memory {peak:.1f} GiB')
    print('first -> last logged:', falls)
    print('all losses fell:', all(last[k] < first[k] for k in falls))


if __name__ == '__main__':
    main()
