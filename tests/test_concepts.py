"""FICT properties beyond the notebook: the partition holds for any pose, scale and crop of the sample faces."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from fifa_nb.samples import sample_faces
from fifa_nb.concepts import FICT, select_concepts, GRANULARITIES
from fifa_nb.regions import concept_map, atomic_label_map

SAMPLES = sample_faces()

def assert_partition(cmap):
    masks = cmap.masks()
    assert masks['image'].all()
    for node in FICT:
        if node.is_atomic: continue
        kids = np.stack([masks[c] for c in node.children])
        assert kids.sum(0).max() <= 1, f'children of {node.name} overlap'
        assert np.array_equal(kids.any(0), masks[node.name]), f'children of {node.name} do not make up their parent'
    for g in GRANULARITIES:
        count = np.stack([masks[n] for n in FICT.cut(g)]).sum(0)
        assert count.min() == 1 and count.max() == 1, g

def test_tree_size():
    assert len(FICT.atomic()) >= 100 and FICT.depth >= 4

@pytest.mark.parametrize('layout', ['landmarks', 'mesh'])
@pytest.mark.parametrize('sample', SAMPLES, ids=lambda s: s.name)
def test_partition_on_every_sample_face(sample, layout):
    cmap = concept_map(getattr(sample, layout), sample.image.shape)
    assert_partition(cmap)
    assert min(cmap.areas().values()) > 0, 'an atomic concept is empty on a frontal sample face'

def transformed(lm, angle, scale, shift, shape):
    "The landmarks rotated by `angle` about the face centre, scaled and shifted."
    c = lm.points.mean(0)
    R = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) * scale
    pts = ((lm.points - c) @ R.T + c + np.asarray(shift)).astype(np.float32)
    x0, y0 = pts.min(0); x1, y1 = pts.max(0)
    return type(lm)(**{**lm.__dict__, 'points': pts, 'box': (x0, y0, x1, y1), 'image_size': shape})

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sample=st.sampled_from(SAMPLES), mesh=st.booleans(), angle=st.floats(-0.6, 0.6), scale=st.floats(0.3, 1.6),
       dx=st.floats(-200, 200), dy=st.floats(-200, 200), h=st.integers(48, 400), w=st.integers(48, 400))
def test_partition_for_any_pose_and_crop(sample, mesh, angle, scale, dx, dy, h, w):
    "Tilted, scaled, shifted faces, partly outside small images: every pixel still gets exactly one concept."
    lm = sample.mesh if mesh else sample.landmarks
    lm = transformed(lm, angle, scale, (dx - lm.points[:, 0].mean() + w / 2, dy - lm.points[:, 1].mean() + h / 2), (h, w))
    labels = atomic_label_map(lm, (h, w))
    assert labels.shape == (h, w) and labels.max() < len(FICT.atomic())
    assert_partition(concept_map(lm, (h, w)))

@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([n.name for n in FICT.atomic()]), st.floats(0, 1), max_size=60))
def test_selected_concepts_never_overlap(scores):
    "The naming rule never names a concept together with one of its ancestors or descendants."
    chosen = select_concepts(scores)
    for a in chosen:
        assert not any(b in chosen for b in [x.name for x in FICT.ancestors(a)])
    covered = {x.name for n in chosen for x in FICT.atomic_under(n)}
    assert {n for n, s in scores.items() if s >= 0.15} <= covered   # every affected concept is mentioned

def test_concepts_do_not_reach_up_to_regions():
    "The tree sits below the region masks: concepts imports nothing from regions, not even on first use."
    import fifa_nb.concepts as c, fifa_nb.regions as r
    assert callable(r.concept_masks)
    with pytest.raises(AttributeError): c.concept_masks
