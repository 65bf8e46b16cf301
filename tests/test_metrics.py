"""Checks of fifa_nb.metrics against reference implementations and brute force.

The notebook nbs/11_metrics.ipynb holds the hand-worked examples; this file compares every metric with the
library the field uses (scikit-learn, scipy, sacrebleu, rouge-score, pycocoevalcap, nltk) on many inputs.
Each comparison skips when its library is not installed (nltk and rouge-score are in the `dev` extra).
"""
import importlib.util, inspect, itertools, json, math, re, subprocess, sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fifa_nb.core import FifaError
from fifa_nb.concepts import FICT
import fifa_nb.metrics as M

ROOT = Path(__file__).resolve().parents[1]

VOCAB = ['the', 'left', 'right', 'eyebrow', 'eyebrows', 'nose', 'is', 'are', 'looks', 'look', 'smeared', 'blurred',
         'blurry', 'darkened', 'darker', 'and', 'a', 'visible', 'boundary', 'seam', 'skin', 'mouth', 'reddened',
         'face', 'fake', 'real', 'edited', 'editing', 'shows', 'showing', 'slimming', 'slim', '2.5', 'x', 'mm-wide']
PUNCT = [',', '.', ';', ':', '!', '?', '(', ')', "'s", '-', '"', '&', '3-4']


def random_sentence(rng, n_min=1, n_max=14, punct=True, vocab=VOCAB):
    words = [vocab[k] for k in rng.integers(0, len(vocab), rng.integers(n_min, n_max + 1))]
    if punct:
        for _ in range(rng.integers(0, 3)):
            words.insert(int(rng.integers(0, len(words) + 1)), PUNCT[rng.integers(0, len(PUNCT))])
    text = ' '.join(words)
    if punct: text = re.sub(r' ([,.;:!?)])', r'\1', text)   # attach punctuation as people write it
    return text[0].upper() + text[1:] if rng.random() < 0.5 else text


def random_corpus(seed, n=12, refs_per=1):
    rng = np.random.default_rng(seed)
    hyps = [random_sentence(rng) for _ in range(n)]
    refs = [[random_sentence(rng) for _ in range(refs_per)] for _ in range(n)]
    for k in range(0, n, 3): refs[k][0] = hyps[k]   # some exact answers, so that 4-grams match
    return hyps, refs


CORPUS_HYPS = ["The left eyebrow looks smeared, and the nose is blurred.", "The mouth looks reddened.",
               "This face is real: no manipulation found.", "The skin between the left eye and eyebrow shows a visible boundary.",
               "The eyebrows look darkened and bordered by a blending seam.", "It looks like an attribute edit; the lips are 2.5x redder.",
               "The nose shows slimming, the nose-wings too.", "the the the face"]
CORPUS_REFS = ["The nose is blurred and the left eyebrow is smeared.", "The mouth looks reddened and glossy.",
               "This face is real.", "A visible boundary appears on the skin between the left eye and eyebrow.",
               "The eyebrows look darkened and are bordered by a blending seam.", "It looks like an attribute edit: the lips are redder.",
               "The nose shows slimming.", "the face is fake"]


# ---------------------------------------------------------------- import weight

