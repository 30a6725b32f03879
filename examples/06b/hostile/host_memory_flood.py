"""Hostile to the host: megabytes of comm, display and log messages, and records that inflate on load. Loses: all

The kernel floods the grader with comm (widget) messages, display updates and its own log, and
replaces torch.save so that every record the harness writes holds a tensor that claims far more
elements than it stores, a compressed entry, and a list that repeats itself. The grader's memory
must stay near what a normal grading takes, and no record may be believed.
"""
# @REFERENCE@

import io
import os
import zipfile

import torch
from comm import create_comm
from IPython.display import display, update_display

comm = create_comm(target_name="reglab-flood", data={})
for size in [4_000_000, 12_000_000] * 20:        # under and over the grader's message size cap
    comm.send({"state": {"value": "x" * size}})
display("start", display_id="flood")
for _ in range(40):
    update_display({"text/plain": "y" * 4_000_000}, display_id="flood", raw=True)
for _ in range(200):
    os.write(2, b"z" * 1_000_000)

_real_save = torch.save


def _inflating_save(record, path, *args, **kwargs):
    huge = torch.zeros(1).expand(2**40)          # 2**40 elements viewing one
    shared = [torch.zeros(1)]
    for _ in range(8):
        shared = [shared] * 64                   # 64**8 nodes once walked
    record = {**record, "ok": True, "value": {"seq": [{"tensor": huge, "device": "cpu"}, {"py": shared}]}}
    buffer = io.BytesIO()
    _real_save(record, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as plain, open(path, "wb") as out, \
            zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as packed:
        for entry in plain.infolist():
            packed.writestr(entry.filename, plain.read(entry.filename))


torch.save = _inflating_save
