"""``loadtui capacity``: the highest open-loop rate a route holds within its SLOs, found by a
stepped search (``search``), each step a run judged by ``judge``, the result a typed document
(``capdoc``) shown as text and as an HTML curve (``page``), driven by ``command``."""