def test_import_loads_no_reference_library():
    "Reference libraries (and scipy, matplotlib) are never loaded by importing the module."
    code = ('import sys, fifa_nb.metrics; bad = [m for m in ("scipy", "sklearn", "nltk", "sacrebleu", "rouge_score", '
            '"pycocoevalcap", "torch", "matplotlib.pyplot") if m in sys.modules]; assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)


# ---------------------------------------------------------------- labels (scikit-learn)

@pytest.fixture(scope='module')
def skm():
    return pytest.importorskip('sklearn.metrics')


def label_cases():
    rng = np.random.default_rng(0)
    classes = ['fake', 'real', 'attribute', 'region_swap', 'identity_swap']
    for seed in range(30):
        k = 2 + seed % 4
        n = int(rng.integers(5, 60))
        t = [classes[i] for i in rng.integers(0, k, n)]
        p = [classes[i] for i in rng.integers(0, k, n)]
        if seed % 5 == 0: p = [t[0]] * n   # a collapsed model
        yield t, p


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_label_metrics_match_sklearn(skm):
    for t, p in label_cases():
        assert M.accuracy(t, p) == pytest.approx(skm.accuracy_score(t, p))
        assert M.balanced_accuracy(t, p) == pytest.approx(skm.balanced_accuracy_score(t, p))
        assert M.macro_f1(t, p) == pytest.approx(skm.f1_score(t, p, average='macro', zero_division=0))
        labels = sorted(set(t) | set(p))
        assert (M.confusion(t, p, labels) == skm.confusion_matrix(t, p, labels=labels)).all()
        pos = t[0]
        if len(set(t) | set(p)) == 2:
            assert M.f1(t, p, positive=pos) == pytest.approx(skm.f1_score(t, p, pos_label=pos, zero_division=0))


def test_binary_f1_and_auc_match_sklearn(skm):
    rng = np.random.default_rng(1)
    for seed in range(40):
        n = int(rng.integers(4, 80))
        y = rng.random(n) < rng.uniform(0.1, 0.9)
        if y.all() or not y.any(): y[0] = not y[0]
        scores = rng.integers(0, int(rng.integers(2, 10)), n) / 7 if seed % 2 else rng.random(n)   # with and without ties
        assert M.auc(y, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
        labels = ['fake' if v else 'real' for v in y]
        assert M.auc(labels, scores) == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
        pred = rng.random(n) < 0.5
        assert M.f1(y, pred) == pytest.approx(skm.f1_score(y, pred, zero_division=0))


def test_label_metric_errors():
    with pytest.raises(FifaError, match='one prediction per example'): M.accuracy([1, 2], [1])
    with pytest.raises(FifaError, match='empty'): M.macro_f1([], [])
    with pytest.raises(FifaError, match='positive='): M.f1(['a', 'b'], ['b', 'a'])
    with pytest.raises(FifaError, match='NaN'): M.auc([0, 1], [0.1, float('nan')])
    assert math.isnan(M.auc(['fake', 'fake'], [0.1, 0.2]))


# ---------------------------------------------------------------- masks

def test_mask_scores_definitions():
    rng = np.random.default_rng(2)
    preds, gts = [], []
    for k in range(20):
        g = rng.random((12, 9)) < (0 if k % 5 == 0 else 0.3)
        p = None if k % 7 == 3 else rng.random((12, 9)) < (0 if k % 4 == 0 else 0.3)
        preds.append(p); gts.append(g)
    s = M.mask_scores(preds, gts)
    ious = [M.mask_iou(np.zeros_like(g) if p is None else p, g) for p, g in zip(preds, gts)]
    assert s['giou'] == pytest.approx(np.mean(ious))
    assert s['miou'] == pytest.approx(np.mean([i for i, g in zip(ious, gts) if g.any()]))
    inter = sum(((np.zeros_like(g) if p is None else p) & g).sum() for p, g in zip(preds, gts))
    union = sum(((np.zeros_like(g) if p is None else p) | g).sum() for p, g in zip(preds, gts))
    assert s['ciou'] == pytest.approx(inter / union)
    assert s['n_with_gt'] == sum(g.any() for g in gts)


def test_mask_scores_checks_shapes():
    with pytest.raises(Exception, match='but the image is'): M.mask_scores([np.zeros((3, 3), bool)], [np.zeros((4, 4), bool)])


# ---------------------------------------------------------------- Hungarian matching

def brute_best(iou):
    n, m = iou.shape
    if n <= m: return max(sum(iou[i, j] for i, j in enumerate(c)) for c in itertools.permutations(range(m), n))
    return max(sum(iou[i, j] for j, i in enumerate(r)) for r in itertools.permutations(range(n), m))


def test_hungarian_is_optimal_against_brute_force():
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (1, 4), (4, 1), (2, 2), (3, 3), (3, 5), (5, 3), (6, 6)]:
        for k in range(10):
            iou = rng.random(shape)
            if k % 3 == 0: iou = np.round(iou * 3) / 3   # ties
            if k % 3 == 1: iou[iou < 0.6] = 0            # sparse, like real masks
            pairs = M.hungarian(-iou)
            assert len(pairs) == min(shape) and len({i for i, _ in pairs}) == len({j for _, j in pairs}) == min(shape)
            assert sum(iou[i, j] for i, j in pairs) == pytest.approx(brute_best(iou))


def test_hungarian_matches_scipy():
    opt = pytest.importorskip('scipy.optimize')
    rng = np.random.default_rng(4)
    for _ in range(200):
        n, m = rng.integers(1, 15, 2)
        cost = rng.normal(size=(n, m)) if rng.random() < 0.5 else rng.integers(0, 4, (n, m)).astype(float)
        rows, cols = opt.linear_sum_assignment(cost)
        ours = M.hungarian(cost)
        assert sum(cost[i, j] for i, j in ours) == pytest.approx(cost[rows, cols].sum())


def test_match_segments_drops_zero_iou_pairs():
    a = np.zeros((6, 6), bool); a[:3, :3] = True
    b = np.zeros((6, 6), bool); b[3:, 3:] = True
    assert M.match_segments([a, b], [b]) == [(1, 0, 1.0)]
    assert M.match_segments([a], [b]) == []


# ---------------------------------------------------------------- AGE scores and consistency

def segs(names, masks):
    return [(FICT[n].phrase if n in FICT else n, n, m) for n, m in zip(names, masks)]


@pytest.fixture(scope='module')
def face_masks():
    from fifa_nb.samples import sample_faces
    from fifa_nb.regions import concept_map
    face = sample_faces()[0]
    return face, concept_map(face.landmarks, face.image.shape).masks(None)


def test_age_scores_perfect_and_empty(face_masks):
    _, cm = face_masks
    names = ['nose', 'left_eyebrow', 'mouth']
    truth = segs(names, [cm[n] for n in names])
    perfect = M.age_scores([truth[::-1]], [truth])
    assert perfect['miou'] == perfect['recall50'] == perfect['precision50'] == perfect['concept_f1'] == 1.0
    nothing = M.age_scores([[]], [truth])
    assert nothing['miou'] == 0 and nothing['recall50'] == 0 and math.isnan(nothing['precision50'])
    assert nothing['concept_recall'] == 0 and nothing['miou_glamm'] == 0
    real = M.age_scores([[]], [[]])   # a real image answered without segments
    assert real['concept_f1'] == 1.0 and real['n_gt_segments'] == 0 and math.isnan(real['miou'])


def test_age_scores_concept_variants():
    m = np.zeros((4, 4), bool); m[0, 0] = True
    s = M.age_scores([segs(['left_eye'], [m])], [segs(['left_upper_eyelid', 'nose'], [m, None])])
    assert (s['concept_precision'], s['concept_recall']) == (0.0, 0.0)
    assert (s['hier_precision'], s['hier_recall']) == (1.0, 0.5)
    n_eye = len(FICT.atomic_under('left_eye'))
    n_nose = len(FICT.atomic_under('nose'))
    assert s['atomic_precision'] == pytest.approx(1 / n_eye) and s['atomic_recall'] == pytest.approx(1 / (1 + n_nose))


def test_text_mask_consistency_of_annotator_output(face_masks):
    from fifa_nb.annotator import annotate
    from fifa_nb.forgery import make_forgery
    face, cm = face_masks
    forgery = make_forgery(face.image, face.landmarks, 'lip_recolor', seed=0)
    ann = annotate(forgery.real, forgery.fake, face.landmarks)
    values = M.text_mask_consistency(ann.age, cm)
    assert values and all(v == 1.0 for v in values) and all(type(v) is float for v in values)
    half = cm['nose'] | cm['chin']
    v = M.text_mask_consistency([('the nose', 'nose', half)], cm)[0]
    assert v == pytest.approx(cm['nose'].sum() / half.sum())
    assert M.consistency_summary([v, 1.0])['n'] == 2


# ---------------------------------------------------------------- BLEU (sacrebleu)

@pytest.fixture(scope='module')
def sacrebleu():
    return pytest.importorskip('sacrebleu')


TRICKY = ['The left eyebrow (near the temple) is smeared, not 3.5 mm-wide.', '3-4 times; 1,000 px.', 'Tom & Jerry &amp; "quoted"',
          "crow's-feet: <skipped> a/b {c} [d] e~f `g` @h", 'End with period.', '   spaces   around  ', 'a.b,c 2.5. x,', '']


def test_tokenizer_13a_matches_sacrebleu(sacrebleu):
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    tok = Tokenizer13a()
    rng = np.random.default_rng(5)
    for line in TRICKY + [random_sentence(rng) for _ in range(200)]:
        assert M.tokenize_13a(line) == tok(line).split(), line


@pytest.mark.parametrize('seed,refs_per,lowercase', [(0, 1, False), (1, 1, True), (2, 3, False), (3, 2, True), (4, 1, False)])
def test_bleu4_matches_sacrebleu(sacrebleu, seed, refs_per, lowercase):
    hyps, refs = random_corpus(seed, n=15, refs_per=refs_per)
    streams = [[r[k] for r in refs] for k in range(refs_per)]
    theirs = sacrebleu.corpus_bleu(hyps, streams, tokenize='13a', lowercase=lowercase).score
    assert M.bleu4(hyps, refs, lowercase=lowercase) * 100 == pytest.approx(theirs, abs=1e-9)


def test_bleu4_matches_sacrebleu_on_explanations(sacrebleu):
    theirs = sacrebleu.corpus_bleu(CORPUS_HYPS, [CORPUS_REFS], tokenize='13a').score
    assert M.bleu4(CORPUS_HYPS, CORPUS_REFS) * 100 == pytest.approx(theirs, abs=1e-9)
    for hyps, refs in [(['the nose'], ['the nose is blurred']), (['x y z w'], ['a b c d']), ([''], ['a b']),
                       (['a b c d e'], ['a b c d e']), (['A B C D'], ['a b c d'])]:
        assert M.bleu4(hyps, refs) * 100 == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs], tokenize='13a').score, abs=1e-9)


