"""The annotation-quality study: how good are the FiFa-Annotator's masks and named concepts?

    python scripts/annotation_quality.py [--seeds 3] [--out results/annotation_quality]
    python scripts/annotation_quality.py --portraits 12 --seeds 1 --out results/annotation_quality_portraits

For every forgery method of fifa_nb.forgery, on both sample faces, several seeds and post-processing chains
(none, JPEG 75, resize 0.7 + JPEG 85), the pair is annotated with each thresholding rule (top5 = the paper's
rule, otsu, noise, hysteresis) and compared with the forgery's known truth: mask IoU, and precision / recall
of the named concepts. Real pairs (a real image against globally edited copies: INNOCENT_GLOBAL_EDITS and the
re-saves and rescales of UNMODIFIED_CHAINS) give the rate of false 'fake' verdicts and the share of the picture
marked. `--portraits N` runs the same study on N people of the portrait test split (seed-0 person plan:
people no model here trained on, photographed smaller - an inter-ocular distance near 30 px - and already JPEG) instead
of the two sample faces: the annotator's figures on faces its settings were not chosen on. Writes a CSV of every
row and a Markdown table per family and per method, and prints them.
"""
import argparse, csv, sys, time
from pathlib import Path
from fifa_nb.samples import sample_faces
from fifa_nb.annotator import DEFAULT_RULE
from fifa_nb.quality import annotation_quality, quality_table, unmodified_table, UNMODIFIED_CHAINS

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--seeds', type=int, default=3)
    ap.add_argument('--out', default='results/annotation_quality', help='output prefix (.csv and .md are added)')
    ap.add_argument('--portraits', type=int, default=0, help='use N test-split portrait people instead of the sample faces')
    ap.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = ap.parse_args()
    out = Path(args.out)
    csv_path, md_path = out.with_suffix('.csv'), out.with_suffix('.md')
    for p in (csv_path, md_path):
        if p.exists() and not args.force: sys.exit(f'{p} exists: pass --force to overwrite it.')
    t = time.perf_counter()
    chains = ((), ({'op': 'jpeg', 'quality': 75},), ({'op': 'resize', 'scale': 0.7}, {'op': 'jpeg', 'quality': 85}))
    faces, on = sample_faces(), 'the two sample faces (astronaut, grace_hopper)'
    if args.portraits:
        from fifa_nb.samples import SampleFace
        from fifa_nb.dataset import plan_identities, portrait_face
        keys = [i['key'] for i in plan_identities(0, 0) if i['split'] == 'test'][:args.portraits]
        faces = [SampleFace(k, *portrait_face(k)[:2], None, '', '', None) for k in keys]
        on = f'{len(faces)} portrait people of the test split (seed-0 plan): ' + ', '.join(k.split('/')[-1] for k in keys)
    rows = annotation_quality(faces, seeds=range(args.seeds), chains=chains, unmodified=UNMODIFIED_CHAINS)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
    text = (f'# Annotation quality ({len(rows)} rows, {args.seeds} seeds, {time.perf_counter() - t:.0f} s)\n\n'
            f'Made by `python {" ".join(sys.argv)}`. Faces: {on}.\n\n'
            f'Default rule: {DEFAULT_RULE}. Cells: mean mask IoU | concept precision/recall | % called fake.\n\n'
            '## Per family\n\n' + quality_table(rows, 'family') + '\n\n## Per method\n\n' + quality_table(rows, 'method') +
            '\n\n## Unmodified pairs: how much of the picture is marked\n\nThe real image against re-saved, rescaled, brightened '
            'or noisy copies of itself (`INNOCENT_GLOBAL_EDITS` and `UNMODIFIED_CHAINS`, none of them on the annotator\'s '
            'grid of `DEGRADATIONS`).\n\n' + unmodified_table(rows) + '\n')
    md_path.write_text(text)
    print(text); print(f'wrote {csv_path} and {md_path}')

if __name__ == '__main__': main()
