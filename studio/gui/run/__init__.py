"""Running jobs: the session that holds the versions, the worker, the Run dock, live charts, the status bar."""
