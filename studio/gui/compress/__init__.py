"""The Compress sheets (prune, quantize, distill), the data and device choice, and the actions that start jobs."""
