"""Looking inside a model: the Model and Layer docks, the graph, the layers table, sparsity charts, heatmaps."""
