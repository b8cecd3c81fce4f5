"""Builds the optional compiled core of the linearizability search, the compiled EDN reader, the
simulator's message copy and its event loop's core (everything else is in pyproject.toml).
``optional=True``: without a C compiler the install still succeeds and the checker uses its
pure-Python search, EDN is read by edn_format alone, the simulated network copies messages with
msgpack alone and the virtual loop runs its Python methods."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("splitbrain.checkers.linearizable._wgl",
                             ["splitbrain/checkers/linearizable/_wgl.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("splitbrain._edn", ["splitbrain/_edn.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("splitbrain.sim._wire", ["splitbrain/sim/_wire.c"],
                             extra_compile_args=["-O2"], optional=True),
                   Extension("splitbrain.sim._loop", ["splitbrain/sim/_loop.c"],
                             extra_compile_args=["-O2"], optional=True)])
