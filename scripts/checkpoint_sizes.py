"""How big is a checkpoint? Full weights vs only what was trained (issue 18), written to results/checkpoint_sizes.md.

    python scripts/checkpoint_sizes.py [--out results/checkpoint_sizes.md]

- `colab` and `paper`: the real bases (CLIP ViT-B/16 + Qwen2.5-0.5B; FaRL + Vicuna-7B) are downloads, so their figures are
  computed, not measured: the architecture is built on PyTorch's 'meta' device (shapes, no memory) from the preset's config,
  and `stored_tensors` lists what each kind of checkpoint would hold; bytes = elements x bytes per element (+ a header).
- tiny stand-ins (`save_tiny_bases`: a CLIP encoder and a Llama LM of the same classes, random): real files are written
  both ways and their sizes measured, which also checks the element-count arithmetic above against real safetensors files.
"""
import argparse, math, sys, tempfile, time, warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _count(shapes): return sum(math.prod(s) for s in shapes.values())


def _group(name):
    if name.startswith('vision.'): return 'face encoder'
    if name.startswith('llm.'):
        return 'LoRA adapter' if 'lora_' in name else "new tokens' rows" if 'trainable_tokens_' in name or name.endswith(':added_rows') else 'LLM'
    return {'seg_head': 'mask decoder', 'projector': 'projector', 'region_encoder': 'region encoder'}.get(name.split('.')[0], 'heads and task embeddings')


def computed(preset):
    "Element counts of a full and a trained-only checkpoint of `preset`, built on the meta device."
    import torch
    from fifa_nb.model import FiFaMLLM, stored_shapes
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = FiFaMLLM.from_preset(preset, device='meta')
    c = model.config
    bases = {}
    if c.vision_pretrained and c.freeze_vision: bases['vision'] = {}
    if c.llm_pretrained and c.lora is not None: bases['llm'] = dict(rows=c.llm['vocab_size'])   # no vocabulary growth counted (see the note in the output)
    full, trained = stored_shapes(model, {}), stored_shapes(model, bases)
    groups = {}
    for k, s in trained.items(): groups[_group(k)] = groups.get(_group(k), 0) + math.prod(s)
    llm_base = sum(math.prod(s) for k, s in full.items() if k.startswith('llm.') and k not in trained)
    return dict(preset=preset, vision=c.vision_pretrained, llm=c.llm_pretrained, full=_count(full), trained=_count(trained),
                tensors_full=len(full), tensors_trained=len(trained), groups=groups, llm_base=llm_base)


def measured(work):
    "Real files of a tiny pretrained-style model, saved trained-only and full."
    import torch
    from fifa_nb.model import FiFaMLLM, save_tiny_bases, stored_shapes, left_out_bases
    clip, llm = save_tiny_bases(work / 'bases')
    model = FiFaMLLM.from_preset('tiny', pretrained=True, vision_pretrained=str(clip), llm_pretrained=str(llm), freeze_vision=True,
                                 lora=dict(r=8, alpha=16, dropout=0.05, targets=['q_proj', 'v_proj']))
    out = {}
    for kind, full in (('trained-only', False), ('full', True)):
        folder = model.save_pretrained(work / kind, full_weights=full)
        shapes = stored_shapes(model, {} if full else left_out_bases(model))
        out[kind] = dict(elements=_count(shapes), predicted=4 * _count(shapes), weights=(folder / 'model.safetensors').stat().st_size,
                         folder=sum(p.stat().st_size for p in folder.iterdir()))
    t0 = time.perf_counter(); FiFaMLLM.from_pretrained(work / 'trained-only'); out['load_s'] = time.perf_counter() - t0
    return out


