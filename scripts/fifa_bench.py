"""FiFa-Bench-mini end to end: data, the shipped `small` checkpoint, the baselines and ablations, one table.

    python scripts/fifa_bench.py                 # everything (about 2 h on 2 CPU cores; a GPU is used when there is one)
    python scripts/fifa_bench.py --only data main eval ship   # just the shipped checkpoint (ship needs eval: the card holds its metrics)

The shipped checkpoint was made on 2 CPU cores as two processes side by side, one thread each (together faster
than one after the other at two threads), then the last stages:

    export OMP_NUM_THREADS=1 FIFA_BENCH_PARALLEL=2
    python scripts/fifa_bench.py --only data                # once (about 13 minutes at --num-proc 2)
    python scripts/fifa_bench.py --only main &              # 5,000 steps
    python scripts/fifa_bench.py --only ablation segnet     # 4 x 1,200 steps, then the U-Net
    python scripts/fifa_bench.py --only fict                # (was run as a third process beside these two)
    wait; unset OMP_NUM_THREADS; python scripts/fifa_bench.py --only eval ship --force

Each stage writes into --runs and is skipped when its output is already there, so an interrupted run continues
where it stopped (training stages resume from their last checkpoint). Stages:

  data      fifa_nb build-data --n N (the generated forgeries: test_ood holds four methods never trained on)
  main      the shipped model: preset `small`, variant `fifa`, --steps steps (capped at --minutes)
  ablation  the same recipe for --ablation-steps steps as `fifa`, `lisa`, `no_aux` and `coarse` (equal budgets)
  fict      the full recipe + dense FICT supervision (concept_head=True), the same budget: the next step under test
  segnet    the no-LLM baseline (a U-Net + the annotator's grammar), --segnet-minutes
  eval      every system on test and test_ood (--max-per-task), the reference answers as the upper bound:
            results/fifa_bench_mini.{md,json,csv} and one gallery per system
  ship      the main model -> data_samples/checkpoints/small/ with a model card (README.md) holding its metrics
"""
import argparse, hashlib, json, os, platform, shutil, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ('data', 'main', 'ablation', 'fict', 'segnet', 'eval', 'ship')
VARIANTS = ('fifa', 'lisa', 'no_aux', 'coarse')


def log(*a): print(time.strftime('%H:%M:%S'), *a, flush=True)


def stage_data(args):
    from fifa_nb.dataset import build_dataset
    done = args.data / 'fifa11.json'
    if done.exists() and json.loads(done.read_text()).get('complete'): return log('data: ready in', args.data)
    t = time.time()
    build_dataset(args.data, n=args.n, seed=args.seed, num_proc=args.num_proc, progress=not args.quiet)
    log(f'data: built {args.data} in {time.time() - t:.0f} s')


def _train(args, out:Path, variant:str, steps:int, minutes:float, model:dict=None):
    from fifa_nb.dataset import load_fifa11
    from fifa_nb.train import TrainConfig, train, checkpoints
    if (out / 'model' / 'model.safetensors').exists(): return log(f'{out.name}: trained already')
    config = TrainConfig(preset='small', steps=steps, batch_size=args.batch_size, lr=args.lr, warmup=args.warmup,
                         seed=args.seed, variant=variant, max_minutes=minutes, save_every=250, log_every=25,
                         model=dict(model or {}))
    resume = bool(checkpoints(out))
    import torch
    out.mkdir(parents=True, exist_ok=True)
    (out / 'machine.json').write_text(json.dumps(dict(machine=info_machine(), torch_threads=torch.get_num_threads(),
                                                      parallel_runs=os.environ.get('FIFA_BENCH_PARALLEL', '1'))))
    t = time.time()
    train(load_fifa11(args.data)['train'], out, config, resume=resume, progress=not args.quiet)
    log(f'{out.name}: {variant} trained {steps} steps in {time.time() - t:.0f} s' + (' (resumed)' if resume else ''))
    if not (out / 'model' / 'model.safetensors').exists():
        sys.exit(f'{out} stopped before {steps} steps (the --minutes cap); run the same command again to continue it.')


