"""``python -m workload [command]``: train, sample, accuracy table, plots, traces.

Commands (default ``all``)::

    all      train if data/dit_digits.npz is missing, then table (+ grids and plots), then
             traces if data/traces is missing
    train    train the DiT and the scoring classifier (``--force`` retrains)
    sample   sample one configuration and save a PNG grid (``--config NAME``)
    table    the accuracy table (markdown + CSV + JSON in build/workload, printed)
    plots    redraw the plots from build/workload/accuracy.json and gelu_cosine.json
    traces   export the keep-mask traces to data/traces (golden backend by default)
    check    compare the torch backend with the golden model on a few samples
    quality  class accuracy and FCD of vanilla samples with and without guidance, both models
    runtime-ref  record the runtime's reference tensors (data/runtime_ref/dit64_int.npz) from
             the all-integer path (workload/runtime_ref.py)

Option ``--model dit64|dit256`` (default ``$WORKLOAD_MODEL``, else dit64) selects the DiT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from . import paths


def _need_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("the workload needs torch: use the workload venv (see docs/workload.md): "
                 "python3.11 -m venv .venv-workload && .venv-workload/bin/pip install "
                 "torch==2.13.0 scikit-learn==1.9.1 matplotlib==3.11.2 numpy pytest")


def cmd_train(args):
    from . import train

    if paths.WEIGHTS.exists() and not args.force:
        print(f"weights exist: {paths.WEIGHTS.relative_to(paths.ROOT)} (use --force to retrain)")
    else:
        st = train.TRAIN_SETTINGS[paths.MODEL]
        steps = st["steps"] if args.steps is None else args.steps
        print(f"training {paths.MODEL} ({steps} steps, batch {st['batch']}, "
              f"{st['threads']} thread(s), {st['cfg']})")
        train.train_dit(steps=steps, batch=st["batch"], lr=st["lr"], cfg=st["cfg"],
                        out=paths.WEIGHTS, ema_decay=st["ema"], threads=st["threads"])
    if paths.CLASSIFIER.exists() and not args.force:
        print(f"classifier exists: {paths.CLASSIFIER.relative_to(paths.ROOT)}")
    else:
        print("training the digit classifier")
        train.train_classifier()


def _specs(args):
    from .accuracy import quick_specs, specs_for

    specs = quick_specs() if args.quick else specs_for(paths.MODEL)
    if args.only:
        keep = set(args.only.split(","))
        specs = [s for s in specs if s.name in keep or s.name.startswith("vanilla")]
    return specs


def cmd_table(args):
    from .accuracy import format_markdown, run_table
    from .sample import load_model

    model, meta = load_model()
    out = paths.build_dir()
    specs = _specs(args)
    print(f"accuracy table: {len(specs)} configurations x {args.n} samples -> {out}")
    rows = run_table(model, specs, n=args.n, out=out, merge=bool(args.only))
    data = json.loads((out / "accuracy.json").read_text())
    print()
    print(format_markdown(rows, data["meta"]))


def cmd_sample(args):
    from .accuracy import save_grid, specs_for
    from .sample import load_model, run

    specs = {s.name: s for s in specs_for(paths.MODEL)}
    if args.config not in specs:
        sys.exit(f"--config must be one of {', '.join(specs)}")
    model, _ = load_model()
    imgs, ops, secs = run(model, specs[args.config], args.n, progress=True)
    path = paths.build_dir() / "grids" / f"{args.config}.png"
    save_grid(imgs.numpy(), path)
    print(f"{args.n} samples in {secs:.1f} s -> {path}; {ops.stats.as_dict()}")


def cmd_plots(args):
    from .accuracy import plot_gelu_cosine, plot_sparsity_psnr

    from .accuracy import format_markdown

    out = paths.build_dir()
    data = json.loads((out / "accuracy.json").read_text())
    rows = data["rows"]
    (out / "accuracy.md").write_text(format_markdown(rows, data["meta"]))
    plot_sparsity_psnr(rows, out / "sparsity_psnr.png")
    if (out / "gelu_cosine.json").exists():
        plot_gelu_cosine(json.loads((out / "gelu_cosine.json").read_text()),
                         out / "gelu_cosine.png")
    print(f"plots written to {out}")


def cmd_traces(args):
    from .export import export_traces
    from .sample import load_model

    if (paths.TRACES / "index.json").exists() and not args.force and args.command == "all":
        print(f"traces exist: {paths.TRACES.relative_to(paths.ROOT)}")
        return
    from .export import TRACE_SETTINGS

    st = TRACE_SETTINGS[paths.MODEL]
    n = st["n"] if args.trace_samples is None else args.trace_samples
    backend = st["backend"] if args.backend is None else args.backend
    model, _ = load_model()
    print(f"exporting traces of {paths.MODEL} ({n} samples, {backend} backend) to "
          f"{paths.TRACES.relative_to(paths.ROOT)}")
    export_traces(model, n=n, backend=backend, out=paths.TRACES, ffn_every=st["ffn_every"],
                  eager_every=st["eager_every"])


def cmd_check(args):
    from .golden_ops import RunSpec
    from .sample import compare_backends, load_model

    model, _ = load_model()
    args.iterations = 6 if args.iterations is None else args.iterations
    specs = [RunSpec("reuse-ep", args.iterations, ffn_n=2, target_sparsity=0.8, ep=True),
             RunSpec("reuse-ep-int12", args.iterations, ffn_n=2, target_sparsity=0.8,
                     ep=True, quant=True)]
    for s in specs:
        t0 = time.time()
        r = compare_backends(model, s, n=2)
        print(f"  {s.label()}: ffn masks agree {r['ffn_mask_agreement']:.6f}, eager masks "
              f"agree {r['eager_mask_agreement']:.6f}, max |image diff| "
              f"{r['max_abs_image_diff']:.2e} ({time.time() - t0:.0f} s)")


def cmd_runtime_ref(args):
    from .runtime_ref import REF, record
    from .sample import load_model

    if paths.MODEL != "dit64":
        raise SystemExit("runtime-ref records the dit64 model only")
    model, _ = load_model()
    r = record(model)
    print(f"runtime reference tensors: {REF.relative_to(paths.ROOT)}, {r['bytes']:,} bytes, "
          + ", ".join(f"{m} {n} operations" for m, n in r.items() if m != "bytes"))


def cmd_quality(args):
    from .quality import main_quality

    main_quality(args)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m workload", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", nargs="?", default="all",
                   choices=["all", "train", "sample", "table", "plots", "traces", "check",
                            "quality", "runtime-ref"])
    p.add_argument("--force", action="store_true", help="retrain / re-export")
    p.add_argument("--model", default=None, choices=sorted(paths.MODELS),
                   help="which DiT (default: $WORKLOAD_MODEL, else dit64): dit64 = 64 tokens, "
                        "dit256 = 256 tokens")
    p.add_argument("--steps", type=int, default=None,
                   help="DiT training steps (default: the model's, workload.train.TRAIN_SETTINGS)")
    p.add_argument("--n", type=int, default=100, help="samples per configuration")
    p.add_argument("--quick", action="store_true", help="tiny table (10 iterations)")
    p.add_argument("--only", default="",
                   help="comma-separated configuration names (plus the vanilla runs); the rows "
                        "are merged into an existing build/workload/accuracy.json")
    p.add_argument("--config", default="vanilla-100", help="configuration for 'sample'")
    p.add_argument("--trace-samples", type=int, default=None,
                   help="samples traced (default: the model's, workload.export.TRACE_SETTINGS)")
    p.add_argument("--backend", default=None, choices=["golden", "fast"],
                   help="traces backend (default: the model's: golden for dit64, fast for "
                        "dit256)")
    p.add_argument("--iterations", type=int, default=None,
                   help="iterations for 'check' (default 6) and 'quality' (default 100)")
    p.add_argument("--scales", default="1,2,3",
                   help="guidance scales for 'quality' (comma-separated)")
    p.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (default workload.sample.GUIDANCE = 1)")
    args = p.parse_args(argv)
    if args.model is not None:
        paths.select(args.model)
    _need_torch()
    if args.guidance is not None:
        from . import sample
        sample.GUIDANCE = args.guidance
    t0 = time.time()
    if args.command in ("all", "train"):
        if args.command == "train" or not paths.WEIGHTS.exists() or not paths.CLASSIFIER.exists():
            cmd_train(args)
    if args.command in ("all", "table"):
        cmd_table(args)
    if args.command == "sample":
        cmd_sample(args)
    if args.command == "plots":
        cmd_plots(args)
    if args.command in ("all", "traces"):
        cmd_traces(args)
    if args.command == "check":
        cmd_check(args)
    if args.command == "runtime-ref":
        cmd_runtime_ref(args)
    if args.command == "quality":
        args.iterations = 100 if args.iterations is None else args.iterations
        cmd_quality(args)
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
