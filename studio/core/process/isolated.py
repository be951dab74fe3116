"""Run a job in a child process of its own, forked from this one, and relay what it does.

A window runs its compression jobs this way. On a thread of the window's process, a job that runs
Python code (an export, ONNX Runtime's quantizer, a training loop) takes Python's lock from the
window for every call the window makes: painting a chart slowed several times over, and the window
froze again and again. A forked child starts with everything already imported and loaded
(the model, the data) and shares nothing the window needs: the window keeps its lock and its core.
The fork itself holds the lock briefly, the longer the larger the window's process. Cancelling stops the
child at once: it gets SIGTERM, which raises Cancelled in it so that its cleanup runs (an export
removes its half-written temporary file), and SIGKILL if it is still there GRACE_S later (stuck in
native code). A child the system kills (out of memory) leaves the window standing.

The child sends back each Progress, then the result or the exception, pickled. Tensors travel as
their raw bytes after the pickle and are read straight into fresh memory, with reads that let go of
Python's lock; PyTorch's own pickling (torch.load) holds it for each tensor's whole read. TorchScript modules and torch.export programs do not pickle:
they travel as their saved archives, and the module of a torch.export program as its weights.

Forking needs care with two libraries:
- OpenMP (PyTorch's CPU threads): a child hangs in its first parallel region when the parent has
  ever run one on several threads. A process that forks jobs keeps PyTorch on one thread itself
  (prepare_to_fork, threads.leave_a_core); the child takes its threads when it starts.
- CUDA cannot be initialised again in a child once the parent has: a process that forks jobs asks
  whether there is a GPU through NVML, which initialises nothing.
Elsewhere than Linux (no fork, or fork unsafe with the system's GUI libraries) the job runs here.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable

from studio.core.errors import OUT_OF_MEMORY, StudioError, first_line
from studio.core.process.jobs import NO_CANCEL, Cancelled, run_to_end
from studio.core.process.locks import FORK_LOCKS
from studio.core.process.threads import take_job_threads

FORKS = sys.platform == "linux"
POLL_S = 0.05  # how often the parent looks at its cancel token while the child works
GRACE_S = 1.0  # how long a stopped child may take to clean up before it is killed


def prepare_to_fork() -> None:
    """In a process that will fork jobs, before it imports PyTorch: PyTorch starts on one thread, and
    torch.cuda.is_available() asks NVML (see above)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = "1"


def isolated(job: Callable) -> Callable:
    """The job, run in a forked child: same arguments (cancel included), same events and result."""

    def run(*args, cancel, **kwargs):
        if not FORKS:
            return (yield from job(*args, cancel=cancel, **kwargs))
        reader, writer = os.pipe()
        with contextlib.ExitStack() as held:  # the child gets no lock that a thread of ours holds
            for lock in FORK_LOCKS:
                held.enter_context(lock)
            pid = os.fork()
        if pid == 0:
            os.close(reader)
            _child(job, args, kwargs, writer)  # never returns
        os.close(writer)
        try:
            while True:
                while not select.select([reader], [], [], POLL_S)[0]:
                    cancel.check()
                try:
                    kind, value = _receive(reader)
                except EOFError:
                    raise _died(_reap(pid)) from None
                if kind == "progress":
                    yield value
                    cancel.check()
                elif kind == "return":
                    return value
                else:
                    raise value
        finally:
            os.close(reader)
            _stop(pid)

    run.__name__ = run.__qualname__ = getattr(job, "__name__", "job")
    return run


def _child(job: Callable, args: tuple, kwargs: dict, writer: int) -> None:
    generator = None
    try:
        signal.signal(signal.SIGTERM, _cancelled)  # how the parent cancels (_stop)
        take_job_threads()
        generator = job(*args, cancel=NO_CANCEL, **kwargs)
        result = run_to_end(generator, lambda event: _send(writer, ("progress", event)))
        _send(writer, ("return", result))
    except BaseException as e:  # every failure goes to the parent, which tells the user
        with contextlib.suppress(BaseException):
            if generator is not None:
                generator.close()  # stopped while sending: the job's cleanup runs all the same
            _send(writer, ("raise", _portable(e)))
    finally:
        os._exit(0)  # no atexit handlers, no flushing of buffers copied from the parent


def _cancelled(*_) -> None:
    raise Cancelled()


