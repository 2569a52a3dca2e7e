"""CNN Explorer: learn how convolutional neural networks work by watching them.

``python main.py`` opens the window. The subcommands run without one::

    python main.py train [--data PATH] [--epochs N] [--seed S] [--out model.npz]
    python main.py evaluate --model model.npz --data PATH
    python main.py export --model model.npz --format pytorch --out DIR
    python main.py bench [--json] ...
    python main.py screenshot --out DIR [--lab NAME] [--lang zh_CN|en]
    python main.py animation --lab convolution|pooling|backprop --out FILE.gif [--lang L]
    python main.py --version
    python main.py --lang zh_CN|en [COMMAND ...]   # the window's and the output's language

Imports are lazy: ``--help`` answers at once, and Qt is loaded only for the
window and the screenshots. A bad argument or an unreadable file ends in one
line ``error: ...`` on stderr and exit code 2, never a traceback; Ctrl-C ends in
one line ``interrupted`` and exit code 130, however often it is pressed.
"""

from __future__ import annotations

import signal


class _Interrupts:
    """Ctrl-C on the command line: the work stops, one line ``interrupted``, exit code 130.

    The first SIGINT raises KeyboardInterrupt, but only while the command's work runs
    (``armed``); it also makes every later SIGINT ignored, so no second Ctrl-C can break
    into the cleanup or the one line that reports the first (Ctrl-C pressed every few
    milliseconds used to end in a traceback). A Ctrl-C outside the work (while the
    imports below run, or after the work) is only remembered.
    """

    def __init__(self):
        self.armed = False
        self.seen = False

    def handle(self, signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        self.seen = True
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt


_INTERRUPTS = _Interrupts()
if __name__ == "__main__":  # before any other import: a Ctrl-C from now on is handled
    signal.signal(signal.SIGINT, _INTERRUPTS.handle)

import argparse  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from engine import i18n  # noqa: E402  (stdlib only, and numpy through engine/__init__)
from engine.i18n import tr, tr_n, tr_noop  # noqa: E402

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C


class UsageError(Exception):
    """A bad command line; main() prints it as one ``error:`` line."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument raises instead of printing usage and exiting."""

    def error(self, message):
        raise UsageError(tr("{message} (see: {prog} --help)").format(message=message,
                                                                     prog=self.prog))


#: argparse's own sentences that this command line can print (its help and its errors),
#: translated with the app's catalog: argparse looks its texts up through the module-level
#: ``argparse._`` (gettext), which main() points at ``tr``.
ARGPARSE_TEXTS = (
    tr_noop("usage: "), tr_noop("positional arguments"), tr_noop("options"),
    tr_noop("show this help message and exit"),
    tr_noop("argument %(argument_name)s: %(message)s"),
    tr_noop("unrecognized arguments: %s"),
    tr_noop("the following arguments are required: %s"),
    tr_noop("expected one argument"),
    tr_noop("invalid %(type)s value: %(value)r"),
    tr_noop("invalid choice: %(value)r (choose from %(choices)s)"),
    tr_noop("ambiguous option: %(option)s could match %(matches)s"),
)


def _argparse_text(message: str) -> str:
    return tr(message) if message in ARGPARSE_TEXTS else message


def _language_option(text: str) -> str:
    """``--lang``: ``zh_CN`` or ``en`` (``zh``, ``zh-CN``, ``en_US`` ... are accepted too)."""
    code = text.strip().replace("-", "_").lower()
    if not code.startswith(("zh", "en")):
        raise argparse.ArgumentTypeError(
            tr("unknown language {text!r}; the languages are: {codes}").format(
                text=text, codes=", ".join(i18n.LANGUAGES)))
    return i18n.normalise_language(code)


def _language_in(argv: list[str]) -> str | None:
    """The ``--lang`` value in ``argv`` (before or after the command), read before the
    parser is built so that its help is in that language too; None without one or for a
    value that ``--lang`` refuses (the parser then says why)."""
    for i, word in enumerate(argv):
        if word == "--":
            break
        value = argv[i + 1] if word == "--lang" and i + 1 < len(argv) else (
            word.partition("=")[2] if word.startswith("--lang=") else None)
        if value is not None:
            try:
                return _language_option(value)
            except argparse.ArgumentTypeError:
                return None
    return None


# --------------------------------------------------------------------------- parser

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            tr("expected a whole number, got {text!r}").format(text=text)) from None
    if value < 1:
        raise argparse.ArgumentTypeError(tr("must be at least 1, got {value}").format(
            value=value))
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            tr("expected a whole number, got {text!r}").format(text=text)) from None


