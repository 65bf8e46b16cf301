"""Write tiny look-alikes of FaceForensics++, DFFD, DD-VQA and CelebAMask-HQ, in their real on-disk layouts.

They are made from fifa_nb's public-domain sample faces (a few short mp4 videos, small PNG/JPEG images,
mask files and question files, about 1 MB in all), so the loaders of fifa_nb.corpora can be tried and
tested without the real corpora, which can not be redistributed. Nothing is downloaded.

Usage (from the repository root):
  .venv/bin/python scripts/make_corpus_fixtures.py DEST

DEST must not exist yet (or be empty). It receives FaceForensics++/, DFFD/ (+ DFFD_pairs.csv), DQ_FF++/
(+ DQ_FF++_frames/), CelebAMask-HQ/ and fixtures.json, which lists them with the fixture faces' landmarks.
The code lives in fifa_nb.corpus_fixtures.make_corpus_fixtures (notebook nbs/06a_corpus_fixtures.ipynb); this is its
command line. Do not commit the generated files: tests write them into temporary folders.
"""
import argparse, sys
from pathlib import Path

from fifa_nb.core import FifaError
from fifa_nb.corpus_fixtures import make_corpus_fixtures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('dest', type=Path, help='a new (or empty) folder to write the fixtures into')
    args = parser.parse_args(argv)
    try: info = make_corpus_fixtures(args.dest)
    except FifaError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for name, path in info.items():
        if name != 'landmarks': print(f'{name:13} {path}')
    print(f"{'index':13} {Path(args.dest).resolve() / 'fixtures.json'}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
