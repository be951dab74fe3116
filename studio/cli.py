"""The `studio` command: opens the window, or inspects / runs / profiles headless (README: Command line)."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_BAD_INPUT = 2


EXIT_INTERNAL = 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = {"inspect": _inspect, "run": _run, "profile": _profile}.get(argv[0]) if argv else None
    if command is None:
        return _window(argv)
    try:
        return command(argv[1:])
    except MemoryError:
        from studio.core.errors import OUT_OF_MEMORY

        print(f"studio: {argv[-1]}: {OUT_OF_MEMORY}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:  # a bug, not bad input: still one line; STUDIO_DEBUG=1 shows the traceback
        if os.environ.get("STUDIO_DEBUG"):
            raise
        print(f"studio: unexpected error ({type(e).__name__}: {e}); rerun with STUDIO_DEBUG=1 and report it", file=sys.stderr)
        return EXIT_INTERNAL


def _window(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio", description="Compression Studio: open the window.")
    parser.add_argument("path", nargs="?", help="a model file or sample:NAME to open at start")
    parser.add_argument("--trust", action="store_true", help="allow a pickled model file to run its code")
    args = parser.parse_args(argv)
    from studio.gui.app import run

    return run(args.path, trust=args.trust)


def _inspect(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio inspect", description="Summarise a model file.")
    parser.add_argument("model", help="a model file (ONNX, TorchScript, .pt2, torch.save, safetensors) or sample:NAME")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--input-shape", help="input shape(s) when the file has none, e.g. 1,3,224,224 (';' between inputs)")
    parser.add_argument("--trust", action="store_true", help="allow a pickled model file to run its code on load")
    args = parser.parse_args(argv)

    from studio.core.errors import StudioError
    from studio.core.formats.load import load_model
    from studio.core.inspect.summary import format_text, summarize

    try:
        summary = summarize(load_model(args.model, trust=args.trust, input_shape=args.input_shape))
    except StudioError as e:
        return _fail(e if e.source else StudioError(e.problem, args.model))
    print(json.dumps(summary, indent=2) if args.json else format_text(summary))
    return 0


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio run", description="Replay a recipe headless.")
    parser.add_argument("recipe", help="a recipe YAML file")
    parser.add_argument("--json", action="store_true", help="print one JSON object with every step's metrics")
    parser.add_argument("--device", choices=["cpu", "cuda"], help="override the recipe's device")
    parser.add_argument("--trust", action="store_true", help="allow a pickled model file to run its code on load")
    args = parser.parse_args(argv)

    from studio.cli_progress import ProgressBar
    from studio.core.errors import StudioError
    from studio.core.process.jobs import run_to_end
    from studio.core.project.recipe import load_recipe, run_recipe

    try:
        recipe = load_recipe(args.recipe)
        with ProgressBar(sys.stderr) as bar:
            result = run_to_end(run_recipe(recipe, trust=args.trust, device=args.device), bar.update)
    except StudioError as e:
        return _fail(e if e.source else StudioError(e.problem, args.recipe))
    except KeyboardInterrupt:
        print("studio: cancelled", file=sys.stderr)
        return 130
    from studio.core.process.distributed import is_main_process

    if not is_main_process():
        return 0
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        from studio.cli_progress import format_result

        print(format_result(result))
    return 0


def _profile(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="studio profile", description="Where the time goes: ONNX Runtime's profiler, node by node.")
    parser.add_argument("model", help="a model file (ONNX, TorchScript, .pt2, torch.save) or sample:NAME")
    parser.add_argument("--data", help="examples to run it on (sample:NAME, an image folder, .npz, .csv); without it, random "
                                       "values of the shapes the file declares")
    parser.add_argument("--batch", default="1", help="examples per run (default 1)")
    parser.add_argument("--threads", help="ONNX Runtime's intra-op threads (default: its own choice)")
    parser.add_argument("--runs", default="20", help="timed runs, with and without the profiler (default 20, at most 3 s each)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="the execution provider to ask for")
    parser.add_argument("--input-shape", help="input shape(s) when the file has none, e.g. 1,3,224,224 (';' between inputs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--trust", action="store_true", help="allow a pickled model file to run its code on load")
    args = parser.parse_args(argv)

    from studio.core.errors import StudioError
    from studio.core.evaluate.data import load_data
    from studio.core.evaluate.profile import explain, profile
    from studio.core.evaluate.profile_text import format_text
    from studio.core.formats.load import load_model

    try:
        batch, threads, runs = _count("--batch", args.batch), _count("--threads", args.threads), _count("--runs", args.runs)
        model = load_model(args.model, trust=args.trust, input_shape=args.input_shape)
        data = load_data({"path": args.data, "labels": "none"}) if args.data else None
        result = profile(model, data, batch=batch, threads=threads, runs=runs, device=args.device)
        why = explain(result, model)
    except StudioError as e:
        return _fail(e if e.source else StudioError(e.problem, args.model))
    print(json.dumps({**result.to_json(), "explanations": why}, indent=2) if args.json else format_text(result, why))
    return 0


def _count(option: str, text: str | None) -> int | None:
    """A whole number of at least 1 from the command line (None when not given)."""
    from studio.core.errors import StudioError

    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise StudioError(f"{option}: expected a whole number of at least 1, got {text!r}")
    return int(text)


def _fail(error: Exception) -> int:
    print(f"studio: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT
