"""The `studio` command: opens the window, or inspects / runs / profiles / searches headless (README: Command line)."""

from __future__ import annotations

import argparse
import json
import os
import sys

EXIT_BAD_INPUT = 2


EXIT_INTERNAL = 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = {"inspect": _inspect, "run": _run, "profile": _profile, "auto": _auto}.get(argv[0]) if argv else None
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
    missing = _no_screen(os.environ, sys.platform)
    if missing:  # Qt would abort with a page of plugin messages
        print(f"studio: cannot open the window: {missing}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from studio.gui.app import run

    return run(args.path, trust=args.trust)


def _no_screen(env, platform: str) -> str | None:
    """Why Qt could not show a window on Linux, when that can be told before it tries: no display at all,
    or an X display without libxcb-cursor, which Qt 6.5+ needs and minimal systems lack."""
    if not platform.startswith("linux") or env.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("no display (DISPLAY and WAYLAND_DISPLAY are unset); the commands `studio inspect`, `run`, `profile` "
                "and `auto` work without one")
    if env.get("WAYLAND_DISPLAY") and "QT_QPA_PLATFORM" not in env:
        return None  # Qt picks Wayland first there
    if not _loadable("libxcb-cursor.so.0", "xcb-cursor"):
        return "Qt needs the system library libxcb-cursor (Debian/Ubuntu: apt install libxcb-cursor0; Fedora: dnf install xcb-util-cursor)"
    return None


def _loadable(soname: str, name: str) -> bool:
    """Whether the dynamic loader finds a library: loaded by its soname (as Qt's plugin loads it, from paths
    ldconfig may not list: a conda environment's), or known to ldconfig."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(soname)
        return True
    except OSError:
        return ctypes.util.find_library(name) is not None


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
    parser.add_argument("--runs", default="100", help="timed runs, with and without the profiler (default 100, in 5 turns of at most 0.3 s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="the execution provider to ask for")
    parser.add_argument("--input-shape", help="input shape(s) when the file has none, e.g. 1,3,224,224 (';' between inputs)")
    parser.add_argument("--compare", metavar="OTHER", help="also profile OTHER (another version of the model) the same way and "
                                                           "compare them layer by layer: which got faster or slower, by how much")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--trust", action="store_true", help="allow a pickled model file to run its code on load")
    args = parser.parse_args(argv)

    from studio.core.errors import StudioError
    from studio.core.evaluate.data import load_data
    from studio.core.evaluate.profile import explain, profile
    from studio.core.evaluate.profile_compare import compare
    from studio.core.evaluate.profile_compare_text import format_compare
    from studio.core.evaluate.profile_text import format_text
    from studio.core.formats.load import load_model

    source = args.model
    try:
        batch, threads, runs = _count("--batch", args.batch), _count("--threads", args.threads), _count("--runs", args.runs)
        model = load_model(args.model, trust=args.trust, input_shape=args.input_shape)
        data = load_data({"path": args.data, "labels": "none"}, tokenizer=model.tokenizer) if args.data else None
        result = profile(model, data, batch=batch, threads=threads, runs=runs, device=args.device)
        why = explain(result, model)
        other = None
        if args.compare:  # timed the same way, on the same examples
            source = args.compare
            other = profile(load_model(args.compare, trust=args.trust, input_shape=args.input_shape), data, batch=batch,
                            threads=threads, runs=runs, device=args.device)
    except StudioError as e:
        return _fail(e if e.source else StudioError(e.problem, source))
    compared = None if other is None else compare(other, result, args.compare, args.model)
    if args.json:
        extra = {} if compared is None else {"compare": compared.to_json()}
        print(json.dumps({**result.to_json(), "explanations": why, **extra}, indent=2))
    else:
        print(format_text(result, why) + ("" if compared is None else f"\n\ncompared with {args.compare}\n{format_compare(compared)}"))
    return 0


class _BadArguments(Exception):
    """argparse's complaint, to be told in one line (its own is a usage block and a line)."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _BadArguments(f"{self.prog}: {message}")


def _auto(argv: list[str]) -> int:
    parser = _OneLineParser(prog="studio auto", description="Tell it the goal, get the model: search for the recipe that makes "
                            "MODEL as much smaller and/or faster as asked, losing at most --max-drop points, within --budget seconds.")
    parser.add_argument("model", help="a model file (ONNX, TorchScript, .pt2, torch.save) or sample:NAME")
    parser.add_argument("--data", required=True, help="the data it is measured and trained on (sample:NAME, an image folder, "
                                                       ".npz, .csv); without labels, accuracy is agreement with the original")
    parser.add_argument("--smaller", help="how many times smaller than its fp32 ONNX export (see --size)")
    parser.add_argument("--faster", help="how many times faster than its fp32 ONNX export, in ONNX Runtime on this machine (see --batch)")
    parser.add_argument("--max-drop", default="1", help="the most accuracy it may lose, in points (default 1)")
    parser.add_argument("--budget", default="300", help="seconds the search may take (default 300); writing the best takes a few more")
    parser.add_argument("--out", required=True, help="the folder for best.onnx, its card, best.yaml and auto.json")
    parser.add_argument("--size", choices=["zip", "file"], default="zip",
                        help="what 'smaller' counts: the zipped file (default; zeroed weights count) or the file itself")
    parser.add_argument("--batch", default="1", help="examples per call when timing speed (default 1)")
    parser.add_argument("--workers", default="1", help="candidates evaluated at once, each in a forked process (default 1: one "
                                                       "after the other here)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where training runs")
    parser.add_argument("--no-labels", action="store_true", help="measure agreement with the original even where the data has labels")
    parser.add_argument("--output", help="the model output that holds the classes, when several could")
    parser.add_argument("--input-shape", help="input shape(s) when the file has none, e.g. 1,3,224,224 (';' between inputs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: goal, met, best, candidates")
    parser.add_argument("--trust", action="store_true", help="allow a pickled model file to run its code on load")
    try:
        args = parser.parse_args(argv)
    except _BadArguments as e:
        print(str(e), file=sys.stderr)
        return EXIT_BAD_INPUT

    from pathlib import Path

    from studio.core.errors import StudioError

    try:
        workers = _count("--workers", args.workers)
        if workers > 1:
            from studio.core.process.isolated import prepare_to_fork

            prepare_to_fork()  # before PyTorch loads: forked children start their own threads
        from studio.core.project.auto_goal import Goal

        goal = Goal(smaller=_number("--smaller", args.smaller), faster=_number("--faster", args.faster),
                    max_drop=_number("--max-drop", args.max_drop), budget_s=_number("--budget", args.budget), size=args.size,
                    batch=_count("--batch", args.batch))
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise StudioError("--out: is a file; give a folder for best.onnx, best.yaml and the card", args.out)
    except StudioError as e:
        return _fail(e)
    from studio.cli_progress import ProgressBar
    from studio.core.process.jobs import CancelToken, run_to_end
    from studio.core.project.auto import search
    from studio.core.project.auto_result import write_best
    from studio.core.project.auto_runner import ForkPool

    cancel = CancelToken()
    try:
        with ProgressBar(sys.stderr) as bar, _interrupt_cancels(cancel, bar):
            data = {"path": args.data, **({"labels": "none"} if args.no_labels else {}), **({"output": args.output} if args.output else {})}
            job = search(args.model, data if len(data) > 1 else args.data, goal, trust=args.trust, device=args.device,
                         input_shape=args.input_shape, cancel=cancel,
                         runner=ForkPool(workers) if workers > 1 else None, on_candidate=lambda c: _above_bar(bar, c.line()))
            result = run_to_end(job, bar.update)
        with ProgressBar(sys.stderr) as bar:
            written = run_to_end(write_best(result, out), bar.update)
    except StudioError as e:
        return _fail(e if e.source else StudioError(e.problem, args.model))
    except KeyboardInterrupt:
        print("studio: cancelled", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result.to_json(), indent=2, default=str))
    else:
        print(result.summary())
        if result.best.reason and not result.met:
            print(f"  held back by: {result.best.reason}")
        for note in result.notes:
            print(f"  note: {note}")
        print(f"wrote {written['path']} (card {written['card']}) and {written['yaml']}: `studio run {written['yaml']}"
              + (" --trust" if args.trust else "") + "` makes it again")
    return 0


def _number(option: str, text: str | None) -> float | None:
    """A number from the command line (None when not given); its range is the Goal's to check."""
    from studio.core.errors import StudioError

    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        raise StudioError(f"{option}: expected a number, got {text!r}") from None


def _above_bar(bar, line: str) -> None:
    """A line printed above the progress bar (which redraws itself after it)."""
    bar.stream.write(("\r" + " " * 150 + "\r" if bar.tty else "") + line + "\n")
    bar.stream.flush()


class _interrupt_cancels:
    """Within it, the first Ctrl-C stops the search with the best so far; the second stops everything."""

    def __init__(self, cancel, bar):
        self.cancel, self.bar, self.previous = cancel, bar, None

    def __enter__(self):
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._interrupted)
        return self

    def _interrupted(self, *_):
        if self.cancel.cancelled:
            raise KeyboardInterrupt
        self.cancel.cancel()
        _above_bar(self.bar, "stopping: the best so far is kept and written (Ctrl-C again to stop at once)")

    def __exit__(self, *exc):
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


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