# ---------------------------------------------------------------- ROUGE-L (rouge-score)

def test_rouge_l_matches_rouge_score():
    rouge_scorer = pytest.importorskip('rouge_score.rouge_scorer')
    scorer = rouge_scorer.RougeScorer(['rougeL'])
    for seed in range(4):
        hyps, refs = random_corpus(seed, n=20, refs_per=1 + seed % 3)
        theirs = np.mean([scorer.score_multi(rs, h)['rougeL'].fmeasure for h, rs in zip(hyps, refs)])
        assert M.rouge_l(hyps, refs) == pytest.approx(theirs, abs=1e-12)
    theirs = np.mean([scorer.score(r, h)['rougeL'].fmeasure for h, r in zip(CORPUS_HYPS, CORPUS_REFS)])
    assert M.rouge_l(CORPUS_HYPS, CORPUS_REFS) == pytest.approx(theirs, abs=1e-12)


def test_word_tokens_match_rouge_score():
    tokenize = pytest.importorskip('rouge_score.tokenize')
    for line in TRICKY + CORPUS_HYPS + ['Ünïcode café naïve', 'UPPER lower 123abc']:
        assert M.word_tokens(line) == tokenize.tokenize(line, None), line


# ---------------------------------------------------------------- CIDEr-D (pycocoevalcap)

