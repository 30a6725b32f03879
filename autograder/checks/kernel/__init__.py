"""Kernel-side helpers, one module per lab that needs them: functions the probe harness defines in the
student's kernel (the module's text travels in the plan), for calls that must build objects there --
models, optimizers, transforms -- and send back plain data. Each module is self-contained (stdlib and
torch only), each function takes the notebook's names ``S`` first, and each is unit-tested in-process.
"""
