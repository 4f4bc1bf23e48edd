"""The evaluation harness behind ``livecam eval`` and ``livecam bench``: photos (``evaluate``), a moving camera
(``paneval``), kept people (``peopleeval``), the live pipeline replayed from a clip (``replay``, ``bench``) and
the competing loads of a busy machine (``loadgen``). Nothing in the engine, the live path or the outputs
imports it."""
