"""Where the time goes, in the window: the Profile job, the Time tab, and its wiring to the other views."""
