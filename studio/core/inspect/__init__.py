"""What a model holds: layers, weight statistics, the layer graph and its layout."""
