"""Contexts run in parallel from Python threads: the GIL is released while Kiln runs, results stay correct."""
import threading
import time

import numpy as np

import kiln


def _feeds(seed, batch=8):
    return {"image": np.random.default_rng(seed).standard_normal((batch, 3, 32, 32)).astype(np.float32)}


def test_threads_run_concurrently_and_correctly(model_paths):
    engine = kiln.build(model_paths["small_cnn"])
    expected = [engine.create_context(threads=1).run(_feeds(s)) for s in range(4)]
    intervals, errors = [], []

    def worker(seed):
        try:
            ctx = engine.create_context(threads=1)
            for _ in range(6):
                t0 = time.perf_counter()
                out = ctx.run(_feeds(seed))
                intervals.append((t0, time.perf_counter(), seed))
                for k, v in expected[seed].items():
                    np.testing.assert_array_equal(out[k], v)
        except Exception as e:  # noqa: BLE001  reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(intervals) == 24


def test_short_run_finishes_inside_a_long_one(model_paths):
    """Two threads overlap: thread B's small run completes while thread A is still inside one long run (with the
    GIL held during runs, B could not even start before A returned)."""
    engine = kiln.build(model_paths["small_cnn"])
    long_ctx, short_ctx = engine.create_context(threads=1), engine.create_context(threads=1)
    big, small = _feeds(0, batch=2048), _feeds(1, batch=1)
    long_ctx.run(big), short_ctx.run(small)  # warm up
    started, ends = threading.Event(), {}

    def long_run():
        started.set()
        long_ctx.run(big)
        ends["long"] = time.perf_counter()

    t = threading.Thread(target=long_run)
    t.start()
    started.wait()
    time.sleep(0.02)
    short_ctx.run(small)
    ends["short"] = time.perf_counter()
    t.join()
    assert ends["short"] < ends["long"], "the short run waited for the long one: is the GIL held while running?"


def test_gil_released_during_run(model_paths):
    """A pure-Python thread keeps counting while the main thread is inside one long run."""
    engine = kiln.build(model_paths["small_cnn"])
    ctx = engine.create_context(threads=1)
    big = _feeds(0, batch=2048)
    ctx.run(big)  # warm up
    count, stop = [0], threading.Event()

    def spin():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        c0, t0 = count[0], time.perf_counter()
        time.sleep(0.2)
        free_rate = (count[0] - c0) / (time.perf_counter() - t0)
        c0, t0 = count[0], time.perf_counter()
        ctx.run(big)
        during = count[0] - c0
        run_s = time.perf_counter() - t0
    finally:
        stop.set()
        t.join()
    # With the GIL held the spinner could only run for one switch interval (5 ms) of the run.
    assert run_s > 0.05, f"run too short to judge ({run_s:.3f} s)"
    assert during > 0.25 * free_rate * run_s, (during, free_rate, run_s)


def test_one_context_from_two_threads_is_serialized(model_paths):
    engine = kiln.build(model_paths["small_cnn"])
    ctx = engine.create_context(threads=1)
    want = {s: engine.create_context().run(_feeds(s)) for s in (1, 2)}
    errors = []

    def worker(seed):
        try:
            for _ in range(5):
                out = ctx.run(_feeds(seed))
                for k, v in want[seed].items():
                    np.testing.assert_array_equal(out[k], v)
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=worker, args=(s,)) for s in (1, 2)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors, errors


def test_threads_setting(model_paths):
    engine = kiln.build(model_paths["small_cnn"])
    ctx = engine.create_context(threads=2)
    assert ctx.threads == 2
    a = ctx.run(_feeds(5))
    ctx.set_threads(1)
    assert ctx.threads == 1
    b = ctx.run(_feeds(5))
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
