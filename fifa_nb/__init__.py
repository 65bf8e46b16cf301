__version__ = "0.1.0"

def analyze(image, question=None, **kwargs):
    """Explain the face in a picture with FiFa-MLLM (the shipped `small` checkpoint unless `checkpoint=` or `model=`):
    an `Analysis` with verdict, score, family, text and one mask per grounded phrase (on `analysis.image`, the face crop).
    Keywords as `fifa_nb.demo.analyze`: region (a FICT concept name or a mask), box, task, checkpoint, model, backend, threshold."""
    from fifa_nb.demo import analyze as _analyze   # torch and the model load here, not at `import fifa_nb`
    return _analyze(image, question, **kwargs)
