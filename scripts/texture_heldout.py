"""Skin smoothing made by other code: does the annotator's texture cue find edits it was not tuned on?

    python scripts/texture_heldout.py [--portraits 12] [--out results/texture_heldout.md]

fifa_nb's own `skin_smooth` is a bilateral filter. Here three other smoothing filters, written in this script and
used nowhere in fifa_nb, are blended over the skin (the face without eyes, brows and lips) of the two sample faces
and of N portrait people of the test split, then saved as the quality study saves its fakes (none, JPEG 75,
resize 0.7 + JPEG 85). Each is annotated with the default rule and compared with the skin it smoothed (mask IoU),
and the share of the fakes called fake is counted. Held-out edits, held-out people: no setting of the annotator was
chosen on these.
"""
import argparse, sys, time
from pathlib import Path
import numpy as np, cv2
from fifa_nb.samples import sample_faces, SampleFace
from fifa_nb.dataset import plan_identities, portrait_face
from fifa_nb.annotator import inter_ocular_distance, difference_parts, annotate_parts
from fifa_nb.regions import concept_map
from fifa_nb.forgery import postprocess
from fifa_nb.masks import mask_iou
from fifa_nb.warps import feather, alpha_blend

def _blend(face, edited, skin, iod):
    "The edited image over the skin, with a soft edge of 0.04 IOD (fifa_nb's own feathering and blending)."
    return alpha_blend(edited, face, feather(skin, max(1.0, 0.04 * iod)))

FILTERS = {   # other people's idea of skin smoothing, sized by the inter-ocular distance
    'gaussian': lambda im, iod: cv2.GaussianBlur(im, (0, 0), max(1.0, 0.04 * iod)),
    'median': lambda im, iod: cv2.medianBlur(im, 2 * max(1, int(0.03 * iod)) + 1),
    'edge_preserving': lambda im, iod: cv2.edgePreservingFilter(im, flags=cv2.RECURS_FILTER, sigma_s=max(5.0, 0.3 * iod), sigma_r=0.15),
}
CHAINS = {'none': [], 'jpeg': [{'op': 'jpeg', 'quality': 75}], 'resize+jpeg': [{'op': 'resize', 'scale': 0.7}, {'op': 'jpeg', 'quality': 85}]}

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--portraits', type=int, default=12, help='portrait people of the test split (seed-0 plan) besides the two sample faces')
    ap.add_argument('--out', default='results/texture_heldout.md')
    ap.add_argument('--force', action='store_true', help='overwrite an existing output')
    args = ap.parse_args()
    out = Path(args.out)
    if out.exists() and not args.force: sys.exit(f'{out} exists: pass --force to overwrite it.')
    t = time.perf_counter()
    keys = [i['key'] for i in plan_identities(0, 0) if i['split'] == 'test'][:args.portraits]
    groups = {'sample faces': sample_faces(), f'{len(keys)} test-split portrait people': [SampleFace(k, *portrait_face(k)[:2], None, '', '', None) for k in keys]}
    lines = [f'# Skin smoothing by other code ({time.strftime("%Y-%m-%d")})', '',
             f'Made by `python {" ".join(sys.argv)}`. Default rule; cells: mean mask IoU with the smoothed skin | % of fakes called fake.', '',
             '| faces | filter | ' + ' | '.join(CHAINS) + ' | all |', '|---|---|' + '---|' * (len(CHAINS) + 1)]
    for group, faces in groups.items():
        for name, filt in FILTERS.items():
            cells, everything = [], []
            for chain in CHAINS.values():
                res = []
                for face in faces:
                    iod = inter_ocular_distance(face.landmarks)
                    cmap = concept_map(face.landmarks, face.image.shape)
                    skin = cmap.mask('face') & ~np.any([cmap.mask(n) for n in ('eyebrows', 'upper_lip', 'lower_lip', 'mouth_interior', 'left_eye', 'right_eye')], 0)
                    fake = postprocess(_blend(face.image, filt(face.image, iod), skin, iod), chain)
                    real = face.image
                    parts = difference_parts(real, fake, iod)
                    a = annotate_parts(real, fake, parts, cmap, iod, check_aligned=False)
                    res.append((mask_iou(a.artifact_mask, skin), a.is_fake))
                everything += res
                cells.append(f'{np.mean([r[0] for r in res]):.2f} / {100 * np.mean([r[1] for r in res]):.0f}%')
            cells.append(f'{np.mean([r[0] for r in everything]):.2f} / {100 * np.mean([r[1] for r in everything]):.0f}%')
            lines.append(f'| {group} | {name} | ' + ' | '.join(cells) + ' |')
    lines += ['', f'{time.perf_counter() - t:.0f} s.']
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))

if __name__ == '__main__': main()
