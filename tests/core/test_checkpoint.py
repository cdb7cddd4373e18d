"""Checkpoints: writers of one directory never collide, and a load sees one whole state."""

from __future__ import annotations

import threading

import torch

from synprompt_core.training.checkpoint import load_checkpoint, save_checkpoint


def test_concurrent_saves_to_one_directory_all_succeed(tmp_path):
    writers, saves = 4, 10
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(i: int) -> None:
        state = {"fingerprint": "same-key", "step": i, "w": torch.full((64, 64), float(i))}
        barrier.wait()
        for _ in range(saves):
            try:
                save_checkpoint(tmp_path, state)
            except Exception as err:  # noqa: BLE001 (collected and asserted below)
                errors.append(err)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    state = load_checkpoint(tmp_path, fingerprint="same-key")
    torch.testing.assert_close(state["w"], torch.full((64, 64), float(state["step"])))
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp file left
