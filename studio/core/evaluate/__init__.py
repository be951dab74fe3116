"""Running a model on data: data sets, runtimes, metrics, sizes."""
