"""Rebuild the tokenizer that ships with fifa_nb (data_samples/tokenizer/), byte for byte.

The corpus is FiFa-11 text made here from the two sample faces (nothing is downloaded):
  - every forgery method of fifa_nb.forgery on each sample face (the other face as donor), annotated
    with fifa_nb.annotator, cut to 256 px face crops, and the eleven tasks' questions and answers of
    fifa_nb.tasks.task_samples for SEEDS seeds each; the same for the two real faces;
  - every question template of fifa_nb.tasks.QUESTIONS, filled with every FICT phrase (region
    questions) or a fixed box (box questions);
  - every FICT concept's phrase and synonyms, every forgery family's phrase, every finding word.
Everything is seeded and kept in a fixed order, and BPE training in `tokenizers` is deterministic, so
the same library versions give the same files.

Commands (from the repository root):
  .venv/bin/python scripts/build_tokenizer.py            # write data_samples/tokenizer/ (refuses to overwrite)
  .venv/bin/python scripts/build_tokenizer.py --force    # overwrite it
  .venv/bin/python scripts/build_tokenizer.py --check    # rebuild in a temporary folder, compare, write nothing
"""
import argparse, filecmp, sys, tempfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / 'data_samples' / 'tokenizer'
SEEDS = 4            # task_samples seeds per annotated image (phrasings and queries differ per seed)
VOCAB_SIZE = 2048
FILES = ('tokenizer.json', 'tokenizer_config.json')


def corpus(seeds=SEEDS, progress=True) -> list:
    "The training texts, in a fixed order."
    import numpy as np
    from fifa_nb.samples import sample_faces
    from fifa_nb.concepts import FICT
    from fifa_nb.forgery import FORGERY_METHODS, make_forgery
    from fifa_nb.annotator import annotate, FINDING_WORDS
    from fifa_nb.tasks import AnnotatedImage, task_samples, QUESTIONS, FAMILY_PHRASES, REGION_TOKEN, box_text
    texts = []
    faces = sample_faces()
    sources = []
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # the annotator's tone fit may warn on flat channels
        for fi, face in enumerate(faces):
            if progress: print(f'{face.name}: {len(FORGERY_METHODS)} forgeries and the real face', file=sys.stderr, flush=True)
            donor = faces[(fi + 1) % len(faces)]
            for k, method in enumerate(sorted(FORGERY_METHODS)):
                f = make_forgery(face.image, face.landmarks, method, donor=donor, seed=k)
                ann = annotate(f.real, f.fake, face.landmarks, family=f.family, method=method, seed=k)
                sources.append(AnnotatedImage.from_forgery(f, ann).face_crop(256))
            ann = annotate(face.image, face.image, face.landmarks)
            sources.append(AnnotatedImage.real(face.image, face.landmarks, ann).face_crop(256))
    for src in sources:
        for seed in range(seeds):
            for s in task_samples(src, seed=seed):
                texts += [s.question, s.answer]
    phrases = [n.phrase for n in FICT]
    for task, templates in QUESTIONS.items():
        for t in templates:
            if '{phrase}' in t: texts += [t.format(phrase=p, token=REGION_TOKEN) for p in phrases]
            elif '{box}' in t: texts.append(t.format(box=box_text((32, 48, 128, 112), (256, 256)), token=REGION_TOKEN))
            else: texts.append(t)
    for n in FICT: texts += [n.phrase, *n.synonyms]
    texts += list(FAMILY_PHRASES.values())
    for adjectives, nouns in FINDING_WORDS.values(): texts += [*adjectives, *nouns]
    return texts


def build(folder, seeds=SEEDS, vocab_size=VOCAB_SIZE):
    "Train the tokenizer and save it into `folder`; returns (tokenizer, number of texts)."
    from fifa_nb.backbone import train_tokenizer
    texts = corpus(seeds)
    tok = train_tokenizer(texts, vocab_size=vocab_size)
    folder = Path(folder); folder.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(str(folder))
    extra = sorted(set(p.name for p in folder.iterdir()) - set(FILES))
    for name in extra: (folder / name).unlink()   # only the files listed in FILES ship
    return tok, len(texts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--force', action='store_true', help='overwrite data_samples/tokenizer/')
    ap.add_argument('--check', action='store_true', help='rebuild in a temporary folder and compare with the shipped files')
    args = ap.parse_args()
    t = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        tok, n = build(tmp)
        print(f'{n} texts -> {len(tok)} tokens in {time.time() - t:.0f} s')
        if args.check:
            same = [f for f in FILES if (OUT / f).is_file() and filecmp.cmp(Path(tmp) / f, OUT / f, shallow=False)]
            differ = [f for f in FILES if f not in same]
            print('identical:', ', '.join(same) or '-', '| different or missing:', ', '.join(differ) or '-')
            sys.exit(1 if differ else 0)
        if OUT.exists() and any(OUT.iterdir()) and not args.force:
            raise SystemExit(f'{OUT} exists; rerun with --force to overwrite it')
        from fifa_nb.core import atomic_write_bytes
        OUT.mkdir(parents=True, exist_ok=True)
        for f in FILES: atomic_write_bytes(OUT / f, (Path(tmp) / f).read_bytes(), overwrite=True)
    for f in FILES: print(f'{OUT / f}: {(OUT / f).stat().st_size:,} bytes')


if __name__ == '__main__': main()
