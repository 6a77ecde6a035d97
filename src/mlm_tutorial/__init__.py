"""Helpers shared by the masked language modeling notebook series.

Each module that a notebook uses belongs to the notebook that introduces it:

- ``mlm_tutorial.setup``, ``mlm_tutorial.resources``, ``mlm_tutorial.paths``, ``mlm_tutorial.colab``:
  every notebook's first cells; where the corpus, tokenizers and models come from (notebook 00).
- ``mlm_tutorial.intro``: the diagrams and fill-mask tables of notebook 00.
- ``mlm_tutorial.tokenizing`` and ``mlm_tutorial.chunking``: text to TensorFlow tensors (notebook 01).
- ``mlm_tutorial.inspect``: special tokens and padding made visible (notebook 02).
- ``mlm_tutorial.masking``: BERT's masking rule (notebook 03).
- ``mlm_tutorial.evaluation``: fixed masks and scores (notebook 03; measuring the model in notebook 04).
- ``mlm_tutorial.training``: fine-tuning (notebook 04).
- ``mlm_tutorial.benchmarking``: where the time goes, and the faster path (notebook 05, ``make bench``).
- ``mlm_tutorial.exercises``: the checkers behind each notebook's exercises.
- ``mlm_tutorial.assets``, ``mlm_tutorial.notebook_tools`` and ``mlm_tutorial.preflight``: no notebook uses
  them; they serve ``make assets``, ``make run`` and the checks before the first install.

Importing the package does no work: TensorFlow is imported only by the modules that need it.
"""

__version__ = "0.1.0"
