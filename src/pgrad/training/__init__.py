"""The training lifecycle: one loop under every algorithm (:mod:`~pgrad.training.loop`), its log
and stopping rule (:mod:`~pgrad.training.log`), and checkpoints (:mod:`~pgrad.training.checkpoint`)."""
