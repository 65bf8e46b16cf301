"""Does the model judge the face or the photograph? Figures for the generalisation issue, on people it never saw.

    python scripts/bench_generalisation.py --checkpoint runs/small/model --data data/fifa11 [--out results/generalisation]

Writes OUT.md and OUT.json (and OUT_reliability.png). Every figure names its split and its people:
- detection on the person-disjoint splits (test people, test_ood = unseen methods on test people, the two bundled
  sample people, re-rendered reals of test people), from the answer the demo gives (AGE question) and from the head;
- calibration: ECE of the score on test before and after the calibration fitted on val, and a reliability diagram;
- the two sample people (never trained on) and test people's photos as a user hands them over: as given, shifted by
  8 px, mirrored, framed wider/tighter, JPEG q60/75/95, half size, with every landmark backend that runs here;
- the bundled demo fakes of the sample people: called fake with a non-empty mask;
- mask IoU of test fakes at the crop, and its drop when the crop shifts by 6 px;
- phrases with empty masks in the answers (0 by construction: `ground_text` drops them; counted here).
"""
import argparse, json, sys, time
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _verdicts(model, images, task='age', batch_size=16):
    from fifa_nb.model import query_sample
    return model.analyze_batch([query_sample(im, task=task) for im in images], batch_size=batch_size)


def _det_figures(analyses, labels):
    from fifa_nb import metrics as M
    truth = ['fake' if y else 'real' for y in labels]
    pred = [a.verdict for a in analyses]
    reals = [p for t, p in zip(truth, pred) if t == 'real']
    fakes = [(p, a) for t, p, a in zip(truth, pred, analyses) if t == 'fake']
    out = dict(n=len(truth), n_real=len(reals), n_fake=len(fakes),
               real_called_real=float(np.mean([p == 'real' for p in reals])) if reals else None,
               fake_called_fake=float(np.mean([p == 'fake' for p, _ in fakes])) if fakes else None,
               fake_with_mask=float(np.mean([p == 'fake' and any(m.any() for m in a.masks) for p, a in fakes])) if fakes else None)
    if reals and fakes:
        out['balanced_detection'] = M.balanced_accuracy(truth, pred)
        out['auc'] = M.auc(truth, [a.score for a in analyses], positive='fake')
    out['empty_mask_phrases'] = int(sum(s.mask is None or not s.mask.any() for a in analyses for s in a.segments))
    out['dropped_phrases'] = int(sum(int(w.split()[1]) for a in analyses for w in a.warnings if w.startswith('dropped ')))
    return out


