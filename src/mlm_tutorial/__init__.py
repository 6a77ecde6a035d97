"""Helpers shared by the masked language modeling notebook series.

Each module belongs to the notebook that introduces it:

- ``mlm_tutorial.setup``: every notebook's first cell (notebook 00).
- ``mlm_tutorial.resources``: where the corpus, tokenizers and models come from (notebook 00).
- ``mlm_tutorial.tokenizing``: text to TensorFlow tensors (notebook 01).
- ``mlm_tutorial.inspect``: special tokens and padding made visible (notebook 02).
- ``mlm_tutorial.masking``: BERT's masking rule (notebook 03).
- ``mlm_tutorial.training`` and ``mlm_tutorial.evaluation``: fine-tuning and measuring (notebook 04).

Importing the package does no work: TensorFlow is imported only by the modules that need it.
"""

__version__ = "0.1.0"