def gb(n): return f'{n / 1e9:.2f} GB' if n >= 1e9 else f'{n / 1e6:.1f} MB' if n >= 1e6 else f'{n / 1e3:.1f} kB'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', type=Path, default=ROOT / 'results' / 'checkpoint_sizes.md')
    args = ap.parse_args(argv)
    from fifa_nb.core import atomic_write_text
    t0 = time.time()
    rows = [computed(p) for p in ('colab', 'paper')]
    with tempfile.TemporaryDirectory() as d: tiny = measured(Path(d))
    L = ['# Checkpoint sizes: full weights vs only what was trained', '',
         f'Made by `python scripts/checkpoint_sizes.py` in {time.time() - t0:.0f} s on this machine\'s CPU. A checkpoint of a model built '
         'on pretrained bases (`from_preset(..., pretrained=True)`) stores only what training changes (the LoRA adapter, the new tokens\' '
         'rows, projector, heads, mask decoder); `save_pretrained(full_weights=True)` or a model trained from scratch stores every weight.',
         '', '## colab and paper presets (computed)', '',
         'The real bases are downloads, not available here: the figures are element counts of the architecture built on the `meta` device '
         'from the preset config (`scripts/checkpoint_sizes.py`, `fifa_nb.model.stored_shapes`), times 4 bytes (float32, as the model '
         'is built and trained here); "LLM base in bf16" counts the frozen LLM at 2 bytes, the dtype its Hub weights are published in.', '',
         '| preset | bases | stored in full | full, float32 | full, LLM base in bf16 | trained-only | trained-only, float32 | ratio |',
         '|---|---|---|---|---|---|---|---|']
    for r in rows:
        L.append(f'| {r["preset"]} | {r["vision"]} + {r["llm"]} | {r["full"] / 1e6:.1f} M ({r["tensors_full"]} tensors) | {gb(4 * r["full"])} | '
                 f'{gb(4 * r["full"] - 2 * r["llm_base"])} | {r["trained"] / 1e6:.2f} M ({r["tensors_trained"]} tensors) | {gb(4 * r["trained"])} | '
                 f'{r["full"] / r["trained"]:.0f}x |')
    L += ['', 'What the trained-only checkpoint holds (elements):', '', '| part | ' + ' | '.join(r['preset'] for r in rows) + ' |',
          '|---|' + '---|' * len(rows)]
    for g in sorted({g for r in rows for g in r['groups']}):
        L.append(f'| {g} | ' + ' | '.join(f'{r["groups"].get(g, 0) / 1e6:.2f} M' for r in rows) + ' |')
    L += ['', 'Not counted: rows a real tokenizer adds to the vocabulary. Qwen2.5\'s embedding (151,936 rows) has room for our 16 tokens, '
          'so colab adds none; Vicuna\'s 32,000 rows are all used, so paper would store 17 more rows (16 tokens and a pad) of its input '
          'and output embeddings: 17 x 4096 x 2 = 0.14 M elements more.', '', '## Tiny stand-ins (measured)', '',
          'The `tiny` preset on `save_tiny_bases` (a 2-layer CLIP encoder and a 2-layer Llama of the same classes as the real bases, '
          'random, saved to folders and loaded by name), LoRA r=8 on q_proj/v_proj, frozen encoder. Real files written by '
          '`save_pretrained`; "predicted" is 4 bytes x the elements `stored_shapes` lists (the difference is the safetensors header).', '',
          '| checkpoint | elements | predicted bytes | model.safetensors | whole folder (tokenizer, card, manifest) |', '|---|---|---|---|---|']
    for kind in ('trained-only', 'full'):
        t = tiny[kind]
        L.append(f'| {kind} | {t["elements"]:,} | {t["predicted"]:,} | {t["weights"]:,} | {t["folder"]:,} |')
    L += ['', f'Loading the trained-only stand-in (bases rebuilt from their folders, fingerprints checked, trained tensors filled in) took '
          f'{tiny["load_s"]:.1f} s here. The tiny model\'s own heads and mask decoder are large next to its 2-layer bases, so its ratio '
          f'({tiny["full"]["weights"] / tiny["trained-only"]["weights"]:.1f}x) is far below colab\'s: the point of this row is that the '
          'arithmetic above matches real files.', '']
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, '\n'.join(L), overwrite=True)
    print('\n'.join(L))


if __name__ == '__main__':
    sys.exit(main())