def stage_main(args): _train(args, args.runs / 'small', 'fifa', args.steps, args.minutes)


def stage_ablation(args):
    for v in VARIANTS: _train(args, args.runs / f'ablation-{v}', v, args.ablation_steps, args.ablation_minutes)


def stage_fict(args):
    "The next step under test: the full recipe plus dense FICT supervision (`concept_head`), at the ablation budget."
    _train(args, args.runs / 'ablation-fict', 'fifa', args.ablation_steps, args.ablation_minutes, model=dict(concept_head=True))


def stage_segnet(args):
    from fifa_nb.dataset import load_fifa11
    from fifa_nb.baselines import train_segnet
    out = args.runs / 'segnet'
    if (out / 'config.json').exists(): return log('segnet: trained already')
    if out.exists(): shutil.rmtree(out)   # an interrupted SegNet run is cheap to redo
    b = train_segnet(load_fifa11(args.data)['train'], out, steps=100_000, batch_size=16, lr=1e-3, seed=args.seed,
                     progress=not args.quiet, max_minutes=args.segnet_minutes)
    log('segnet:', {k: v for k, v in b.train_info.items() if k in ('steps', 'seconds', 'n_images')})


def shipped_weights(args) -> Path:
    "The main model with its weights stored in float16 (half the bytes: 6.8 M parameters fit the 25 MB limit; computed in float32)."
    from fifa_nb.model import FiFaMLLM
    out = args.runs / 'small' / 'shipped'
    if not (out / 'model.safetensors').exists():
        FiFaMLLM.from_pretrained(args.runs / 'small' / 'model').half().save_pretrained(out, overwrite=out.exists())
    return out


def systems(args):
    from fifa_nb.model import FiFaMLLM
    from fifa_nb.baselines import MaskBaseline
    from fifa_nb.evaluate import ReferenceSystem
    out = {'fifa-mllm (shipped)': FiFaMLLM.from_pretrained(shipped_weights(args))}   # evaluated as shipped: float16 weights
    for v in VARIANTS:
        folder = args.runs / f'ablation-{v}' / 'model'
        if folder.exists(): out[f'{v} ({args.ablation_steps} steps)'] = FiFaMLLM.from_pretrained(folder)
    if (args.runs / 'ablation-fict' / 'model').exists():
        out[f'fifa+fict ({args.ablation_steps} steps)'] = FiFaMLLM.from_pretrained(args.runs / 'ablation-fict' / 'model')
    if (args.runs / 'segnet' / 'config.json').exists(): out['no-llm (U-Net)'] = MaskBaseline.from_pretrained(args.runs / 'segnet')
    out['reference'] = ReferenceSystem()
    return out


def stage_eval(args):
    import matplotlib; matplotlib.use('Agg')
    from fifa_nb.evaluate import load_split, evaluate, results_table, family_table, save_results, gallery
    systs = systems(args)
    splits = {sp: load_split(args.data, sp, max_per_task=args.max_per_task, seed=args.seed) for sp in ('test', 'test_ood')}
    log('eval:', ', '.join(systs), 'on', ', '.join(f'{k} ({len(v)} samples)' for k, v in splits.items()))
    res = evaluate(systs, splits, batch_size=16, progress=not args.quiet)
    table = results_table(res)
    print(table)
    out = ROOT / 'results' / 'fifa_bench_mini.json'
    save_results(res, out, overwrite=True)
    for name in [n for n in systs if n.startswith(('fifa-mllm', 'no-llm', 'reference'))]:   # the ablations' are alike: not kept
        fig = gallery(splits['test'], res[name]['test']['_analyses'], n=6)
        slug = name.split(' ')[0]
        fig.savefig(ROOT / 'results' / f'fifa_bench_mini_gallery_{slug}.jpg', dpi=80, pil_kwargs=dict(quality=80))
    info = dict(data=str(args.data), n=args.n, seed=args.seed, max_per_task=args.max_per_task,
                samples={k: len(v) for k, v in splits.items()}, ablation_steps=args.ablation_steps, steps=args.steps,
                machine=f'{platform.machine()}, {os.cpu_count()} CPU cores', when=time.strftime('%Y-%m-%d'))
    md = ['# FiFa-Bench-mini', '', f'Made by `python scripts/fifa_bench.py` ({json.dumps(info)}).', '',
          'Test = in-distribution forgery methods on held-out identities; test_ood = four forgery methods never seen in '
          'training (one per family). `reference` scores the dataset\'s own answers (the upper bound; consistency < 1 '
          'because annotator masks spill over concept borders). `sensitivity` = how often the answer changes with the image.', '',
          table, '', '## By forgery family (det: share of right verdicts; AGE: mask mIoU)', '',
          '### test', '', family_table(res, 'test'), '', '### test_ood (one unseen method per family)', '', family_table(res, 'test_ood'), '']
    (ROOT / 'results' / 'fifa_bench_mini.md').write_text('\n'.join(md))
    log('eval: wrote results/fifa_bench_mini.{md,json,csv} and the galleries')