@pytest.mark.parametrize('seed,refs_per', [(0, 1), (1, 5), (2, 3), (3, 1)])
def test_cider_matches_pycocoevalcap(seed, refs_per):
    from pycocoevalcap.cider.cider import Cider   # a [dev] dependency: this comparison must run, not skip
    hyps, refs = random_corpus(seed, n=25, refs_per=refs_per)
    gts = {k: [' '.join(M.word_tokens(r)) for r in rs] for k, rs in enumerate(refs)}
    res = {k: [' '.join(M.word_tokens(h))] for k, h in enumerate(hyps)}
    theirs, _ = Cider().compute_score(gts, res)
    assert M.cider(hyps, refs) == pytest.approx(theirs, abs=1e-9)


def test_cider_hand_example():
    assert M.cider(['the nose is blurred', 'the lips are red'], ['the nose is blurred', 'the mouth is red']) == \
        pytest.approx((10 + 10 / math.sqrt(6) / 4) / 2)


# ---------------------------------------------------------------- METEOR and the Porter stemmer (nltk)

@pytest.fixture(scope='module')
def nltk_porter():
    porter = pytest.importorskip('nltk.stem.porter')
    return porter.PorterStemmer()


def stemmer_words():
    "English words from FICT, the annotator's phrases and stdlib docs, plus made-up words for every suffix rule."
    import fifa_nb.annotator as annotator, argparse, difflib, textwrap, email.message, json, logging, unittest
    text = ' '.join([n.phrase + ' ' + ' '.join(n.synonyms) for n in FICT] +
                    [inspect.getsource(mod) for mod in (annotator, argparse, difflib, textwrap, email.message, json, logging, unittest)])
    words = set(re.findall(r'[a-z]+', text.lower()))
    stems = ['rel', 'gener', 'hop', 'fil', 'cont', 'troubl', 'sky', 'agr', 'f', 'bl', 'conflat', 'happ', 'enjo', 'biolo',
             'radic', 'formal', 'electr', 'sens', 'effect', 'adopt', 'control', 'ro', 'ceas', 'y', 'sy', 'tr', 'oat', 'iv']
    suffixes = ['', 's', 'ies', 'sses', 'ss', 'eed', 'ed', 'ing', 'ied', 'y', 'ational', 'tional', 'enci', 'anci', 'izer',
                'bli', 'abli', 'alli', 'entli', 'eli', 'ousli', 'ization', 'ation', 'ator', 'alism', 'iveness', 'fulness',
                'ousness', 'aliti', 'iviti', 'biliti', 'fulli', 'logi', 'icate', 'ative', 'alize', 'iciti', 'ical', 'ful',
                'ness', 'al', 'ance', 'ence', 'er', 'ic', 'able', 'ible', 'ant', 'ement', 'ment', 'ent', 'sion', 'tion',
                'ou', 'ism', 'ate', 'iti', 'ous', 'ive', 'ize', 'e', 'll', 'lled', 'tting', 'ying', 'yed', 'at', 'bl', 'iz']
    words |= {s + x for s in stems for x in suffixes}
    words |= {'a', 'is', 'as', 'ies', 'ied', 'dying', 'lying', 'tying', 'news', 'innings', 'skies', 'proceed', 'yyyy', 'syzygy',
              'toy', 'by', 'ivy', 'sprayed', 'played', 'crying', 'flies', 'tied', 'spied', 'died'}
    return sorted(words)


