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
