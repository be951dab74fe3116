"""One module per compression method: pruning, channels, quantization, distillation, fine-tuning."""
