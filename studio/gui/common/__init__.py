"""Pieces every panel uses: dialogs, forms, plots, metric wording, the responsiveness probe."""
