"""The versions: their tree, the Pareto chart, comparison, export, projects and reports."""
