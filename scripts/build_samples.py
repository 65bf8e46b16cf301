"""Rebuild fifa_nb's sample data in data_samples/ (public-domain faces and their landmarks).

Stages (run in this order; each refuses to overwrite an existing file unless --force):

  images     astronaut.jpg (skimage, NASA) and grace_hopper.jpg (matplotlib, US Navy)
  mesh       NAME.mediapipe478.json with mediapipe's legacy face mesh (478 points, refined irises).
             Needs mediapipe 0.10.21, which pins numpy<2, so it runs in a side venv and imports
             only mediapipe, numpy, PIL and json (not fifa_nb).
  dlib       NAME.ibug68.json with fifa_nb.landmarks.detect_landmarks(backend="dlib")
  meanshape  mean_shape_ibug68.json: the mean 68-point shape inside OpenCV's Haar face box, used by
             the approximate "opencv" backend (needs OpenCV 4.x: OpenCV 5 has no Haar cascades)
  index      samples.json, the list of samples that fifa_nb.samples.sample_faces() reads

One extra stage only checks, and writes nothing:
  mesh-mirror  (side venv) derives which mesh vertex is the mirror image of which, by running the
             face mesh on each face and on its mirror image, and prints the pairs so they can be
             compared with fifa_nb.landmarks.MESH_MIRROR.

Commands (from the repository root):
  python -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.21
  .venv/bin/python scripts/build_samples.py --stage images
  /tmp/mp/bin/python scripts/build_samples.py --stage mesh
  .venv/bin/python scripts/build_samples.py --stage dlib --stage meanshape --stage index
Without --stage the script runs images, dlib, meanshape and index (everything the main venv can do).
"""
import argparse, json, os, shutil, sys, tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data_samples"
FORMAT = "fifa_nb.landmarks/1"  # the tag fifa_nb.landmarks.Landmarks.from_json checks
MEAN_SHAPE_FORMAT = "fifa_nb.mean_shape/1"

SAMPLES = {
    "astronaut": dict(
        image="astronaut.jpg",
        source="skimage.data.astronaut() (scikit-image): NASA photograph of astronaut Eileen Collins, "
               "from the NASA Great Images database (https://flic.kr/p/r9qvLn)",
        license="Public domain (NASA photograph; scikit-image: 'No known copyright restrictions, released into the public domain')"),
    "grace_hopper": dict(
        image="grace_hopper.jpg",
        source="matplotlib.cbook.get_sample_data('grace_hopper.jpg') (matplotlib): US Navy portrait of Commodore "
               "Grace M. Hopper (matplotlib does not record the source; the photograph is on Wikimedia Commons as "
               "'Commodore Grace M. Hopper, USN (covered).jpg')",
        license="Public domain (US Navy photograph, a work of the US federal government)"),
}
MAIN_STAGES = ["images", "dlib", "meanshape", "index"]
ALL_STAGES = ["images", "mesh", "mesh-mirror", "dlib", "meanshape", "index"]  # dependency order


def check_free(path, force):
    "Refuse to overwrite `path` unless `force`."
    if Path(path).exists() and not force:
        raise SystemExit(f"{path} exists; rerun with --force to overwrite it")


def write_json(path, obj, force=False):
    "Write `obj` as JSON atomically (temporary file in the same folder, then rename)."
    path = Path(path)
    check_free(path, force)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f: json.dump(obj, f, separators=(",", ":"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp): os.remove(tmp)
        raise
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")


def write_bytes(path, data, force=False):
    path = Path(path)
    check_free(path, force)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "wb") as f: f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size:,} bytes)")


def load_rgb(name):
    return np.asarray(Image.open(OUT / SAMPLES[name]["image"]).convert("RGB"))


def stage_images(force):
    import io
    import matplotlib.cbook, skimage.data
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, format="JPEG", quality=92)
    write_bytes(OUT / "astronaut.jpg", buf.getvalue(), force)
    src = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    write_bytes(OUT / "grace_hopper.jpg", Path(src).read_bytes(), force)  # byte for byte


def face_mesh(image):
    "All faces found by mediapipe's legacy face mesh, as (478, 2) float arrays in pixels."
    from mediapipe.python.solutions import face_mesh as mp_face_mesh
    H, W = image.shape[:2]
    with mp_face_mesh.FaceMesh(static_image_mode=True, max_num_faces=5, refine_landmarks=True,
                               min_detection_confidence=0.5) as mesh:
        result = mesh.process(np.ascontiguousarray(image))
    faces = result.multi_face_landmarks or []
    # mediapipe's normalised coordinates run from the image's edge; fifa_nb puts (0, 0) at the
    # centre of the top-left pixel, hence the half-pixel shift (the same one fifa_nb.landmarks uses)
    return [np.array([[p.x * W - 0.5, p.y * H - 0.5] for p in f.landmark], np.float64) for f in faces]


