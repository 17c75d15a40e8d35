"""Timing helper shared by the benchmark scripts."""

import time


def best_of(fn, repeat: int = 5, number: int = 200) -> float:
    """Best mean time of one call [s] over ``repeat`` rounds of ``number`` calls."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return min(times)
