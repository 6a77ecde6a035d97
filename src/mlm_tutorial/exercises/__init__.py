"""Checkers for the exercises at the end of each notebook.

One module per notebook (``nb00``, ``nb01``, ...). Each ``check_*`` function takes the learner's
answer and returns a :class:`~mlm_tutorial.exercises.feedback.Feedback` that says what is right
and what is wrong, not just True or False.
"""