def stage_mesh(force):
    import mediapipe
    for name in SAMPLES:
        image = load_rgb(name)
        faces = face_mesh(image)
        if not faces: raise SystemExit(f"mediapipe found no face in {name}")
        boxes = [(f[:, 0].min(), f[:, 1].min(), f[:, 0].max(), f[:, 1].max()) for f in faces]
        best = int(np.argmax([(b[2] - b[0]) * (b[3] - b[1]) for b in boxes]))
        pts = faces[best]
        write_json(OUT / f"{name}.mediapipe478.json", dict(
            format=FORMAT, layout="mediapipe478", backend="mediapipe-facemesh", approximate=False,
            image_size=list(image.shape[:2]), box=[round(float(v), 3) for v in boxes[best]],
            n_faces=len(faces), score=None,
            points=[[round(float(x), 3), round(float(y), 3)] for x, y in pts],
            note=f"mediapipe {mediapipe.__version__} solutions.face_mesh, refine_landmarks=True"), force)


def stage_mesh_mirror(force):
    "Derive the mesh's mirror pairing from detections on each face and its mirror image."
    from scipy.optimize import linear_sum_assignment
    from mediapipe.python.solutions import face_mesh_connections as conn
    cost = np.zeros((478, 478))
    for name in SAMPLES:
        image = load_rgb(name)
        W = image.shape[1]
        (a,), (b,) = face_mesh(image)[:1], face_mesh(image[:, ::-1])[:1]
        a_mirrored = a.copy(); a_mirrored[:, 0] = W - 1 - a_mirrored[:, 0]
        inter_ocular = np.linalg.norm(a[468] - a[473])
        cost += np.linalg.norm(a_mirrored[:, None] - b[None], axis=-1) / inter_ocular
    _, mirror = linear_sum_assignment(cost)
    edges = {tuple(sorted(e)) for e in conn.FACEMESH_TESSELATION}
    kept = sum(tuple(sorted((mirror[i], mirror[j]))) in edges for i, j in edges)
    print(json.dumps(dict(
        mirror=mirror.tolist(), involution=bool((mirror[mirror] == np.arange(478)).all()),
        on_midline=np.flatnonzero(mirror == np.arange(478)).tolist(),
        mean_error_inter_ocular=float(cost[np.arange(478), mirror].mean() / len(SAMPLES)),
        tesselation_edges=len(edges), edges_mapped_to_edges=int(kept))))


def stage_dlib(force):
    sys.path.insert(0, str(ROOT))
    from fifa_nb.landmarks import detect_landmarks
    for name in SAMPLES:
        check_free(OUT / f"{name}.ibug68.json", force)
        lm = detect_landmarks(OUT / SAMPLES[name]["image"], backend="dlib")
        lm.to_json(OUT / f"{name}.ibug68.json", overwrite=force)
        print(f"wrote data_samples/{name}.ibug68.json: {lm}")


def stage_meanshape(force):
    "Mean iBUG-68 shape in Haar-box coordinates, from the dlib points of each face and its mirror."
    sys.path.insert(0, str(ROOT))
    from fifa_nb.landmarks import detect_landmarks, haar_face_boxes
    shapes, used = [], []
    for name in SAMPLES:
        image = load_rgb(name)
        for mirrored in (False, True):
            im = np.ascontiguousarray(image[:, ::-1]) if mirrored else image
            lm = detect_landmarks(im, backend="dlib")
            boxes = haar_face_boxes(im)
            # the Haar box that holds the dlib face's centre (the faces here are single faces)
            centre = lm.points.mean(0)
            inside = [b for b in boxes if b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3]]
            if not inside: raise SystemExit(f"no Haar box around the dlib face in {name} (mirrored={mirrored})")
            x0, y0, x1, y1 = max(inside, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
            shapes.append((lm.points - [x0, y0]) / [x1 - x0, y1 - y0])
            used.append(f"{name}{' (mirrored)' if mirrored else ''}")
    mean = np.mean(shapes, 0)
    write_json(OUT / "mean_shape_ibug68.json", dict(
        format=MEAN_SHAPE_FORMAT, layout="ibug68",
        box="OpenCV haarcascade_frontalface_default.xml, see fifa_nb.landmarks.haar_face_boxes",
        coordinates="(x - x0) / (x1 - x0), (y - y0) / (y1 - y0) inside the face box (x0, y0, x1, y1)",
        faces=used, points=[[round(float(u), 5), round(float(v), 5)] for u, v in mean]), force)


def stage_index(force):
    samples = []
    for name, meta in SAMPLES.items():
        landmarks = {}
        for layout in ("ibug68", "mediapipe478"):
            fname = f"{name}.{layout}.json"
            if (OUT / fname).exists(): landmarks[layout] = fname
            else: print(f"warning: {fname} is missing; samples.json will not list it", file=sys.stderr)
        samples.append(dict(name=name, image=meta["image"], landmarks=landmarks,
                            source=meta["source"], license=meta["license"]))
    write_json(OUT / "samples.json", dict(samples=samples), force)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", action="append", choices=ALL_STAGES,
                        help="stage to run (repeatable); default: " + " ".join(MAIN_STAGES))
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    stages = args.stage or MAIN_STAGES
    for stage in ALL_STAGES:  # always in dependency order
        if stage in stages: globals()["stage_" + stage.replace("-", "_")](args.force)


if __name__ == "__main__":
    main()
