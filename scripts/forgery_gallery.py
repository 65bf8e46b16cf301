"""Write a picture of every forgery method on one sample face (fake, changed_mask, region_mask) and print the numbers.

    python scripts/forgery_gallery.py gallery.jpg [--face grace_hopper] [--seed 0] [--strength 1.0] [--overwrite]

The other sample face is the donor for the swaps. Nothing is downloaded.
"""
import argparse, io, math, time

import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import numpy as np

from fifa_nb.core import atomic_write_bytes
from fifa_nb.samples import sample_faces
from fifa_nb.forgery import CHANGED_COLOR, FORGERY_METHODS, REGION_COLOR, _face_crop_box, make_forgery
from fifa_nb.show import overlay_masks

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('out', help='image file to write (.jpg or .png)')
    ap.add_argument('--face', default='grace_hopper', help='the sample face to forge (the other one is the donor)')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--strength', type=float, default=1.0)
    ap.add_argument('--overwrite', action='store_true')
    args = ap.parse_args(argv)
    faces = {f.name: f for f in sample_faces()}
    if args.face not in faces: ap.error(f'--face must be one of {", ".join(faces)}')
    face = faces[args.face]
    donor = next(f for n, f in faces.items() if n != args.face)
    methods = list(FORGERY_METHODS)
    rows = math.ceil(len(methods) / 2)
    fig, axs = plt.subplots(rows, 6, figsize=(8.4, 1.56 * rows),
                            gridspec_kw=dict(left=0.005, right=0.995, bottom=0.005, top=0.985, wspace=0.03, hspace=0.16))
    x0, y0, x1, y1 = _face_crop_box(face.landmarks, face.image.shape, 0.25)
    crop = lambda a: a[y0:y1, x0:x1]
    print(f"{'method':18} {'family':13} {'changed':>8} {'region':>7} {'ms':>5}  concepts")
    for i, m in enumerate(methods):
        t = time.perf_counter()
        f = make_forgery(face.image, face.landmarks, m, donor=donor, seed=args.seed, strength=args.strength)
        ms = (time.perf_counter() - t) * 1000
        print(f'{m:18} {f.family:13} {f.changed_mask.mean():8.2%} {f.region_mask.mean():7.2%} {ms:5.0f}  {len(f.concepts)}')
        ax = axs[i // 2, 3 * (i % 2):3 * (i % 2) + 3]
        ax[0].imshow(crop(f.fake)); ax[0].set_title(m, fontsize=7)
        ax[1].imshow(overlay_masks(crop(f.fake), [crop(f.changed_mask)], colors=[CHANGED_COLOR], alpha=0.6, outline=False)); ax[1].set_title('changed', fontsize=7)
        ax[2].imshow(overlay_masks(crop(f.fake), [crop(f.region_mask)], colors=[REGION_COLOR], alpha=0.5, outline=False)); ax[2].set_title('region', fontsize=7)
    if len(methods) % 2: axs[-1, 3].imshow(crop(face.image)); axs[-1, 3].set_title('real', fontsize=7)
    for ax in axs.ravel(): ax.set_axis_off()
    buf = io.BytesIO()
    fmt = 'png' if args.out.lower().endswith('.png') else 'jpeg'
    fig.savefig(buf, format=fmt, dpi=80, **({'pil_kwargs': {'quality': 85}} if fmt == 'jpeg' else {}))
    atomic_write_bytes(args.out, buf.getvalue(), overwrite=args.overwrite)
    print('wrote', args.out)

if __name__ == '__main__':
    main()
