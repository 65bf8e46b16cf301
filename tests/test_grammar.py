"Generated sentences agree with their phrases: 'the eyebrows look', 'the left eyebrow looks' (issue 16, item 3)."
import re
import numpy as np
import pytest
from fifa_nb.concepts import FICT, phrase_is_plural
from fifa_nb.annotator import write_explanation, FINDING_WORDS

VERBS = {'look': 'looks', 'appear': 'appears', 'show': 'shows'}
AFTER_TAG = re.compile(r'<p>([^<]*)</p> \[SEG\] (\w+)')

def disagreements(text):
    "Every (phrase, verb) right after a grounded phrase whose number does not match the verb's."
    bad = []
    for phrase, verb in AFTER_TAG.findall(text):
        many = phrase_is_plural(phrase)
        if verb in VERBS.values() and many: bad.append((phrase, verb))
        if verb in VERBS and not many: bad.append((phrase, verb))
    return bad

def test_every_concept_and_every_sentence_shape_agrees():
    "Each concept's phrase in every template (many seeds reach all shapes and findings), singular and plural alike."
    seen = {True: set(), False: set()}
    kinds = list(FINDING_WORDS)
    for c in FICT.nodes:
        for seed in range(30):
            findings = [(kinds[(seed + c.id) % len(kinds)], 2.0)]
            text = write_explanation([(c.name, findings)], seed=seed)
            assert disagreements(text) == [], text
            seen[c.plural].update(v for _, v in AFTER_TAG.findall(text))
    assert seen[True] >= set(VERBS) and seen[False] >= set(VERBS.values())   # both numbers met every verb

def test_the_check_can_fail():
    assert disagreements('<p>the eyebrows</p> [SEG] looks smoothed.') == [('the eyebrows', 'looks')]
    assert disagreements('<p>the left eyebrow</p> [SEG] show a seam.') == [('the left eyebrow', 'show')]
    assert disagreements('<p>the chin and jaw</p> [SEG] look warped.') == []

# The FiFa-11 templates (questions and answers) are filled with a bare phrase, so no verb or pronoun next to it may
# depend on its number: a verb right before or after the phrase, or an 'it' in the same template, would be wrong for one.
SINGULAR_VERBS = {'is', 'was', 'has', 'looks', 'shows', 'appears', 'does'}
PLURAL_VERBS = {'are', 'were', 'have', 'look', 'show', 'appear', 'do'}

PREPOSITIONS = {'in', 'of', 'at', 'on', 'with', 'inside', 'to', 'into'}
AUXILIARIES = {'is', 'was', 'has', 'does', 'are', 'were', 'have', 'do'}

def template_problems(template):
    """What in one template agrees (or fails to agree) with the number of its {phrase}: a verb right after the phrase
    when the phrase is the subject (not the object of 'in', 'of', ...), an auxiliary right before it ('Is {phrase}'),
    or an 'it' in the same template."""
    out = []
    for sentence in re.split(r'(?<=[.?!:;])\s+', template.replace('{Phrase}', '{phrase}').replace('{token}', ' ')):
        words = [w.lower() for w in re.findall(r"[\w{}']+", sentence)]
        for i, w in enumerate(words):
            if w != '{phrase}': continue
            before, after = (words[i - 1] if i else ''), (words[i + 1] if i + 1 < len(words) else '')
            if before in AUXILIARIES: out.append(f'{before!r} before the phrase')
            if after in SINGULAR_VERBS | PLURAL_VERBS and before not in PREPOSITIONS: out.append(f'{after!r} after the phrase')
    if re.search(r"\b(it|its|it's)\b", template, re.I): out.append("'it' may stand for a plural phrase")
    return out

def test_fifa11_templates_agree_with_any_phrase():
    from fifa_nb import phrasing
    templates = [t for ts in phrasing.QUESTIONS.values() for t in ts] + [
        t for name in ('_REGION_YES', '_REGION_NO', '_REGION_SEG', '_REGION_NONE', '_CONCEPT') for t in getattr(phrasing, name)]
    with_phrase = [t for t in templates if '{phrase}' in t or '{Phrase}' in t]
    assert len(with_phrase) >= 15
    assert {t: template_problems(t) for t in with_phrase if template_problems(t)} == {}
    for t in with_phrase:   # and they fill with either number
        for p in ('the nose', 'the eyebrows'): assert p in t.format(phrase=p, Phrase=p, token='<region>', box='')

def test_the_template_check_can_fail():
    assert template_problems('Yes, {phrase} has been manipulated.')
    assert template_problems('Look at {phrase} {token}. Is it real or fake?')
    assert template_problems('Here is <p>{Phrase}</p> [SEG].') == []    # 'is' is two words away: markup, not agreement
    assert template_problems('Where is {phrase}?')
    assert template_problems('Has {phrase} {token} been manipulated?')
    assert template_problems('Nothing in {phrase} was manipulated.') == []   # 'was' agrees with 'nothing'
