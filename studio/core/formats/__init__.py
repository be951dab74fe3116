"""Files to Model values: one loader per model format, the samples, moving models between processes."""

from studio.core.formats import transfer  # noqa: F401  registers how a Model travels from a forked job
