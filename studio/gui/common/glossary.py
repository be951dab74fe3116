"""The words the window uses, in plain language (Help → Glossary and the sheets' "?" buttons), and what
each setting of the Compress sheets does with a good value to start from (their tooltips). Text only:
no Qt, so that it reads as one document and can be checked by itself."""

from __future__ import annotations

# term → what it means. The term is written as the window writes it; each definition says what the
# thing is, then what it means for the user's model.
GLOSSARY: dict[str, str] = {
    "version": "Each run (prune, quantize, distill) makes a new copy of the model, a version, from the one shown, and "
               "keeps the old one unchanged. v0 is the model you opened. The Versions panel lists them as a tree: each "
               "version sits under the one it was made from.",
    "parameters": "The numbers a network learned in training, also called weights. Their count and how many bits each "
                  "takes decide the model's size.",
    "pruning": "Setting some of the model's weights to exactly zero, so that they can be stored (and sometimes computed) "
               "for free. Done well, the model answers almost as before.",
    "sparsity": "The share of a model's or a layer's weights that are exactly zero. 80 % sparsity: 8 of every 10 weights "
                "are zero. Zeros compress very well, so a sparse model zips much smaller.",
    "magnitude pruning": "Pruning single weights, the smallest first (those closest to zero matter least). Also called "
                         "unstructured pruning. The file zips smaller, but the model is not faster: ONNX Runtime still "
                         "computes with every weight, zeros included.",
    "channel pruning": "Removing whole channels (filters, neurons) of a layer, with everything that depends on them. Also "
                       "called structured pruning. The layers really get smaller, so the model is smaller and faster even "
                       "without zipping; it usually costs more accuracy than magnitude pruning at the same share.",
    "sensitivity": "How much a layer's pruning hurts accuracy. Analyse sensitivity prunes each layer alone, measures the "
                   "accuracy, and then suggests pruning the layers that hurt least the most.",
    "fine-tuning": "Training the compressed model a little more on your data, so that it makes up for what compression "
                   "took away. Pruned weights stay zero while it trains. One to three epochs usually win back most of the "
                   "accuracy lost.",
    "epoch": "One pass of training over every training example of the data. More epochs: usually better, and as many "
             "times longer.",
    "learning rate": "How big a step each training update takes. Too large and the model forgets what it knew; too small "
                     "and nothing changes. The value filled in suits most models; lower it ten times if accuracy falls "
                     "while training.",
    "batch size": "How many examples training looks at before each update. Larger batches train faster per epoch and use "
                  "more memory; 32 to 128 suits most models.",
    "quantization": "Storing the model's numbers in fewer bits than the usual 32: 8-bit integers (int8) or 16-bit floats "
                    "(fp16). The model gets 2 to 4 times smaller, and on hardware with fast integer maths also faster.",
    "int8": "8-bit integers: whole numbers from -128 to 127. Each layer's weights are mapped onto them with a scale; "
            "a weight takes one byte instead of four, so int8 models are about 4 times smaller.",
    "static vs dynamic quantization": "Dynamic: only the weights are stored in int8; the values flowing between layers "
                                      "(activations) stay float and are converted while the model runs. Needs no data. "
                                      "Static: the activations are int8 too, with ranges measured beforehand on examples "
                                      "(calibration). Needs data; usually faster where the hardware has int8 kernels.",
    "calibration": "Running a few hundred examples through the model to measure the range of the values between its "
                   "layers, so that static int8 quantization can map them onto 256 steps. Min–max keeps the whole "
                   "range; entropy and percentile cut rare extremes to keep the common values finer.",
    "per-channel scales": "One int8 scale for each output channel of a layer instead of one for the whole layer. "
                          "Closer to the float model, a very little larger. Leave it on unless a runtime refuses it.",
    "QAT": "Quantization-aware training: the model trains a few epochs while its weights and activations are rounded the "
           "way int8 (or 4-bit weights) will round them, so it learns to live with the rounding. Then it is quantized "
           "static. Often closer to the float model than static alone; as slow as fine-tuning. 4-bit weights make "
           "the file smaller, not faster.",
    "fp16": "Half-precision floats: 16 bits per number instead of 32. Halves the size with hardly any change in the "
            "answers. Fast on GPUs; on most CPUs it runs slower than float.",
    "4-bit weights": "Weights-only quantization: the weights of matrix products (fully connected layers) stored in 4 or "
                     "8 bits, everything else float. Shrinks large language-style models most; runs only in ONNX Runtime.",
    "keep float": "Layers left unquantized because quantizing them hurts accuracy most (they are ranked on your data). "
                  "Each layer kept float makes the model a little larger and more accurate.",
    "distillation": "Training a small model (the student) to give the answers a larger one (the teacher) gives. The "
                    "student ends up smaller and faster by as much as it is smaller, and usually more accurate than if "
                    "it had learned from the labels alone.",
    "teacher and student": "In distillation the teacher is the model you have (the version shown); the student is the "
                           "smaller model that learns from it. Weight of the teacher: how much the student follows the "
                           "teacher's answers rather than the data's labels (70 % is a good start).",
    "temperature": "How much the teacher's answers are softened before the student learns from them. Above 1, the "
                   "student also sees which wrong answers the teacher found nearly right, which helps it learn. "
                   "2 to 5 suits most models.",
    "accuracy": "The share of the test examples a version answers correctly (its top class is the label). Measured on "
                "the test split of the data chosen in the toolbar.",
    "accuracy drop": "How much accuracy a version lost compared with the one it was made from, in points of "
                     "percentage: from 99.0 % to 98.5 % is a drop of 0.5 points.",
    "test split": "The examples kept aside for measuring: every 5th example of the data. Training never sees them, so "
                  "the accuracy measured on them is honest.",
    "labels": "The right answers that come with the data (the class of each example). Without labels a version cannot "
              "be scored for accuracy; it is measured by how often it agrees with the version it came from.",
    "agreement": "The share of test examples on which a version gives the same answer (the same top class) as another "
                 "one: its parent, or the original. 100 %: it answers exactly as that version does.",
    "fidelity": "How closely a version follows the original's outputs, whatever the labels say: agreement, cosine and "
                "SQNR measure it.",
    "cosine": "How alike two versions' raw output scores are, from -1 to 1; 1 means the same direction. Above 0.99 the "
              "outputs are nearly identical.",
    "SQNR": "Signal-to-quantization-noise ratio, in decibels: how large the outputs are compared with the error "
            "compression added to them. Higher is better; above 20 dB the answers rarely change.",
    "latency": "How long the model takes to answer, in milliseconds per example (the median of many runs, one "
               "example at a time unless a batch is named), measured in ONNX Runtime on this computer. Lower is faster.",
    "zipped size": "The size of the weights once compressed like a ZIP file. Zeros and repeated values shrink a lot, "
                   "so zipped size shows what pruning saves for download or storage.",
    "ONNX": "Open Neural Network Exchange: a standard file format (.onnx) for trained models that many programs and "
            "devices can run. The studio exports to it.",
    "ONNX Runtime": "Microsoft's engine that runs ONNX files, on servers, desktops, phones and in browsers. The studio "
                    "measures exported files in it, so the numbers are those your deployment will see.",
    "opset": "The version of the ONNX operator set a file uses. Newer opsets know more operations; older runtimes may "
             "only read older opsets. The default suits current ONNX Runtime.",
    "dense kernels": "Routines that compute with every weight of a layer, zeros included. ONNX Runtime uses them for "
                     "most layers, which is why magnitude pruning makes files smaller but not faster.",
    "Pareto chart": "A chart of every version's size (or latency, across, on a log scale) against its accuracy (up). "
                    "The best versions are up and to the left: no other version is both smaller and more accurate. "
                    "They are drawn green and joined by a line, the frontier; the grey ones are beaten.",
    "model card": "A short document written with each export: where the model came from, what was done to it, and "
                  "its measured size, accuracy and speed.",
}

