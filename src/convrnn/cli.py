"""The ``convrnn`` command: ``convrnn features`` (features of any folder of images) and ``convrnn export-brainscore``
(a run's model as a Brain-Score plugin, through the DAG's own rule). README.md shows both; ``--help`` lists options.

A bad input (unreadable image, unknown layer or model, missing file) ends the command with one line naming it and
exit code 2; a failed Snakemake run exits with Snakemake's code.
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path

from convrnn.errors import ConfigError

EXIT_INPUT = 2


def _features(a) -> int:
    from convrnn.devices import resolve_device
    from convrnn.export.images import image_features, list_images, load_model, write_features

    images = list_images(a.images)
    pca_images = list_images(a.pca_images) if a.pca_images else None
    try:
        overrides = json.loads(a.overrides) if a.overrides else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"--overrides {a.overrides!r}: not JSON ({e.msg})") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"--overrides {a.overrides!r}: give a JSON object, e.g. '{{\"width\": 0.5}}'")
    device = resolve_device(a.device)
    model, name, size = load_model(a.model, checkpoint=a.checkpoint, arch=a.arch, overrides=overrides,
                                   num_classes=a.num_classes, image_size=a.image_size)
    image_off = a.times if a.constant else a.image_off
    layers = None if a.layers in (None, "all") else [x.strip() for x in a.layers.split(",") if x.strip()]
    fs = image_features(model, images, image_size=size, times=a.times, image_off=image_off, layers=layers,
                        steps=a.steps, static=not a.unroll_static, pool=None if a.pool == "none" else a.pool,
                        pca_components=a.pca, pca_images=pca_images, batch_size=a.batch_size, device=device,
                        seed=a.seed, progress=not a.quiet)
    written = write_features(fs, images, a.out, name, image_off)
    if not a.quiet:
        print(f"{name}: {len(images)} images x {len(fs.features)} layer(s) x {fs.logits.shape[0]} step(s) -> "
              f"{', '.join(map(str, written))}", file=sys.stderr)
    return 0


def _export_brainscore(a) -> int:
    """The rule export_brainscore for one model, run by Snakemake in the run's folder (so the plugin is exactly what
    the DAG writes, and whatever the model still needs is made first)."""
    import shutil

    target = f"results/brainscore/{a.model}"
    cmd = [sys.executable, "-m", "snakemake", target, "--cores", str(a.cores), "--directory", str(a.directory)]
    if (Path(a.directory) / "Snakefile").is_file():
        cmd += ["--snakefile", str(Path(a.directory) / "Snakefile")]
    else:
        raise FileNotFoundError(f"{a.directory}: no Snakefile (run the command in the run's checkout, or --directory)")
    for f in a.configfile or []:
        cmd += ["--configfile", f]
    if a.dry_run:
        cmd.append("--dry-run")
    code = subprocess.call(cmd)
    if code or a.dry_run or not a.out:
        return code
    src, dst = Path(a.directory) / target, Path(a.out)
    if dst.exists():
        raise FileExistsError(f"--out {dst}: already exists; remove it or name another folder")
    shutil.copytree(src, dst)
    print(f"{a.model}: Brain-Score plugin copied to {dst}", file=sys.stderr)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convrnn", description="convrnn-repro: features of any image folder, and a "
                                                            "run's model as a Brain-Score model plugin")
    sub = p.add_subparsers(dest="command", required=True)

    f = sub.add_parser("features", help="features of a folder (or CSV) of images",
                       description="Features of any folder of JPEG/PNG images (or a CSV of paths) per layer and "
                                   "model step, written as Parquet (docs/data_formats.md).")
    f.add_argument("--model", required=True, help="a run's model folder (results/models/ID) or id, a TF checkpoint "
                                                  "(folder or model.ckpt prefix), or a zoo name with --checkpoint")
    f.add_argument("--images", required=True, help="folder of .jpg/.jpeg/.png (searched recursively) or a CSV with "
                                                   "an image_path column (and optionally stimulus_id)")
    f.add_argument("--out", required=True, help="FILE.parquet (a table) or FILE.safetensors (tensors + index)")
    f.add_argument("--checkpoint", help="released TF checkpoint (folder or model.ckpt prefix) for --model ARCH")
    f.add_argument("--arch", help="zoo name of a run's converted released model (its folder has no result.parquet)")
    f.add_argument("--overrides", help="JSON build overrides for --checkpoint / --arch, e.g. '{\"width\": 0.5}'")
    f.add_argument("--num-classes", type=int, help="readout width (default: from the weights; 1000 for checkpoints)")
    f.add_argument("--image-size", type=int, help="input size (default: the model's; 224 for checkpoints)")
    f.add_argument("--layers", default="all", help="comma list of layers (default all)")
    f.add_argument("--steps", default="all", help="steps to keep, e.g. 0,5,10-12 (default all)")
    f.add_argument("--times", type=int, default=26, help="model steps of 10 ms (default 26, the papers')")
    f.add_argument("--image-off", type=int, default=10, help="steps the image is on before gray (default 10)")
    f.add_argument("--constant", action="store_true", help="the image stays on for all --times steps")
    f.add_argument("--unroll-static", action="store_true",
                   help="unroll a static model too (default: record its response once, as the DAG does)")
    f.add_argument("--pool", choices=["none", "avg", "max"], default="none", help="spatial pooling of conv maps")
    f.add_argument("--pca", type=int, default=0, help="PCA components per layer (0: raw features)")
    f.add_argument("--pca-images", help="folder or CSV of the images the PCA basis is fitted on")
    f.add_argument("--batch-size", type=int, default=64)
    f.add_argument("--device", default="auto", help="auto | cpu | cuda")
    f.add_argument("--seed", type=int, default=0, help="seed of the PCA fit")
    f.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    f.set_defaults(run=_features)

    e = sub.add_parser("export-brainscore", help="a run's model as a Brain-Score model plugin",
                       description="Runs the DAG's export_brainscore rule for one model: results/brainscore/MODEL/ "
                                   "(docs/brainscore.md).")
    e.add_argument("model", help="model id of the run (a key of the config's models, or a searched model)")
    e.add_argument("--directory", default=".", help="the run's checkout (default: here)")
    e.add_argument("--configfile", action="append", help="the run's config file(s), as given to snakemake")
    e.add_argument("--cores", type=int, default=1)
    e.add_argument("--out", help="also copy the plugin here (e.g. brainscore_vision/models/<name>)")
    e.add_argument("-n", "--dry-run", action="store_true", help="show what would run")
    e.set_defaults(run=_export_brainscore)
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError, RuntimeError, ConfigError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"convrnn {args.command}: error: {' '.join(str(msg).split())}", file=sys.stderr)   # one line
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
