import os
import warnings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
warnings.filterwarnings("ignore", category=DeprecationWarning)

from studio.core.process.isolated import prepare_to_fork  # noqa: E402

prepare_to_fork()  # as the studio does: the windows in the tests fork their jobs