def _shift(a, dx, dy, nearest=False):
    import cv2
    M = np.float32([[1, 0, dx], [0, 1, dy]])
    H, W = a.shape[:2]
    if nearest: return cv2.warpAffine(a.astype(np.uint8), M, (W, H), flags=cv2.INTER_NEAREST, borderValue=0) > 0
    return cv2.warpAffine(a, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _iou(a, b):
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default='small', help="checkpoint folder, or 'small' (the shipped one)")
    ap.add_argument('--data', required=True, help='a FiFa-11 build (build-data) with the person-disjoint splits')
    ap.add_argument('--out', default=str(ROOT / 'results' / 'generalisation'))
    ap.add_argument('--max-images', type=int, default=150, help='images per split (default 150)')
    ap.add_argument('--people', type=int, default=12, help='test people whose portraits are re-viewed (default 12)')
    a = ap.parse_args(argv)
    from fifa_nb.model import FiFaMLLM
    from fifa_nb.generalisation import _images_and_labels, head_logits_of, reliability, plot_reliability, photo_views
    from fifa_nb.dataset import load_fifa11, portrait_face
    from fifa_nb.demo import DEMO_SAMPLES, demo_sample, find_face
    from fifa_nb.landmarks import available_backends, detect_landmarks
    from fifa_nb.samples import sample_face
    t0 = time.time()
    model = FiFaMLLM.from_pretrained(a.checkpoint)
    res = dict(checkpoint=str(a.checkpoint), data=str(a.data), calibration=model.config.calibration, splits={})

    # 1. detection on the held-out splits, as the demo answers (AGE question), and the head's AUC
    failures = []
    for split in ('test', 'test_ood', 'test_unseen_person', 'test_rerendered_real'):
        images, y = _images_and_labels(a.data, split, a.max_images)
        analyses = _verdicts(model, images)
        res['splits'][split] = _det_figures(analyses, y)
        print(split, res['splits'][split], flush=True)
        wrong = [(im, an, yy) for im, an, yy in zip(images, analyses, y) if (an.verdict == 'fake') != bool(yy)]
        failures += [(split, *w) for w in wrong[:2]]

    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    if failures:   # pictures of what goes wrong: a real face called fake shows the masks it invented
        from fifa_nb.show import overlay_masks
        fig, axs = plt.subplots(1, len(failures), figsize=(2.6 * len(failures), 3.2))
        for ax, (split, im, an, yy) in zip(np.atleast_1d(axs), failures):
            ax.imshow(overlay_masks(im, an.masks) if an.masks else im); ax.set_axis_off()
            ax.set_title(f"{split}\n{'fake' if yy else 'real'} called {an.verdict} (p {an.score:.2f})", fontsize=7)
        fig.savefig(a.out + '_failures.jpg', dpi=90, bbox_inches='tight'); plt.close(fig)

    # 2. calibration on test: raw head vs calibrated score
    images, y = _images_and_labels(a.data, 'test', None)
    z, _ = head_logits_of(model, images)
    cal = model.config.calibration or dict(a=1.0, b=0.0)
    raw, fitted = 1 / (1 + np.exp(-z)), 1 / (1 + np.exp(-(cal['a'] * z + cal['b'])))
    rb, ra = reliability(raw, y, balanced=True), reliability(fitted, y, balanced=True)
    res['ece_test'] = dict(raw_balanced=rb['ece'], calibrated_balanced=ra['ece'], raw=reliability(raw, y)['ece'],
                           calibrated=reliability(fitted, y)['ece'], n=int(len(y)))
    fig, ax = plt.subplots(figsize=(3.8, 3.6))
    plot_reliability(rb, ra, ax, title=f'test people, {len(y)} faces (equal class weights)')
    fig.savefig(a.out + '_reliability.png', dpi=110, bbox_inches='tight'); plt.close(fig)

    # 3. unmodified photos handed over differently, with every landmark backend
    backends = [b for b, why in available_backends().items() if why is None]
    people = {'astronaut': sample_face('astronaut').image, 'grace_hopper': sample_face('grace_hopper').image}
    test_people = sorted({json.loads(m)['identity'] for m in load_fifa11(a.data)['test']['meta']})
    for key in test_people[:a.people]: people[key] = portrait_face(key)[0]
    rows = []
    for name, picture in people.items():
        for backend in backends:
            try: lm = detect_landmarks(picture, backend=backend, min_face_size=24)
            except Exception as e: rows.append(dict(person=name, backend=backend, error=str(e)[:80])); continue
            views = photo_views(picture, lm)
            for view, an in zip(views, _verdicts(model, list(views.values()))):
                rows.append(dict(person=name, backend=backend, view=view, verdict=an.verdict, score=round(an.score, 3)))
    ok = [r for r in rows if 'verdict' in r]
    group = lambda pred: [r for r in ok if pred(r)]
    rate = lambda rs: (float(np.mean([r['verdict'] == 'real' for r in rs])), len(rs)) if rs else (None, 0)
    res['views'] = dict(
        sample_people=rate(group(lambda r: r['person'] in ('astronaut', 'grace_hopper'))),
        test_people=rate(group(lambda r: r['person'].startswith('congress/'))),
        by_backend={b: rate(group(lambda r, b=b: r['backend'] == b)) for b in backends},
        by_view={v: rate(group(lambda r, v=v: r['view'] == v)) for v in dict.fromkeys(r['view'] for r in ok)},
        backends=backends, failures=[r for r in rows if 'error' in r])
    res['view_rows'] = rows
    # the same verdict whatever the backend: agreement of the 'as given' views
    agree = []
    for name in people:
        v = {r['backend']: r['verdict'] for r in ok if r['person'] == name and r['view'] == 'as given'}
        if len(v) > 1: agree.append(len(set(v.values())) == 1)
    res['views']['backend_agreement'] = (float(np.mean(agree)), len(agree)) if agree else (None, 0)

    # 4. the bundled demo fakes of the two sample people
    demo = {}
    for name, (_, method, _, _) in DEMO_SAMPLES.items():
        s = demo_sample(name)
        face = find_face(s['picture'], landmarks=s['landmarks'])
        an = model.analyze(face.image)
        truth = s['truth']
        iou = None
        if truth is not None and an.masks:
            iou = _iou(face.paste(np.logical_or.reduce(an.masks)), truth)
        demo[name] = dict(method=method, verdict=an.verdict, score=round(an.score, 3), masks=len(an.masks), iou_on_picture=iou,
                          text=an.text[:160])
    fakes = [d for d in demo.values() if d['method']]
    res['demo'] = dict(samples=demo, fakes_called_fake_with_mask=float(np.mean([d['verdict'] == 'fake' and d['masks'] > 0 for d in fakes])),
                       reals_called_real=float(np.mean([d['verdict'] == 'real' for d in demo.values() if not d['method']])))

    # 5. mask IoU of test fakes (loc question) at the crop, and when the crop shifts by 6 px
    d = load_fifa11(a.data)['test']
    rows_loc = [i for i, (t, l) in enumerate(zip(d['task'], d['labels'])) if t == 'loc' and l['is_fake']][:a.max_images]
    from fifa_nb.tasks import Sample
    from fifa_nb.model import query_sample
    samples = [Sample.from_dict(d[i]) for i in rows_loc]
    base = model.analyze_batch([query_sample(s.image_array, task='loc') for s in samples])
    ious, drops = [], []
    for dx, dy in ((6, 0), (-6, 0), (0, 6), (0, -6)):
        moved = model.analyze_batch([query_sample(_shift(s.image_array, dx, dy), task='loc') for s in samples])
        for s, b, m in zip(samples, base, moved):
            gt = np.logical_or.reduce(s.masks) if s.masks else np.zeros(s.image_array.shape[:2], bool)
            pb = np.logical_or.reduce(b.masks) if b.masks else np.zeros_like(gt)
            pm = np.logical_or.reduce(m.masks) if m.masks else np.zeros_like(gt)
            i0, i1 = _iou(pb, gt), _iou(pm, _shift(gt, dx, dy, nearest=True))
            ious.append(i0); drops.append(i0 - i1)
    res['mask_shift'] = dict(n=len(samples), miou=float(np.mean(ious)) if ious else None, mean_drop_6px=float(np.mean(drops)) if drops else None)
    res['seconds'] = round(time.time() - t0, 1)

    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out + '.json').write_text(json.dumps(res, indent=1, default=float))
    f = lambda v: '-' if v is None else f'{v:.3f}' if isinstance(v, float) else str(v)
    md = [f'# Generalisation figures of `{a.checkpoint}`', '', f'Made by `python scripts/bench_generalisation.py --checkpoint {a.checkpoint} '
          f'--data {a.data}` in {res["seconds"]} s on this machine\'s CPU. People: the test people are portraits of people the model '
          'never saw (person-disjoint split); the sample people (astronaut, Grace Hopper) are never trained on.', '',
          '## Detection on held-out people (the demo\'s AGE answer; verdict = calibrated head + evidence)', '',
          '| split | images | real called real | fake called fake | fake with a mask | balanced detection | AUC (head) | empty-mask phrases |',
          '|---|---|---|---|---|---|---|---|']
    for s, r in res['splits'].items():
        md.append(f"| {s} | {r['n']} | {f(r['real_called_real'])} | {f(r['fake_called_fake'])} | {f(r['fake_with_mask'])} | "
                  f"{f(r.get('balanced_detection'))} | {f(r.get('auc'))} | {r['empty_mask_phrases']} |")
    e = res['ece_test']
    md += ['', f"## Calibration (test people, {e['n']} faces)", '',
           f"ECE with equal class weights: raw head {f(e['raw_balanced'])}, calibrated {f(e['calibrated_balanced'])}; "
           f"plain ECE: raw {f(e['raw'])}, calibrated {f(e['calibrated'])}. Calibration fitted on: {json.dumps(res['calibration'])}.",
           '', f'![reliability]({Path(a.out).name}_reliability.png)', '',
           '## Unmodified photos handed over differently (called real)', '',
           f"Backends that ran: {', '.join(backends)}. Sample people: {f(res['views']['sample_people'][0])} of {res['views']['sample_people'][1]} views; "
           f"test people ({min(a.people, len(test_people))}): {f(res['views']['test_people'][0])} of {res['views']['test_people'][1]}. "
           f"Same verdict with every backend ('as given'): {f(res['views']['backend_agreement'][0])} of {res['views']['backend_agreement'][1]} people.", '',
           '| view | called real | views |', '|---|---|---|']
    md += [f'| {v} | {f(r)} | {n} |' for v, (r, n) in res['views']['by_view'].items()]
    md += ['', '| backend | called real | views |', '|---|---|---|'] + [f'| {b} | {f(r)} | {n} |' for b, (r, n) in res['views']['by_backend'].items()]
    md += ['', f'Failures (two per split, first found): ![failures]({Path(a.out).name}_failures.jpg)' if failures else '']
    md += ['', '## The demo samples (sample people, never trained on)', '', '| sample | verdict | p(fake) | masks | IoU on the picture |', '|---|---|---|---|---|']
    md += [f"| {k} | {v['verdict']} | {f(v['score'])} | {v['masks']} | {f(v['iou_on_picture'])} |" for k, v in demo.items()]
    md += ['', f"Demo fakes called fake with a mask: {f(res['demo']['fakes_called_fake_with_mask'])}; demo reals called real: {f(res['demo']['reals_called_real'])}.",
           '', f"## Masks under a 6 px crop shift (test people's fakes, loc question, {res['mask_shift']['n']} images x 4 shifts)", '',
           f"mIoU at the crop {f(res['mask_shift']['miou'])}; mean IoU drop when the crop moves 6 px: {f(res['mask_shift']['mean_drop_6px'])}.", '']
    Path(a.out + '.md').write_text('\n'.join(md))
    print('\n'.join(md))


if __name__ == '__main__': sys.exit(main())
