"""CPU figures of FiFa-MLLM: forward+backward time and peak memory per batch for the `tiny` and `small` presets,
and parameter counts (total, trainable, frozen) of every preset.

    python scripts/bench_model.py                  # tiny and small, batch 4, 1 thread and 2 threads
    python scripts/bench_model.py --presets small --batch 8 --steps 10

Each preset runs in its own process, so the peak resident memory (ru_maxrss) is that preset's alone. Times are
the median of `--steps` full training steps (collate, forward, backward, AdamW) after one warm-up step."""
import argparse, json, os, resource, statistics, subprocess, sys, time


def one(preset, batch, steps, threads):
    import torch
    torch.set_num_threads(threads)
    from fifa_nb.core import set_seed
    from fifa_nb.model import FiFaMLLM, example_samples
    from fifa_nb.tasks import TASKS
    set_seed(0)
    samples = example_samples(n_fakes=4, size=128)
    # a fixed mix of tasks: AGE and loc (masks), det, region_seg, box_det, ...
    mix = [s for t in ('age', 'loc', 'region_seg', 'det', 'box_det', 'toe', 'cls', 'concept_seg') for s in samples if s.task == t]
    batch_samples = [mix[i % len(mix)] for i in range(batch)]
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = FiFaMLLM.from_preset(preset)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    times = []
    for i in range(steps + 1):
        t = time.perf_counter()
        out = model.step_losses(batch_samples)
        opt.zero_grad(); out['loss'].backward(); opt.step()
        if i: times.append(time.perf_counter() - t)
    b = model.collate(batch_samples)
    tokens = int(b['attention_mask'].sum())
    return dict(preset=preset, batch=batch, threads=threads, step_s=statistics.median(times), min_s=min(times),
                tokens=tokens, seq_len=int(b['input_ids'].shape[1]),
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, rss_before_model_mib=rss0 / 1024)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--presets', nargs='+', default=['tiny', 'small'])
    ap.add_argument('--batch', type=int, default=4)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--threads', type=int, nargs='+', default=[1, 2])
    ap.add_argument('--params-only', action='store_true', help='only the parameter table (no timing)')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one(a.one, a.batch, a.steps, a.threads[0]))); return
    if a.params_only: a.presets = []
    print(f'{"preset":6} {"threads":>7} {"batch":>5} {"tokens":>6} {"step (s)":>9} {"tokens/s":>9} {"peak RSS":>9} {"before model":>12}')
    for p in a.presets:
        for th in a.threads:
            r = subprocess.run([sys.executable, __file__, '--one', p, '--batch', str(a.batch), '--steps', str(a.steps),
                                '--threads', str(th)], capture_output=True, text=True)
            if r.returncode: print(r.stderr[-2000:]); sys.exit(r.returncode)
            d = json.loads(r.stdout.strip().splitlines()[-1])
            print(f'{p:6} {th:>7} {d["batch"]:>5} {d["tokens"]:>6} {d["step_s"]:>9.3f} {d["tokens"] / d["step_s"]:>9.0f} '
                  f'{d["peak_rss_mib"]:>6.0f} MiB {d["rss_before_model_mib"]:>8.0f} MiB')
    from fifa_nb.model import parameter_table, glamm_encoders, fmt_params
    print(f'\n{"preset":7} {"total":>9} {"trainable":>10} {"frozen":>9} {"encoder":>9} {"LLM":>9} {"mask head":>10} {"other":>8}')
    for r in parameter_table():
        print(f'{r["preset"]:7} ' + ' '.join(f'{fmt_params(r[k]):>{w}}' for k, w in
              [('total', 9), ('trainable', 10), ('frozen', 9), ('vision', 9), ('llm', 9), ('seg_head', 10), ('other', 8)]))
    g = glamm_encoders()
    print('GLaMM image encoders:', ', '.join(f'{k} {fmt_params(v)}' for k, v in g.items()), f'(together {fmt_params(sum(g.values()))})')


if __name__ == '__main__':
    main()