def test_porter_stem_matches_nltk(nltk_porter):
    words = stemmer_words()
    assert len(words) > 3000
    wrong = [(w, M.porter_stem(w), nltk_porter.stem(w)) for w in words if M.porter_stem(w) != nltk_porter.stem(w)]
    assert not wrong, wrong[:20]


class NoWordNet:
    "Stands in for WordNet in nltk's METEOR: no word has synonyms."
    def synsets(self, word): return []


def nltk_meteor(hyps, refs):
    from nltk.translate.meteor_score import meteor_score
    return float(np.mean([meteor_score([M.word_tokens(r) for r in rs], M.word_tokens(h), wordnet=NoWordNet())
                          for h, rs in zip(hyps, [[r] if isinstance(r, str) else r for r in refs])]))


def test_meteor_nltk_alignment_equals_nltk():
    pytest.importorskip('nltk')
    for seed in range(6):
        hyps, refs = random_corpus(seed, n=20, refs_per=1 + seed % 3)
        assert M.meteor_exact_stem(hyps, refs, alignment='nltk') == pytest.approx(nltk_meteor(hyps, refs), abs=1e-12)
    assert M.meteor_exact_stem(CORPUS_HYPS, CORPUS_REFS, alignment='nltk') == pytest.approx(nltk_meteor(CORPUS_HYPS, CORPUS_REFS), abs=1e-12)


def test_meteor_fewest_chunks_vs_nltk():
    "Never below nltk's greedy alignment, and the same when no word (or stem) repeats."
    pytest.importorskip('nltk')
    rng = np.random.default_rng(7)
    same = 0
    for _ in range(150):
        h, r = random_sentence(rng, punct=False), random_sentence(rng, punct=False)
        ours, theirs = M.meteor_exact_stem([h], [r]), nltk_meteor([h], [r])
        assert ours >= theirs - 1e-12, (h, r)
        stems = lambda s: [M.porter_stem(w) for w in M.word_tokens(s)]
        if len(set(stems(h))) == len(stems(h)) and len(set(stems(r))) == len(stems(r)):
            assert ours == pytest.approx(theirs, abs=1e-12); same += 1
    assert same > 20


def all_alignments(h, r):
    "Every one-to-one set of (i, j) pairs with equal stems (brute force, for short sentences)."
    hs, rs = [M.porter_stem(w) for w in h], [M.porter_stem(w) for w in r]
    def rec(i, used):
        if i == len(h): yield []; return
        yield from rec(i + 1, used)
        for j in range(len(r)):
            if j not in used and hs[i] == rs[j]:
                for rest in rec(i + 1, used | {j}): yield [(i, j)] + rest
    return rec(0, frozenset())


