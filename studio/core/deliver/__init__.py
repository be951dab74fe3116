"""What leaves the studio: the ONNX export, its measurements and model card."""
