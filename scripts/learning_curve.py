"""The learning curve on people the model never trained on: the real/fake head's AUC and mean p(fake) per checkpoint.

    python scripts/learning_curve.py --snapshots runs/snaps --data data/fifa11 [--out results/learning_curve]

`--snapshots` holds one model folder per saved step (`step-0000250`, ...: copies of RUN/checkpoints/step-*/model, since a
run keeps only its newest two). For each, the head scores the val people's faces and the re-rendered real photos of test
people (no text is generated: a few seconds a checkpoint). Writes OUT.json and OUT.png.
"""
import argparse, json, sys
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--snapshots', required=True)
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', default=str(ROOT / 'results' / 'learning_curve'))
    ap.add_argument('--max-images', type=int, default=240)
    a = ap.parse_args(argv)
    from fifa_nb.model import FiFaMLLM
    from fifa_nb.generalisation import _images_and_labels, head_logits_of
    from fifa_nb import metrics as M
    val_x, val_y = _images_and_labels(a.data, 'val', a.max_images)
    rr_x, _ = _images_and_labels(a.data, 'test_rerendered_real', a.max_images)
    rows = []
    for folder in sorted(Path(a.snapshots).glob('step-*')):
        model = FiFaMLLM.from_pretrained(folder)
        z, _ = head_logits_of(model, val_x)
        zr, _ = head_logits_of(model, rr_x)
        truth = ['fake' if y else 'real' for y in val_y]
        rows.append(dict(step=int(folder.name.split('-')[1]), val_auc=M.auc(truth, z.tolist(), positive='fake'),
                         val_p_fake_real=float(np.mean(1 / (1 + np.exp(-z[val_y == 0])))),
                         val_p_fake_fake=float(np.mean(1 / (1 + np.exp(-z[val_y == 1])))),
                         rerendered_p_fake=float(np.mean(1 / (1 + np.exp(-zr))))))
        print(rows[-1], flush=True)
    Path(a.out + '.json').write_text(json.dumps(dict(data=str(a.data), val_images=len(val_y), rerendered_images=len(rr_x), rows=rows), indent=1))
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.2))
    s = [r['step'] for r in rows]
    axs[0].plot(s, [r['val_auc'] for r in rows], 'o-', ms=3); axs[0].axhline(0.5, color='0.6', ls='--', lw=1)
    axs[0].set_title(f'real/fake head AUC on val people ({len(val_y)} faces)', fontsize=9); axs[0].set_xlabel('step')
    for k, lab in (('val_p_fake_real', 'val real faces'), ('val_p_fake_fake', 'val fakes'), ('rerendered_p_fake', 're-rendered reals (test people)')):
        axs[1].plot(s, [r[k] for r in rows], 'o-', ms=3, label=lab)
    axs[1].set_title('mean raw p(fake)', fontsize=9); axs[1].set_xlabel('step'); axs[1].legend(fontsize=7)
    fig.savefig(a.out + '.png', dpi=100, bbox_inches='tight')


if __name__ == '__main__': sys.exit(main())