def _version() -> str:
    from engine import __version__  # the one place the version is written (pyproject reads it)
    return __version__


def _image_size(text: str) -> int:
    value = _positive_int(text)
    if not 4 <= value <= 256:
        raise argparse.ArgumentTypeError(tr("must be 4 to 256 pixels, got {value}").format(
            value=value))
    return value


def _image_arguments(parser) -> None:
    parser.add_argument("--image-size", type=_image_size, default=32, metavar="N",
                        help=tr("an image folder's pictures are resized to N x N pixels "
                                "(default: 32)"))
    parser.add_argument("--grey", action="store_true",
                        help=tr("an image folder's pictures are made grey (default: RGB "
                                "colour)"))


def build_parser() -> argparse.ArgumentParser:
    # numpy only: no kernels are loaded
    from engine.recipe import CIFAR_TRAINING, DEFAULT_TRAINING

    parser = _Parser(
        prog="main.py",
        description=tr("CNN Explorer: watch a convolutional neural network compute and learn. "
                       "Without a command, opens the window."))
    parser.add_argument("--version", action="version", version=f"CNN Explorer {_version()}",
                        help=tr("print the version and exit"))
    parser.add_argument("--lang", type=_language_option, default=None, metavar="zh_CN|en",
                        help=tr("the language of the window and of this output (default: "
                                "the one chosen last in the window, else the system's)"))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser(
        "train", help=tr("train a network on the embedded MNIST digits or on a data set"),
        description=tr("Train the default network (engine/recipe.py) on the 8,000 training "
                       "digits of the embedded MNIST subset, or with --data on a data set (the "
                       "CIFAR-10 recipe for CIFAR-10), print its accuracy on the validation "
                       "images it never saw, and save it."))
    train.add_argument("--data", default=None, metavar="PATH",
                       help=tr("a CIFAR-10 python folder (cifar-10-batches-py), an MNIST IDX "
                               "folder, an image folder (one subfolder per class) or an .npz "
                               "file"))
    train.add_argument("--epochs", type=_positive_int, default=None,
                       help=tr("passes over the training images (default: {epochs}, "
                               "CIFAR-10: {cifar})").format(epochs=DEFAULT_TRAINING.epochs,
                                                            cifar=CIFAR_TRAINING.epochs))
    train.add_argument("--seed", type=_int, default=0,
                       help=tr("random seed for weights, shuffling and augmentation "
                               "(default: 0)"))
    train.add_argument("--out", default="model.npz",
                       help=tr("where to save the trained network (default: model.npz)"))
    _image_arguments(train)
    # hidden: train and validate on the first N digits only (keeps the CLI test fast)
    train.add_argument("--limit", type=_positive_int, default=None, help=argparse.SUPPRESS)

    evaluate = sub.add_parser(
        "evaluate", help=tr("accuracy of a saved network on a labelled data set"),
        description=tr("Print the accuracy of a saved network on an .npz file holding "
                       "images (N, 28, 28) or (N, C, H, W) uint8 and labels (N,) (every "
                       "image), or on the validation images of a data set folder (CIFAR-10's "
                       "test_batch, MNIST's t10k files, an image folder's fixed fifth)."))
    evaluate.add_argument("--model", required=True, help=tr("a network saved by 'train'"))
    evaluate.add_argument("--data", required=True, metavar="PATH",
                          help=tr("an .npz file with images and labels, or a data set folder"))
    _image_arguments(evaluate)

    export = sub.add_parser(
        "export", help=tr("write a saved network as a PyTorch model"),
        description=tr("Write DIR/model.py (load_model() returns a torch.nn.Module in eval "
                       "mode with the trained weights), the weights (raw float32 + JSON, no "
                       "pickle) and a README. Exporting needs no PyTorch; running the result "
                       "does."))
    export.add_argument("--model", required=True, help=tr("a network saved by 'train'"))
    export.add_argument("--format", required=True, choices=["pytorch"],
                        help=tr("the format to write (pytorch)"))
    export.add_argument("--out", required=True, metavar="DIR",
                        help=tr("the folder to write (created if needed)"))

    # bench takes its own arguments: main() hands everything after "bench" to it unparsed
    sub.add_parser("bench", add_help=False,
                   help=tr("benchmarks of the engine against the textbook loops and PyTorch "
                           "(see: main.py bench --help)"))

    shot = sub.add_parser(
        "screenshot", help=tr("render each lab to a PNG without a screen"),
        description=tr("Render the labs with default content to PNG files."))
    shot.add_argument("--out", required=True,
                      help=tr("folder for the PNG files (created if needed)"))
    shot.add_argument("--lab", default=None,
                      help=tr("only this lab (e.g. convolution, training)"))
    shot.add_argument("--size", default=None, metavar="WxH",
                      help=tr("window size in pixels, e.g. 1280x720 (default 1400x900)"))
    # SUPPRESS: without it the sub-command's default would hide a top-level --lang
    shot.add_argument("--lang", type=_language_option, default=argparse.SUPPRESS,
                      metavar="zh_CN|en", help=tr("the language of the labs (default: the "
                                                  "current one)"))

    anim = sub.add_parser(
        "animation", help=tr("write a lab's animation as a GIF without a screen"),
        description=tr("Render every step of the Convolution, Pooling or Backprop lab with "
                       "its default content and write them as one looping GIF."))
    anim.add_argument("--lab", required=True, choices=["convolution", "pooling", "backprop"],
                      help=tr("the lab to animate"))
    anim.add_argument("--out", required=True, metavar="FILE.gif",
                      help=tr("the GIF to write (its folder must exist)"))
    anim.add_argument("--speed", type=_positive_int, default=None, metavar="N",
                      help=tr("steps per second (default: the lab's)"))
    anim.add_argument("--lang", type=_language_option, default=argparse.SUPPRESS,
                      metavar="zh_CN|en", help=tr("the language of the labs (default: the "
                                                  "current one)"))
    return parser


