"""Atomic writes: whole files or none, with the mode a plain ``open()`` would give under the user's umask."""

from __future__ import annotations

import os
import stat

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trainer_tasks.core.files import write_json_atomic, write_text_atomic


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(umask=st.sampled_from([0o022, 0o002, 0o077, 0o027, 0o000]), text=st.text(max_size=200))
def test_written_files_get_the_umask_mode_not_mkstemps_private_one(tmp_path, umask, text):
    previous = os.umask(umask)
    try:
        write_text_atomic(str(tmp_path / "card.md"), text)
        write_json_atomic(str(tmp_path / "results.json"), {"text": text})
        plain = tmp_path / "plain.txt"
        plain.unlink(missing_ok=True)
        plain.write_text(text)
    finally:
        os.umask(previous)
    expected = stat.S_IMODE(plain.stat().st_mode)
    assert expected == 0o666 & ~umask
    for name in ("card.md", "results.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected
    assert (tmp_path / "card.md").read_bytes() == text.encode("utf-8")
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