def _portable(e: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else one that tells the same in one line."""
    try:
        if isinstance(loads(dumps(e)), type(e)):
            return e
    except Exception:
        pass
    return RuntimeError(f"{type(e).__name__}: {first_line(e)}")


def _stop(pid: int) -> None:
    """End the child, whatever it is doing: SIGTERM (it cleans up and exits), then SIGKILL after GRACE_S."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            time.sleep(0.005)


def _reap(pid: int) -> int | None:
    """Wait for the child to end; its wait status, or None if already reaped."""
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:
        return None


def _died(status: int | None) -> BaseException:
    if status is not None and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return MemoryError(f"the job's process was killed, most likely by the system because it {OUT_OF_MEMORY}")
    how = f"signal {os.WTERMSIG(status)}" if status is not None and os.WIFSIGNALED(status) else "no answer"
    return StudioError(f"the job's process ended unexpectedly ({how}); nothing was changed")


# ---- messages: a pickle whose tensors' bytes follow it out of band -------------------------------


def _send(fd: int, message) -> None:
    buffers = []
    head = dumps(message, buffers.append)
    raws = [b.raw() for b in buffers]
    sizes = pickle.dumps((len(head), [r.nbytes for r in raws]))
    for part in (len(sizes).to_bytes(8, "little"), sizes, head, *raws):
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]


def _receive(fd: int):
    """The next message. Large tensors' bytes are read straight into fresh anonymous memory, so that the
    page faults of filling hundreds of MB happen in read(), which lets go of Python's lock."""
    head_size, sizes = pickle.loads(_read(fd, int.from_bytes(_read(fd, 8), "little")))
    head = _read(fd, head_size)
    return loads(head, [_read(fd, size) for size in sizes])


def _read(fd: int, size: int):
    buffer = mmap.mmap(-1, size) if size >= 1 << 20 else bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        count = os.readv(fd, [view[done:]])
        if not count:
            raise EOFError
        done += count
    view.release()
    return buffer


# ---- pickling with TorchScript modules and torch.export programs ----------------------------------

REDUCERS: list[Callable] = []  # obj → (function, args) or None: how the stages above send their own values


def register_reducer(reducer: Callable) -> Callable:
    REDUCERS.append(reducer)
    return reducer



def dumps(value, buffer_callback=None) -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=5, buffer_callback=buffer_callback).dump(value)
    return buffer.getvalue()


def loads(data: bytes, buffers=()):
    """Only for what this process's own child sent."""
    return pickle.loads(data, buffers=buffers)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        torch = sys.modules.get("torch")
        if torch is None:
            return NotImplemented
        for reducer in REDUCERS:
            reduced = reducer(obj)
            if reduced is not None:
                return reduced
        if type(obj) in (torch.Tensor, torch.nn.Parameter) and _plain(obj):
            array = obj.detach().contiguous().numpy()  # writable: pickled as a bytearray, loaded without a copy
            return _tensor, (pickle.PickleBuffer(array), array.dtype.str, array.shape, obj.requires_grad, type(obj) is torch.nn.Parameter)
        if isinstance(obj, torch.jit.ScriptModule):
            buffer = io.BytesIO()
            torch.jit.save(obj, buffer)
            return _load_script, (buffer.getvalue(),)
        if isinstance(obj, torch.export.ExportedProgram):
            buffer = io.BytesIO()
            torch.export.save(obj, buffer)
            return _load_program, (buffer.getvalue(),)
        return NotImplemented


def _plain(tensor) -> bool:
    """A dense CPU tensor of a type numpy holds, without autograd history: it travels as its bytes (the
    rest through PyTorch's own pickling)."""
    import torch

    return (tensor.device.type == "cpu" and tensor.layout is torch.strided and not tensor.is_quantized and tensor.grad_fn is None
            and tensor.dtype not in (torch.bfloat16,) and not tensor.dtype.is_complex)


def _tensor(data, dtype: str, shape: tuple, requires_grad: bool, parameter: bool):
    import numpy as np
    import torch

    tensor = torch.from_numpy(np.frombuffer(data, dtype=dtype).reshape(shape))
    return torch.nn.Parameter(tensor, requires_grad) if parameter else tensor.requires_grad_(requires_grad)


def _load_script(data: bytes):
    import torch

    return torch.jit.load(io.BytesIO(data))


def _load_program(data: bytes):
    import torch

    return torch.export.load(io.BytesIO(data))
