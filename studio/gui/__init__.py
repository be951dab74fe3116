"""The window: Qt only. Widgets show what studio.core computes and compute nothing themselves."""
