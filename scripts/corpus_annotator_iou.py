"""How well does the FiFa-Annotator's artifact mask match the corpora's own truth masks?

    python scripts/corpus_annotator_iou.py                                   # the synthetic fixtures (see below)
    python scripts/corpus_annotator_iou.py --corpus ffpp /data/FaceForensics++ --limit 400
    python scripts/corpus_annotator_iou.py --corpus dffd /data/DFFD --dffd-pairs /data/DFFD_pairs.csv
    python scripts/corpus_annotator_iou.py --corpus ddvqa /data/DQ_FF++ --ffpp-root /data/FaceForensics++

Each corpus is listed with fifa_nb.corpus_pairs.corpus_pairs, every item is loaded, its fake lined up with its real
and cut to the face crop, annotated with fifa_nb.annotator.annotate, and the annotator's artifact mask is compared
(IoU) with the corpus' truth mask where it has one (FF++ mask videos, DFFD masks listed in a pairs CSV).

Without --corpus the script writes fifa_nb's corpus fixtures (fifa_nb.corpus_fixtures, nbs/06a_corpus_fixtures.ipynb)
into a temporary folder and runs on all four. Those are SYNTHETIC FORMAT FIXTURES: two public-domain faces with
fakes that imitate each method's family by simple pasting and blurring, in the corpora's real file layouts. Their IoU
shows that the pipeline works; it is no claim about the annotator on the real corpora. The same command with
--corpus NAME ROOT on a real copy gives the real figure. Nothing is downloaded.

Writes <out>.md and <out>.json (default results/corpus_annotator_iou); refuses to overwrite them without --force.
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path

from fifa_nb.core import FifaError
from fifa_nb.landmarks import BACKENDS, available_backends
from fifa_nb.corpus_pairs import CORPUS_NAMES, corpus_pairs, annotate_corpus, corpus_table, table_markdown

FIXTURE_NOTE = ("These figures come from fifa_nb's SYNTHETIC FORMAT FIXTURES (fifa_nb.corpus_fixtures): two public-domain "
                "sample faces, with fakes that imitate each method's family by simple pasting and blurring, written in the "
                "real corpora's file layouts. They show that listing, alignment, annotation and scoring work end to end; "
                "they are NOT a measurement of the annotator on the real corpora. Run the same script with "
                "--corpus NAME ROOT on your copy for the real figure.")
REAL_NOTE = "Measured on the corpus copies named below (the user's own, not shipped with fifa_nb)."


def fixture_jobs(dest):
    "The four fixture corpora and their options (the fixture videos have 6 frames, so every 2nd frame is sampled)."
    from fifa_nb.corpus_fixtures import make_corpus_fixtures
    fx = make_corpus_fixtures(dest)
    return [('ffpp', fx['ffpp'], {}), ('dffd', fx['dffd'], dict(pairs=fx['dffd_pairs'])),
            ('ddvqa', fx['ddvqa'], dict(ffpp_root=fx['ffpp'])), ('celebamask', fx['celebamask'], {})]


def corpus_options(name, args):
    "The corpus-specific options given on the command line."
    opts = {}
    if name in ('ffpp', 'ddvqa') and args.compression: opts['compression'] = args.compression
    if name == 'ffpp' and args.methods: opts['methods'] = args.methods.split(',')
    if name == 'dffd' and args.dffd_pairs: opts['pairs'] = args.dffd_pairs
    if name in ('dffd', 'celebamask', 'ddvqa') and args.split: opts['split'] = args.split
    if name == 'ddvqa':
        if args.ffpp_root: opts['ffpp_root'] = args.ffpp_root
        if args.image_root: opts['image_root'] = args.image_root
    return opts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split('\n\n', 1)[1])
    ap.add_argument('--corpus', nargs=2, action='append', metavar=('NAME', 'ROOT'),
                    help=f'a corpus ({", ".join(CORPUS_NAMES)}) and your copy of it; repeat for several. None: the synthetic fixtures')
    ap.add_argument('--every', type=int, default=None, help='videos: every k-th frame (default 10; 2 on the fixtures)')
    ap.add_argument('--max-frames', type=int, default=4, help='videos: at most this many frames each (default 4)')
    ap.add_argument('--limit', type=int, default=None, help='at most this many items per corpus')
    ap.add_argument('--methods', help='ffpp: comma-separated methods (default: all present)')
    ap.add_argument('--compression', help='ffpp / ddvqa: raw, c23 or c40 (default c23)')
    ap.add_argument('--split', help='dffd / celebamask / ddvqa: one split only')
    ap.add_argument('--dffd-pairs', help='dffd: your pairs CSV (fake,real[,mask]); the only source of DFFD masks')
    ap.add_argument('--ffpp-root', help='ddvqa: your FaceForensics++ folder')
    ap.add_argument('--image-root', help='ddvqa: your extracted frames instead of --ffpp-root')
    ap.add_argument('--backend', default='auto', help="landmark backend (default 'auto')")
    ap.add_argument('--out', default='results/corpus_annotator_iou', help='output prefix; .md and .json are added')
    ap.add_argument('--force', action='store_true', help='overwrite existing outputs')
    args = ap.parse_args(argv)
    out = Path(args.out)
    md_path, json_path = out.with_name(out.name + '.md'), out.with_name(out.name + '.json')
    for p in (md_path, json_path):
        if p.exists() and not args.force: ap.error(f'{p} exists: pass --force to overwrite it.')
    fixtures = not args.corpus
    every = args.every or (2 if fixtures else 10)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = str(Path(tmp).resolve())
        try:
            jobs = fixture_jobs(Path(tmp) / 'fixtures') if fixtures else [(n, r, corpus_options(n, args)) for n, r in args.corpus]
            listings, records = [], []
            for name, root, opts in jobs:
                t = time.perf_counter()
                items = corpus_pairs(name, root, every, args.max_frames, args.limit, progress=False, **opts)
                listed = time.perf_counter() - t
                recs, _ = annotate_corpus(items, backend=args.backend, keep_images=False, progress=sys.stderr.isatty())
                records += recs
                listings.append(dict(corpus=name, root='(fixture)' if fixtures else str(root), options={k: str(v) for k, v in opts.items()},
                                     items=len(items), kinds={k: sum(i.kind == k for i in items) for k in ('pair', 'real')},
                                     rejected_while_listing=items.rejected, listing_seconds=round(listed, 2),
                                     annotating_seconds=round(sum(r.seconds for r in recs), 2)))
                print(f'{name}: {len(items)} items, {len(items.rejected)} rejected while listing, '
                      f'{sum(r.status == "rejected" for r in recs)} rejected while loading/annotating', file=sys.stderr)
        except FifaError as e:
            print(f'error: {e}', file=sys.stderr); return 1
    table, total = corpus_table(records), time.perf_counter() - t0
    status = available_backends()
    backend = args.backend if args.backend != 'auto' else next((b for b in BACKENDS if status[b] is None), 'none')
    settings = dict(frames_every=every, max_frames_per_video=args.max_frames, limit=args.limit, backend=backend, crop=256,
                    python=platform.python_version(), machine=platform.machine(), cpus=os.cpu_count())
    report = dict(source='synthetic format fixtures' if fixtures else 'user corpus copies', note=FIXTURE_NOTE if fixtures else REAL_NOTE,
                  command=' '.join(['python scripts/corpus_annotator_iou.py'] + list(argv if argv is not None else sys.argv[1:])),
                  settings=settings, seconds=round(total, 1), listings=listings, table=table, items=[r.to_dict() for r in records])
    reasons = [f'- {r.item.id}: {r.reason}' for r in records if r.status == 'rejected']
    text = (f"# FiFa-Annotator vs corpus truth masks ({'synthetic fixtures' if fixtures else 'your corpora'})\n\n"
            f"**{report['note']}**\n\n"
            f"Command: `{report['command'].strip()}`. Videos: frames 0, {every}, {2 * every}, ... (at most {args.max_frames} per video); "
            f"face crops of 256 px; landmarks: {backend}; {len(records)} items in {total:.0f} s "
            f"(one process on {os.cpu_count()} {platform.machine()} CPU cores).\n\n"
            "## Items per corpus\n\n| corpus | items | pairs | reals | rejected while listing | s listing | s annotating |\n|---|---|---|---|---|---|---|\n"
            + '\n'.join(f"| {l['corpus']} | {l['items']} | {l['kinds']['pair']} | {l['kinds']['real']} | {len(l['rejected_while_listing'])} "
                        f"| {l['listing_seconds']:.2f} | {l['annotating_seconds']:.1f} |" for l in listings)
            + "\n\n## Annotator artifact mask vs corpus truth (IoU on the face crop)\n\n"
            "'called fake' counts the annotator's 'fake' verdicts (for real items, false alarms); 'with truth' the items "
            "whose corpus has a truth mask; 's / item' covers reading, alignment, landmarks and annotation.\n\n"
            + table_markdown(table) + '\n\n## Rejected items\n\n' + ('\n'.join(reasons) if reasons else 'None.') + '\n')
    data = json.dumps(report, indent=1) + '\n'
    if fixtures:   # the fixtures lived in a temporary folder, gone now: name it <fixtures>
        text, data = (x.replace(f'{tmp}/fixtures', '<fixtures>').replace(tmp, '<tmp>') for x in (text, data))
    out.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(text)
    json_path.write_text(data)
    print(text); print(f'wrote {md_path} and {json_path}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