# --------------------------------------------------------------------------- progress

class ProgressBar:
    """A one-line text progress bar on stderr (redrawn in place on a terminal).

    On a terminal the bar is redrawn in place at most 10 times a second. In a log
    (not a terminal) a line is written when a bar finishes, or every 5 s while a
    slow one (a first-run compilation) is still going, so logs stay short.
    """

    _open_bars: set = set()  # bars with an unfinished line on a terminal

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = 0.0
        self._started: float | None = None  # when the current bar began
        self._open = False

    def update(self, label: str, fraction: float, detail: str = "", final: bool = False):
        now = time.monotonic()
        if self._started is None:  # a new bar
            self._started = now
            if not self.interactive:
                self._last_draw = now  # a log gets its first line after 5 s or at the end
        interval = 0.1 if self.interactive else 5.0
        if not final and now - self._last_draw < interval:
            return
        self._last_draw = now
        fraction = min(max(fraction, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"{label} [{bar}] {fraction * 100:5.1f}%" + (f"  {detail}" if detail else "")
        if self.interactive:
            self.stream.write("\r" + line.ljust(79) + ("\n" if final else ""))
            self._open = not final
            (ProgressBar._open_bars.add if self._open else ProgressBar._open_bars.discard)(self)
        else:
            self.stream.write(line + "\n")
        if final:
            self._started = None
        self.stream.flush()

    def close(self):
        if self._open:
            self._open = False
            ProgressBar._open_bars.discard(self)
            self.stream.write("\n")
            self.stream.flush()

    @classmethod
    def close_all(cls):
        """End every unfinished bar line (before a last message is printed)."""
        for bar in list(cls._open_bars):
            bar.close()


def _warmup(bar: ProgressBar) -> None:
    """Compile (first run, about 30 s) or load (later runs) the kernels, with progress."""
    from engine.warmup import warmup

    label = tr("preparing kernels")

    def progress(done: int, total: int, name: str):
        bar.update(label, done / max(total, 1), name)

    start = time.perf_counter()
    warmup(progress)
    seconds = time.perf_counter() - start
    # loading from Numba's cache takes well under a second; more means a first-run compile
    done = (tr("done in {seconds:.1f} s (compiled once, cached for later runs)") if seconds > 3
            else tr("done in {seconds:.1f} s"))
    bar.update(label, 1.0, done.format(seconds=seconds), final=True)


# --------------------------------------------------------------------------- commands

def _load_data(args, bar: ProgressBar):
    """The data set of ``--data`` (with its progress on the bar)."""
    from engine.datasets import ImageOptions, load_dataset

    options = ImageOptions(size=args.image_size, colour="grey" if args.grey else "rgb")

    def progress(fraction: float, text: str):
        if _INTERRUPTS.seen:
            raise KeyboardInterrupt
        bar.update(tr("reading data"), fraction, text)  # a log gets a line only after 5 s

    try:
        return load_dataset(args.data, options, progress=progress)
    finally:
        bar.close()


def cmd_train(args) -> int:
    from engine import recipe
    from engine.network import check_model_path

    check_model_path(args.out)  # fail now, not after the training: /proc/x.npz, '', a long name
    bar = ProgressBar()
    spec = training = data = None
    if args.data is not None:
        dataset = _load_data(args, bar)
        print(dataset.describe())
        spec, training = recipe.recipe_for(dataset.input_shape, dataset.num_classes)
        data = dataset.split()
    _warmup(bar)

    def progress(epoch: int, epochs: int, epoch_progress: float, loss: float, final: bool):
        if _INTERRUPTS.seen:  # a Ctrl-C whose KeyboardInterrupt something swallowed
            raise KeyboardInterrupt
        bar.update(tr("epoch {epoch:>2}/{epochs}").format(epoch=epoch + 1, epochs=epochs),
                   epoch_progress, tr("loss {loss:.4f}").format(loss=loss), final=final)

    try:
        network, report = recipe.train(epochs=args.epochs, seed=args.seed, progress=progress,
                                       limit=args.limit, spec=spec, training=training,
                                       data=data)
    finally:
        bar.close()
    if report.status == "diverged":
        print(_error_line(tr("training diverged (the loss became infinite or NaN); the last "
                             "good weights are kept")), file=sys.stderr)
    if _INTERRUPTS.seen:  # never save a run that was interrupted
        raise KeyboardInterrupt
    network.save(args.out)
    if args.data is None:
        print(tr("validation accuracy: {accuracy:.2f}% ({correct} of {count} digits never "
                 "used for training)").format(accuracy=report.val_accuracy * 100,
                                              correct=report.val_correct,
                                              count=report.val_count))
    else:
        print(tr("validation accuracy: {accuracy:.2f}% ({correct} of {count} images never "
                 "used for training)").format(accuracy=report.val_accuracy * 100,
                                              correct=report.val_correct,
                                              count=report.val_count))
    epochs = tr_n("{n} epoch", "{n} epochs", report.epochs).format(n=report.epochs)
    steps = tr("training time: {seconds:.1f} s ({epochs}, {steps} steps of {batch} digits)") \
        if args.data is None else \
        tr("training time: {seconds:.1f} s ({epochs}, {steps} steps of {batch} images)")
    print(steps.format(seconds=report.seconds, epochs=epochs, steps=report.iterations,
                       batch=report.batch_size))
    print(tr("saved: {path}").format(path=args.out))
    return EXIT_OK if report.status != "diverged" else EXIT_ERROR


def cmd_evaluate(args) -> int:
    import numpy as np

    from engine.network import Network

    network = Network.load(args.model)
    dataset = _load_data(args, ProgressBar())
    if dataset.kind in ("npz", "embedded"):  # a file of labelled images: all of them
        x = np.concatenate([dataset.train_x, dataset.val_x])
        labels = np.concatenate([dataset.train_y, dataset.val_y])
    else:  # a data set folder: the images it keeps for validation (CIFAR-10's test_batch)
        x, labels = dataset.val_x, dataset.val_y
    expected = tuple(network.input_shape)
    if expected != x.shape[1:]:
        raise UsageError(
            tr("the model expects inputs of shape {expected}, but the data has {shape}")
            .format(expected=expected, shape=x.shape[1:]))
    if network.num_classes < dataset.num_classes and labels.max() >= network.num_classes:
        raise UsageError(tr("the model has {outputs} outputs, but the data has {classes} "
                            "classes").format(outputs=network.num_classes,
                                              classes=dataset.num_classes))
    predictions = network.predict(x)  # batch by batch inside
    correct = int(np.count_nonzero(predictions == labels))
    print(tr("accuracy: {accuracy:.2f}% ({correct} of {count} correct)").format(
        accuracy=correct / len(labels) * 100, correct=correct, count=len(labels)))
    return EXIT_OK


def cmd_export(args) -> int:
    from engine.export import export_pytorch
    from engine.network import Network

    network = Network.load(args.model)
    written = export_pytorch(network, args.out)
    for path in written:
        print(path)
    return EXIT_OK


def cmd_bench(rest: list[str]) -> int:
    try:
        from benchmarks import bench
    except ImportError as err:
        raise UsageError(tr("the benchmarks are not available ({error})").format(
            error=err)) from None
    result = bench.main(rest, parser_class=_Parser)
    return int(result or 0)


def cmd_screenshot(args) -> int:
    app = _import_gui_app()
    size = args.size if args.size is not None else app.DEFAULT_SIZE
    written = app.render_screenshots(args.out, args.lab, size=size,
                                     language=getattr(args, "lang", None))
    for path in written or ():
        print(path)
    return EXIT_OK


def cmd_animation(args) -> int:
    from engine.gif import check_gif_path

    out = check_gif_path(args.out)  # fail now, before Qt starts and the frames are drawn
    _import_gui_app()
    from gui.widgets.gif_export import render_animation

    path, frames = render_animation(args.lab, out, language=getattr(args, "lang", None),
                                    speed=args.speed)
    print(tr("saved: {path} ({frames} frames)").format(path=path, frames=frames))
    return EXIT_OK


def cmd_window(language: str | None = None) -> int:
    from gui.system_check import window_problem  # no Qt: Qt would abort instead of saying why

    problem = window_problem()
    if problem is not None:
        raise UsageError(problem)
    app = _import_gui_app()
    result = app.run_app(language=language)
    return int(result or 0)


def _import_gui_app():
    try:
        from gui import app
    except ImportError as err:
        raise UsageError(tr("the window is not available ({error})").format(
            error=err)) from None
    return app


# --------------------------------------------------------------------------- entry point

def _one_line(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return " ".join(text.split())


def _error_line(message: str) -> str:
    return tr("error: {message}").format(message=message)


def _run(argv: list[str]) -> tuple[int, str | None]:
    """Run one command; returns (exit code, the one line to print on stderr or None)."""
    try:
        rest = argv[2:] if argv[:1] == ["--lang"] else (
            argv[1:] if argv[:1] and argv[0].startswith("--lang=") else argv)
        if rest[:1] == ["bench"]:  # --lang zh_CN bench ...: the language is set already
            return cmd_bench(rest[1:]), None
        args = build_parser().parse_args(argv)
        if args.command is None:
            return cmd_window(args.lang), None
        command = {"train": cmd_train, "evaluate": cmd_evaluate, "export": cmd_export,
                   "screenshot": cmd_screenshot, "animation": cmd_animation}[args.command]
        return command(args), None
    except SystemExit as exit_:  # --help, --version, or a subcommand that exits
        code = exit_.code
        return (code if isinstance(code, int) else (0 if code is None else EXIT_ERROR)), None
    except (UsageError, ValueError, OSError) as err:
        # DataFileError, ModelFileError, NetworkSpecError and GeometryError are ValueErrors
        if isinstance(err, OSError) and err.filename is not None:
            message = f"{err.filename}: {err.strerror or _one_line(err)}"
        else:
            message = _one_line(err)
        return EXIT_ERROR, _error_line(message)
    except (MemoryError, RecursionError, ArithmeticError) as err:
        # a hostile or absurd file can still ask for too much; say so in one line
        what = tr("not enough memory") if isinstance(err, MemoryError) else _one_line(err)
        return EXIT_ERROR, _error_line(tr("the input could not be processed ({what})").format(
            what=what))


def main(argv=None) -> int:
    """Run the command line; returns the exit code (0 ok, 2 bad input, 130 Ctrl-C).

    Errors and a Ctrl-C end in one line on stderr, printed here after the work
    has stopped (see :class:`_Interrupts`). Called without ``argv`` (as the
    program), Ctrl-C stays ignored afterwards, while Python shuts down; called with
    ``argv`` (from Python), the previous SIGINT handler is put back.
    """
    as_program = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    previous_language = i18n.language()
    # the output's language: --lang, else the system locale's (the window chooses its own
    # from --lang, the settings and the system: gui.language.choose_language)
    i18n.set_language(_language_in(argv) or i18n.system_language())
    argparse_text = getattr(argparse, "_", None)
    argparse._ = _argparse_text
    interrupts = _INTERRUPTS
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    if main_thread:
        signal.signal(signal.SIGINT, interrupts.handle)
    try:
        try:
            if interrupts.seen:  # pressed while main.py was still loading
                raise KeyboardInterrupt
            interrupts.armed = main_thread
            code, line = _run(argv)
        finally:
            interrupts.armed = False  # from here on a Ctrl-C is only remembered
    except KeyboardInterrupt:
        code, line = EXIT_INTERRUPTED, tr("interrupted")
    ProgressBar.close_all()  # end a progress line that a Ctrl-C left open
    if line:
        print(line, file=sys.stderr, flush=True)
    if main_thread and not as_program:
        interrupts.seen = False
        if previous is not None:  # None: a handler not installed from Python
            signal.signal(signal.SIGINT, previous)
    if not as_program:  # called from Python: leave the caller's language and argparse as found
        i18n.set_language(previous_language)
        if argparse_text is not None:
            argparse._ = argparse_text
    return code


if __name__ == "__main__":
    sys.exit(main())
