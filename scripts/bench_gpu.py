"""GPU figures of FiFa-MLLM at the `colab` architecture (CLIP ViT-B/16 + Qwen2.5-0.5B shape + LoRA + SAM-size
mask head), random-initialised (no download), in bfloat16: training-step time, tokens/s, peak GPU memory, and
the time to analyze one face.

    python scripts/bench_gpu.py --batch 8 --steps 10

Needs a CUDA GPU. Prints one JSON line per measurement and a summary table."""
import argparse, json, platform, statistics, time


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--preset', default='colab')
    ap.add_argument('--batch', type=int, nargs='+', default=[4, 8])
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--new-tokens', type=int, default=64)
    ap.add_argument('--dry-run', action='store_true', help='run the same code on the CPU in float32 (to check the script, not to measure)')
    a = ap.parse_args()
    import torch, transformers
    dev, dtype = ('cpu', torch.float32) if a.dry_run else ('cuda', torch.bfloat16)
    if not a.dry_run and not torch.cuda.is_available():
        raise SystemExit('No CUDA GPU: this benchmark needs one (see scripts/bench_model.py for the CPU).')
    if a.dry_run:   # no-op stand-ins for the CUDA calls
        torch.cuda.synchronize = lambda: None; torch.cuda.reset_peak_memory_stats = lambda: None
        torch.cuda.max_memory_allocated = lambda: 0; torch.cuda.get_device_name = lambda: 'cpu (dry run)'
    from fifa_nb.core import set_seed
    from fifa_nb.model import FiFaMLLM, example_samples, parameter_counts, fmt_params
    print(json.dumps(dict(gpu=torch.cuda.get_device_name(), torch=torch.__version__, transformers=transformers.__version__,
                          python=platform.python_version())))
    set_seed(0)
    t = time.perf_counter()
    samples = example_samples(n_fakes=6, size=256)
    print(json.dumps(dict(example_samples_s=round(time.perf_counter() - t, 1), n=len(samples))))
    mix = [s for tk in ('age', 'loc', 'region_seg', 'det', 'box_det', 'toe', 'cls', 'concept_seg') for s in samples if s.task == tk]
    t = time.perf_counter()
    model = FiFaMLLM.from_preset(a.preset).to(dev, dtype)
    torch.cuda.synchronize()
    c = parameter_counts(model)['all']
    print(json.dumps(dict(build_s=round(time.perf_counter() - t, 1), params=c['total'], trainable=c['trainable'])))
    rows = []
    for B in a.batch:
        batch = [mix[i % len(mix)] for i in range(B)]
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        model.train(); torch.cuda.reset_peak_memory_stats(); times = []
        for i in range(a.steps + 2):
            torch.cuda.synchronize(); t = time.perf_counter()
            out = model.step_losses(batch)
            opt.zero_grad(set_to_none=True); out['loss'].backward(); opt.step()
            torch.cuda.synchronize()
            if i >= 2: times.append(time.perf_counter() - t)
        b = model.collate(batch)
        tokens = int(b['attention_mask'].sum())
        r = dict(batch=B, seq_len=int(b['input_ids'].shape[1]), tokens=tokens, step_s=round(statistics.median(times), 4),
                 tokens_per_s=round(tokens / statistics.median(times)), peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2),
                 losses={k: round(float(v.detach()), 3) for k, v in out['losses'].items()})
        print(json.dumps(r)); rows.append(r)
        del opt
    model.eval(); img = samples[0].image_array
    model.analyze(img, max_new_tokens=8)
    torch.cuda.synchronize(); t = time.perf_counter()
    res = model.analyze(img, max_new_tokens=a.new_tokens)
    torch.cuda.synchronize(); dt = time.perf_counter() - t
    print(json.dumps(dict(analyze_s=round(dt, 3), raw_chars=len(res.raw_text), segments=len(res.segments))))
    # decoding speed alone: exactly --new-tokens tokens with the KV cache (no early stop at EOS)
    from fifa_nb.model import _to
    from fifa_nb.backbone import vision_features
    with torch.no_grad():
        b = _to(model.collate([samples[0]], with_answers=False), dev)
        grid = vision_features(model.vision, b['pixel_values'].to(dtype))
        emb = model.embed(b['input_ids'], grid, b['task_idx'], b['regions'], b['boxes'])
        torch.cuda.synchronize(); t = time.perf_counter()
        ids, _ = model._greedy(emb, a.new_tokens, stop_at_eos=False)
        torch.cuda.synchronize(); gen_dt = time.perf_counter() - t
    n_new = len(ids)
    print(json.dumps(dict(decode_tokens=n_new, decode_s=round(gen_dt, 3), decode_tokens_per_s=round(n_new / gen_dt, 1))))
    print(f'\n{a.preset} preset, {fmt_params(c["total"])} parameters ({fmt_params(c["trainable"])} trainable), bf16, {torch.cuda.get_device_name()}')
    print(f'{"batch":>5} {"seq":>5} {"step (s)":>9} {"tokens/s":>9} {"peak GiB":>9}')
    for r in rows: print(f'{r["batch"]:>5} {r["seq_len"]:>5} {r["step_s"]:>9.3f} {r["tokens_per_s"]:>9} {r["peak_gib"]:>9.2f}')
    print(f'analyze (one face, end to end, untrained weights): {dt:.2f} s; greedy decoding: {n_new / gen_dt:.1f} tokens/s (batch 1, KV cache)')


if __name__ == '__main__':
    main()