# op → the key of a setting (as in studio/core/project/steps.py OPS) → what it does and a good value.
# The Compress sheets' forms show it as the setting's tooltip, with its range.
FIELD_TIPS: dict[str, dict[str, str]] = {
    "prune": {
        "method": "Single weights: the smallest weights anywhere become zero; the file zips smaller, the model is not "
                  "faster. Whole channels: entire channels are removed; smaller and faster, a little less accurate. "
                  "Start with single weights.",
        "sparsity": "The share of weights set to zero. 50–80 % usually costs little accuracy, above 90 % needs "
                    "fine-tuning. Start at 80 %.",
        "scope": "One for all layers: the smallest weights of the whole model go first, so large layers lose more. "
                 "Same share per layer: every layer loses the same share. One for all layers is usually more accurate.",
        "ratio": "The share of each layer's channels removed. 25–50 % is a good start; the model gets smaller and "
                 "faster about in proportion.",
        "round_to": "Channel counts are kept a multiple of this, which hardware computes fastest. 8 suits CPUs and "
                    "GPUs; 1 removes exactly the share asked.",
    },
    "finetune": {
        "epochs": "How many times training goes over the data after pruning, to win back accuracy. 1–3 is usually "
                  "enough; 0 skips it.",
        "lr": "How big each training step is. The value filled in suits most models; lower it if accuracy falls.",
    },
    "quantize": {
        "mode": "How the numbers are stored. int8 (dynamic): no data needed, weights 4× smaller. int8 (static): "
                "weights and activations in int8, calibrated on data, often faster. fp16: 2× smaller, for GPUs. "
                "4/8-bit weights: matrix weights only. QAT: trains for int8 (or 4-bit weights) first. The suggested mode is chosen for you.",
        "calibration": "How the range of the values between layers is measured. Min–max: the whole range, safe. "
                       "Entropy or percentile: cut rare extremes, often more accurate, several times slower. Start with min–max.",
        "samples": "How many training examples calibration runs. 100–500 is plenty; more only takes longer.",
        "per_channel": "One scale per output channel: closer to the float model, barely larger. Leave it on.",
        "bits": "Bits per stored weight: 4 bits are 8× smaller than float, 8 bits 4× and more accurate.",
        "keep_float": "How many of the layers that quantize worst stay in float, ranked on your data. 0 quantizes "
                      "everything; 1–3 often wins back most of the accuracy lost. A layer between quantized ones keeps only its "
                      "weights float: its input stays rounded (the notes say which).",
        "max_drop": "Keep fewer layers float if the accuracy drop stays within this (1 point is a good value), so the "
                    "model stays as small as it can.",
        "epochs": "How many epochs quantization-aware training runs before quantizing. 1–3 is usually enough.",
        "lr": "How big each training step is. QAT starts from a trained model: keep it small (1e-4).",
    },
    "distill": {
        "temperature": "How much the teacher's answers are softened for the student. 2–5 suits most models; 1 is "
                       "no softening.",
        "alpha": "How much the student follows the teacher rather than the labels. 70 % is a good start; 100 % "
                 "learns from the teacher alone (for data without labels).",
        "epochs": "How many times the student goes over the data. 3 is a quick start for a slimmer copy, which "
                  "keeps the teacher's weights; an untrained sample architecture needs 10 or more.",
        "lr": "How big each training step is. The value filled in (3e-3) suits small students; lower it if the "
              "student's accuracy jumps about.",
        "batch_size": "How many examples the student sees per step. 32–128 suits most models; smaller if memory runs out.",
    },
}


def entry(term: str) -> str:
    """The definition of `term`; KeyError for a term the glossary lacks (a "?" without an answer)."""
    return GLOSSARY[term]
