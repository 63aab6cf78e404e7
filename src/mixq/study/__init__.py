"""``mixq study``: a network chosen for a platform, retrained float -> 8-bit -> mixed precision,
deployed bit-exact on the platform's core and compared with the best 8-bit network that fits.

- :mod:`mixq.study.select`: the candidate space and the selection rule;
- :mod:`mixq.study.run`: the study, in execution order (:func:`run_study`);
- :mod:`mixq.study.cli`: the ``mixq study`` sub-command.
"""
