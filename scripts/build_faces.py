"""Rebuild data_samples/faces/congress: the 711 public-domain portraits and their 68-point landmarks.

    python scripts/build_faces.py                      # landmarks only (dlib), for the portraits already in the folder
    python scripts/build_faces.py --fetch              # download the portraits first (needs internet; never run in tests)
    python scripts/build_faces.py --from ../shared/faces/congress   # copy them from a local folder first

The portraits are official portraits of members of the US Congress (works of the US federal government, public domain
in the US), from the Biographical Directory of the United States Congress as collected by the public repository
voteview/member_photos (images/bio_guide), resized to at most 320 px high. faces.csv names every file; README.md keeps
the source and licence facts. Landmarks are found with dlib's 68-point predictor (`pip install "fifa_nb[landmarks]"`)
and written to landmarks.ibug68.json (one record per file, points to 0.01 px); a portrait where dlib finds no face is
left out of that file and listed on stdout.
"""
import argparse, csv, io, json, shutil, sys, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEST = ROOT / 'data_samples' / 'faces' / 'congress'
VOTEVIEW = 'https://raw.githubusercontent.com/voteview/member_photos/main/images/bio_guide/{icpsr}.jpg'


def fetch(dest, rows, height=320):
    "Download each portrait named in faces.csv from voteview/member_photos and resize it to `height` px high."
    from PIL import Image
    for r in rows:
        icpsr = Path(r['file']).stem
        with urllib.request.urlopen(VOTEVIEW.format(icpsr=icpsr), timeout=30) as f: data = f.read()
        im = Image.open(io.BytesIO(data)).convert('RGB')
        if im.height > height: im = im.resize((round(im.width * height / im.height), height), Image.LANCZOS)
        im.save(dest / r['file'], quality=92)


def landmarks(dest, rows):
    from tqdm import tqdm
    from fifa_nb.landmarks import detect_landmarks
    from fifa_nb.core import FifaError, atomic_write_json
    out, missed = {}, []
    for r in tqdm(rows, desc='landmarks'):
        try: lm = detect_landmarks(dest / r['file'], backend='dlib', min_face_size=24)
        except FifaError as e: missed.append((r['file'], str(e))); continue
        d = lm.to_dict()
        d['points'] = [[round(x, 2), round(y, 2)] for x, y in d['points']]
        out[r['file']] = d
    atomic_write_json(dest / 'landmarks.ibug68.json', out, overwrite=True)
    print(f'{len(out)} portraits with landmarks; {len(missed)} without:')
    for f, why in missed: print(f'  {f}: {why}')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--fetch', action='store_true', help='download the portraits from voteview/member_photos (internet)')
    ap.add_argument('--from', dest='source', help='copy the portraits, faces.csv and README.md from this folder first')
    a = ap.parse_args(argv)
    DEST.mkdir(parents=True, exist_ok=True)
    if a.source:
        src = Path(a.source)
        for p in [*src.glob('*.jpg'), src / 'faces.csv']: shutil.copy2(p, DEST / p.name)
        if (src / 'README.md').exists(): shutil.copy2(src / 'README.md', DEST / 'README.md')
    rows = list(csv.DictReader(open(DEST / 'faces.csv', newline='')))
    if a.fetch: fetch(DEST, rows)
    landmarks(DEST, rows)


if __name__ == '__main__': sys.exit(main())
