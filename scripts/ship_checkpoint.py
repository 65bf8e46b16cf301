"""Copy a trained run into data_samples/checkpoints/small with a model card whose figures are read from the results files.

    python scripts/ship_checkpoint.py --run runs/small --data data/fifa11 \
        --generalisation results/generalisation.json --bench results/fifa_bench_portraits.json [--force]

The card (README.md) states the data (people, splits), the command and recipe, the training time, the figures of
`scripts/bench_generalisation.py` and `fifa_nb evaluate` with the split and people each was measured on, the sha256 of
the weights, and the limits. The run's log.jsonl and train_config.json are copied beside the weights.
"""
import argparse, hashlib, json, shutil, sys, time
import numpy as np
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def f(v, d=3):
    return '-' if v is None else f'{v:.{d}f}' if isinstance(v, float) else str(v)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', required=True, help='the run folder (fifa_nb train --out)')
    ap.add_argument('--model', help='the model folder inside it (default RUN/model, else the newest checkpoint)')
    ap.add_argument('--data', required=True)
    ap.add_argument('--generalisation', required=True)
    ap.add_argument('--bench', help='the JSON of fifa_nb evaluate (optional: its table is added to the card)')
    ap.add_argument('--dest', default=str(ROOT / 'data_samples' / 'checkpoints' / 'small'))
    ap.add_argument('--force', action='store_true')
    a = ap.parse_args(argv)
    from fifa_nb.model import FiFaMLLM, write_manifest, parameter_counts
    from fifa_nb.train import checkpoints, read_log
    run, dest = Path(a.run), Path(a.dest)
    model_dir = Path(a.model) if a.model else (run / 'model' if (run / 'model').exists() else checkpoints(run)[-1] / 'model')
    model = FiFaMLLM.from_pretrained(model_dir)
    if model.config.calibration is None: sys.exit(f'{model_dir} is not calibrated: run `fifa_nb calibrate --checkpoint {model_dir} --data {a.data}` first.')
    if dest.exists() and not a.force: sys.exit(f'{dest} exists: pass --force to replace the shipped checkpoint.')
    log = read_log(run)
    tc = json.loads((run / 'train_config.json').read_text())
    manifest = json.loads((Path(a.data) / 'fifa11.json').read_text())
    gen = json.loads(Path(a.generalisation).read_text())
    bench = json.loads(Path(a.bench).read_text()) if a.bench else {}
    tmp = dest.with_name('.small.new')
    shutil.rmtree(tmp, ignore_errors=True)
    model.half().save_pretrained(tmp)   # float16 on disk (6.8 M parameters fit the 25 MB limit); loaded into float32
    model.float()
    from fifa_nb.generalisation import _images_and_labels, head_logits_of
    images, _ = _images_and_labels(a.data, 'val', None)
    z32, _ = head_logits_of(model, images)
    z16, _ = head_logits_of(FiFaMLLM.from_pretrained(tmp), images)
    cut = model.config.calibration['threshold']
    p = lambda z: 1 / (1 + np.exp(-(model.config.calibration['a'] * z + model.config.calibration['b'])))
    agree = float(np.mean((p(z32) >= cut) == (p(z16) >= cut)))
    print(f'float16 vs float32 weights on {len(images)} val faces: same decision {agree:.3f}, max |p difference| {np.abs(p(z32) - p(z16)).max():.4f}')
    if agree < 0.99: sys.exit('the float16 copy changes the decisions: ship float32 instead')
    for name in ('log.jsonl', 'train_config.json'): shutil.copy2(run / name, tmp / name)
    sha = hashlib.sha256((tmp / 'model.safetensors').read_bytes()).hexdigest()
    n_params = sum(p.numel() for p in model.parameters())
    sp = manifest['splits']
    people = {s: len(d['identities']) for s, d in sp.items()}
    res = bench.get('fifa-mllm', next(iter(bench.values()), {})) if bench else {}
    def metric(split, task, key):
        try: return res[split][task][key]
        except (KeyError, TypeError): return None
    cal = model.config.calibration
    lines = [
        '# The shipped `small` FiFa-MLLM checkpoint', '',
        f'A {n_params / 1e6:.1f} M-parameter teaching model (preset `small`: a 4-layer ViT with a convolutional stem on 128-pixel face '
        'crops, a 4-layer Llama-style LM, a SAM-style mask decoder), trained from scratch on a CPU. It is **not a forensic tool**: '
        'do not use it to judge real images of real people.', '',
        '## Data', '',
        f"FiFa-11 built by `fifa_nb build-data --n {manifest['config']['n']} --seed {manifest['config']['seed']}` from the 711 public-domain "
        'congress portraits in `data_samples/faces/congress`, split **by person**: '
        + ', '.join(f'{s} {sp[s]["items"]} images / {sp[s]["samples"]} questions' for s in sp) + '. '
        f"Train people: {people['train']} (as targets or donors); the two bundled sample people (astronaut, Grace Hopper) are never "
        'trained on. Train fakes include self-blended images (about a fifth). Every training sample, real or fake, is augmented alike '
        '(crop jitter, colour, blur, resolution, noise, JPEG: `fifa_nb.train.augment_sample`).', '',
        '## Recipe', '',
        f"`fifa_nb train --preset small --data DIR --out RUN --steps {tc['steps']} --lr {tc['lr']} --warmup {tc['warmup']} "
        f"--save-every 250 --log-every 25 --max-minutes {tc['max_minutes']} --loss-weights det=1,pix=3`, then "
        f"`fifa_nb calibrate --checkpoint RUN/model --data DIR` (val people). Trained {log[-1]['step']} steps of {tc['batch_size']} "
        f"samples in {log[-1]['elapsed_s'] / 60:.0f} minutes on 2 CPU cores (seed {tc['seed']}). Calibration: p(fake) = "
        f"sigmoid({cal['a']:.3f} * logit + {cal['b']:.3f}), fitted on {cal['n']} val faces with equal class weights.", '',
        '## Measured (people it never saw)', '',
        'From `results/generalisation.md` (`scripts/bench_generalisation.py`; verdicts as the demo gives them: the calibrated head, '
        "and 'fake' only with a mask or marked pixels):", '',
        '| split (people) | real called real | fake called fake | balanced detection | AUC (head) |', '|---|---|---|---|---|']
    for s, r in gen['splits'].items():
        lines.append(f"| {s} | {f(r['real_called_real'])} | {f(r['fake_called_fake'])} | {f(r.get('balanced_detection'))} | {f(r.get('auc'))} |")
    v = gen['views']
    lines += ['', f"Unmodified photos handed over differently (shifted 8 px, mirrored, re-framed, JPEG q60-95, half size; backends "
              f"{', '.join(v['backends'])}): called real {f(v['sample_people'][0])} of {v['sample_people'][1]} views of the two sample people, "
              f"{f(v['test_people'][0])} of {v['test_people'][1]} views of test people. Demo fakes called fake with a mask: "
              f"{f(gen['demo']['fakes_called_fake_with_mask'])}. ECE of the score on test (equal class weights): raw "
              f"{f(gen['ece_test']['raw_balanced'])}, calibrated {f(gen['ece_test']['calibrated_balanced'])}. Mask mIoU of test fakes "
              f"(loc) {f(gen['mask_shift']['miou'])}, drop under a 6 px shift {f(gen['mask_shift']['mean_drop_6px'])}.", '',
              ] + (['From `fifa_nb evaluate` (results/fifa_bench_portraits.md, at most 40 questions per task and split):', '',
              '| split | det balanced | AGE mIoU | concept F1 | loc mIoU |', '|---|---|---|---|---|'] if res else [])
    for s in res:
        if isinstance(res[s], dict) and 'det' in res[s]:
            lines.append(f"| {s} | {f(metric(s, 'det', 'bal_acc'))} | {f(metric(s, 'age', 'miou'))} | {f(metric(s, 'age', 'concept_f1'))} | {f(metric(s, 'loc', 'miou'))} |")
    lines += ['', '## Limits', '',
              f"- **It detects almost nothing.** Trained for about an hour on a CPU from random weights on people it must not "
              f"recognise, it learnt no reliable forgery evidence: the head's AUC on people it never saw is "
              f"{min(r['auc'] for r in gen['splits'].values() if r.get('auc') is not None):.2f}-"
              f"{max(r['auc'] for r in gen['splits'].values() if r.get('auc') is not None):.2f} (0.5 is chance), and with the "
              "threshold chosen to keep 90% of real faces real it calls nearly every face real, fakes included. What it no longer "
              "does is judge the photograph: framing, mirroring, compression and the landmark backend do not change its verdict. "
              "Its masks are coarse (a 16 x 16 evidence grid on a 128-pixel crop). The `colab` preset (pretrained CLIP + Qwen2.5) "
              'on a GPU is where detection can come from.',
              '- All its real training faces are formal studio portraits: other kinds of photos (snapshots, low light, profile views) '
              'are further from what it saw; the figures above on the two sample people are the closest we measured.',
              '- The OpenCV fallback (no dlib) frames faces a little differently; the verdict agreement across backends is in the table above.',
              '', '## Files', '', f'`model.safetensors` sha256 `{sha}`; `config.json` (with the calibration), the tokenizer, '
              '`log.jsonl` (the training log), `train_config.json` (the recipe), `manifest.json` (size and sha256 of every file). The weights '
              'are stored in float16 and loaded into float32; the figures above were measured with the float32 weights of the run '
              '(the float16 copy gives the same verdicts on the val people: checked by `scripts/ship_checkpoint.py`).', '']
    (tmp / 'README.md').write_text('\n'.join(lines))
    write_manifest(tmp)
    if dest.exists(): shutil.rmtree(dest)
    tmp.rename(dest)
    print('\n'.join(lines))


if __name__ == '__main__': sys.exit(main())