def test_fewest_chunks_is_optimal_on_short_sentences():
    rng = np.random.default_rng(8)
    vocab = ['the', 'nose', 'is', 'blurred', 'blur', 'and', 'a', 'the', 'is']
    for _ in range(150):
        h = M.word_tokens(random_sentence(rng, 1, 7, punct=False, vocab=vocab))
        r = M.word_tokens(random_sentence(rng, 1, 7, punct=False, vocab=vocab))
        cands = list(all_alignments(h, r))
        n_exact = lambda a: sum(h[i] == r[j] for i, j in a)
        top = max((len(a), n_exact(a)) for a in cands)
        best = min(M._chunks(a) for a in cands if (len(a), n_exact(a)) == top) if top[0] else None
        ours = M.meteor_alignment(h, r)
        assert (len(ours), n_exact(ours)) == top, (h, r, ours)
        if best is not None: assert M._chunks(ours) == best, (h, r, ours)


def test_meteor_is_not_above_nltk_with_a_synonym_table():
    "With synonyms (here: a tiny hand-made WordNet) the reference can only score higher than ours."
    pytest.importorskip('nltk')
    from nltk.translate.meteor_score import meteor_score
    class Lemma:
        def __init__(self, name): self._name = name
        def name(self): return self._name
    class Synset:
        def __init__(self, names): self._names = names
        def lemmas(self): return [Lemma(n) for n in self._names]
    class TinyWordNet:
        groups = [{'red', 'crimson'}, {'lip', 'mouth'}]   # nltk looks synonyms up for the stems left after the stem stage
        def synsets(self, word): return [Synset(sorted(g)) for g in self.groups if word in g]
    h, r = 'the lips look crimson', 'the mouth looks red'
    full = meteor_score([M.word_tokens(r)], M.word_tokens(h), wordnet=TinyWordNet())
    assert M.meteor_exact_stem([h], [r]) < full


# ---------------------------------------------------------------- text_scores and collapse detectors

def test_text_scores_strip_age_markup():
    ref = '<p>The left eyebrow</p> [SEG] looks darkened.'
    assert M.text_scores([ref], [ref]) == M.text_scores(['The left eyebrow looks darkened.'], ['The left eyebrow looks darkened.'])
    with pytest.raises(FifaError, match='wrap it in'): M.text_scores('a', ['a'])
    with pytest.raises(FifaError, match='2 hypotheses but 1'): M.bleu4(['a', 'b'], ['a'])


def test_meteor_variant_is_named_for_what_it_is():
    "No score called plain 'meteor' sits beside published METEOR; results saved under the old names still read."
    scores = M.text_scores(['the nose is blurred'], ['the nose looks blurred'])
    assert set(scores) == {'bleu4', 'rouge_l', 'cider', 'meteor_exact_stem'}
    assert scores['meteor_exact_stem'] == M.meteor_exact_stem(['the nose is blurred'], ['the nose looks blurred'])
    assert not hasattr(M, 'meteor')
    repo_results = Path(__file__).resolve().parents[1] / 'results'
    for path in sorted(repo_results.glob('*.json')):   # results/ written before the rename
        text = path.read_text()
        if '"meteor"' not in text and '"text_meteor"' not in text: continue
        renamed = json.dumps(M.renamed_metrics(json.loads(text)))
        assert '"meteor"' not in renamed and '"text_meteor"' not in renamed, path
        assert renamed.count('"meteor_exact_stem"') == text.count('"meteor"'), path
    assert M.renamed_metrics({'toe': {'meteor': 0.1, 'meteor_exact_stem': 0.2}}) == {'toe': {'meteor_exact_stem': 0.2}}


def test_answer_sensitivity_equals_pair_count():
    rng = np.random.default_rng(9)
    answers = [['fake', 'real', 'The face is fake.', 'attribute edit'][k] for k in rng.integers(0, 4, 25)]
    norm = [' '.join(M.word_tokens(a)) for a in answers]
    pairs = list(itertools.combinations(range(len(norm)), 2))
    expected = sum(norm[i] != norm[j] for i, j in pairs) / len(pairs)
    assert M.answer_sensitivity({'det': answers})['det'] == pytest.approx(expected)
    assert math.isnan(M.answer_sensitivity({'det': ['fake']})['det'])
    d = M.distinct_answers(answers)
    assert d['n_distinct'] == len(set(norm)) and d['top_answer_share'] == Counter(norm).most_common(1)[0][1] / len(norm)