def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''): h.update(block)
    return h.hexdigest()


def stage_ship(args):
    from fifa_nb.core import atomic_write_bytes
    src = shipped_weights(args)
    dest = ROOT / 'data_samples' / 'checkpoints' / 'small'
    if dest.exists() and not args.force: sys.exit(f'{dest} exists; pass --force to replace the shipped checkpoint.')
    results = json.loads((ROOT / 'results' / 'fifa_bench_mini.json').read_text())
    name = next(k for k in results if k.startswith('fifa-mllm'))
    log_rows = [json.loads(l) for l in (args.runs / 'small' / 'log.jsonl').read_text().splitlines() if l.strip()]
    train_cfg = json.loads((args.runs / 'small' / 'train_config.json').read_text())
    tmp = dest.with_name(dest.name + '.tmp')
    if tmp.exists(): shutil.rmtree(tmp)
    shutil.copytree(src, tmp)
    for f in ('log.jsonl', 'train_config.json'): shutil.copy2(args.runs / 'small' / f, tmp / f)   # how it learned (10_train plots it)
    size = (tmp / 'model.safetensors').stat().st_size
    if size > 25e6: sys.exit(f'model.safetensors is {size / 1e6:.1f} MB, over the 25 MB limit for data_samples/.')
    rows = []
    for split in ('test', 'test_ood'):
        r = results[name][split]
        cols = [('det', 'bal_acc'), ('det', 'auc'), ('det', 'real_called_real'), ('age', 'miou'), ('age', 'concept_f1'),
                ('age', 'coarse_f1'), ('loc', 'miou'), ('all', 'sensitivity')]
        vals = [r.get(t, {}).get(m) for t, m in cols]
        rows.append(f'| {split} | ' + ' | '.join('-' if v is None else f'{v:.3f}' for v in vals) + ' |')
    minutes = log_rows[-1]['elapsed_s'] / 60 if log_rows else float('nan')
    m = json.loads((args.runs / 'small' / 'machine.json').read_text()) if (args.runs / 'small' / 'machine.json').exists() else {}
    machine = m.get('machine', info_machine()) + (f", {m['torch_threads']} torch thread(s)" if 'torch_threads' in m else '') + \
              (f", sharing the machine with {int(m['parallel_runs']) - 1} other training run(s)" if int(m.get('parallel_runs', 1)) > 1 else '') + \
              (f" ({m['note']})" if m.get('note') else '')
    from fifa_nb.model import FiFaMLLM
    n_params = sum(p.numel() for p in FiFaMLLM.from_pretrained(src).parameters())
    card = f"""# fifa_nb `small` FiFa-MLLM checkpoint (a teaching model)

**What it is.** A {n_params / 1e6:.1f} M-parameter FiFa-MLLM (`FiFaMLLM.from_preset('small')`: a hybrid ViT face encoder
with a convolutional stem, a 4-layer LLaMA-style language model, a SAM-style [SEG] mask decoder, auxiliary
real/fake, family and per-pixel heads), trained from scratch on generated data. Load it with
`FiFaMLLM.from_pretrained('data_samples/checkpoints/small')`.

**Not a forensic tool.** It was trained on synthetic forgeries (landmark warps, recolours, blends and swaps)
made from two public-domain photographs (NASA astronaut Eileen Collins, Grace Hopper) and identities derived
from them. It has never seen a GAN or diffusion deepfake, other people, other poses or real-world
compression, and it should not be used to judge any real image.

**Data.** `fifa_nb build-data --n {args.n} --seed {args.seed}`: {args.n} images, 10 FiFa-11 questions each on average;
splits by identity; test_ood holds four forgery methods never trained on.

**Training.** Stage `main` of `python scripts/fifa_bench.py` (its docstring gives the exact commands): {train_cfg['steps']} steps, batch
{train_cfg['batch_size']}, AdamW lr {train_cfg['lr']}, warm-up {train_cfg['warmup']}, {train_cfg['schedule']} schedule, seed
{train_cfg['seed']}, on {machine}: {minutes:.0f} minutes. Final training losses:
{json.dumps({k: round(v, 3) for k, v in log_rows[-1].items() if k in ('ce', 'bce', 'dice', 'det', 'family', 'pix')}) if log_rows else ''}

**Metrics** (FiFa-Bench-mini, at most {args.max_per_task} questions per task and split; every system and metric in
`results/fifa_bench_mini.md`):

| split | det balanced acc. | det AUC | innocent edits called real | AGE mask mIoU | AGE concept F1 | AGE coarse F1 | loc mIoU | answer sensitivity |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}

**Limits.** 128-pixel input: subtle edits (skin smoothing, small warps) are often missed; answers follow the
templates of the generated data; region and box answers are only as good as the artifact masks; the
explanations name face parts, they do not prove anything about how an image was made.

**Files.** `model.safetensors` ({size / 1e6:.1f} MB: the weights stored in float16, loaded into float32; the metrics above
are of these very weights, sha256 `{_sha256(tmp / 'model.safetensors')}`), `config.json`,
the tokenizer, the training log `log.jsonl` (`fifa_nb.train.read_log`) and `train_config.json`. Licence: the code's licence (Apache-2.0); the training images are public domain.
"""
    atomic_write_bytes(tmp / 'README.md', card.encode())
    from fifa_nb.model import write_manifest
    write_manifest(tmp)   # size and sha256 of every file (card, log and config included): from_pretrained checks them
    if dest.exists(): shutil.rmtree(dest)
    tmp.rename(dest)
    log(f'ship: {dest} ({size / 1e6:.1f} MB)')


def info_machine():
    import torch
    return f'{torch.cuda.get_device_name(0)}' if torch.cuda.is_available() else f'{os.cpu_count()} CPU cores ({platform.machine()})'


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', type=Path, default=ROOT / 'runs' / 'fifa11-3000')
    p.add_argument('--runs', type=Path, default=ROOT / 'runs' / 'bench')
    p.add_argument('--n', type=int, default=3000)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-proc', type=int, default=2)
    p.add_argument('--steps', type=int, default=5000)
    p.add_argument('--minutes', type=float, default=100)
    p.add_argument('--ablation-steps', type=int, default=1200)
    p.add_argument('--ablation-minutes', type=float, default=30)
    p.add_argument('--segnet-minutes', type=float, default=5)
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--lr', type=float, default=5e-4)
    p.add_argument('--warmup', type=int, default=150)
    p.add_argument('--max-per-task', type=int, default=100)
    p.add_argument('--only', nargs='+', choices=STAGES, default=list(STAGES))
    p.add_argument('--force', action='store_true', help='replace the shipped checkpoint')
    p.add_argument('--quiet', action='store_true')
    args = p.parse_args()
    for s in STAGES:
        if s in args.only: globals()[f'stage_{s}'](args)


if __name__ == '__main__':
    main()
