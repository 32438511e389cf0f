"""The text of an exercise file: a header saying how to check it, then the learner's
function (its docstring: shapes, the equation, the paper; its body: NotImplementedError)."""

HEADER = '''"""Exercise {name} (scratchcnn): {title}.

Write the body of {name} below, then grade it
(add --dir DIR if this file is not in my_exercises/):
    python -m scratchcnn.exercises check {name}
Stuck? One hint at a time:
    python -m scratchcnn.exercises hint {name}
"""
'''


def stub(name, title, body):
    """The whole file: the header, then ``body`` (imports and the function, dedented)."""
    return HEADER.format(name=name, title=title) + body.lstrip("\n")
