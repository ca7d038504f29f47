"""Benchmarks as data: how each is asked, scored and named by the two harnesses people use.

One :class:`BenchmarkDefinition` per benchmark says everything vlmplanner needs to evaluate it or to
import another tool's number for it: the catalog benchmark its score is stored under (and that
benchmark's scale), the prompt template (versioned, so a stored result says which prompt produced
it), the answer fields of a dataset row, the metric (``vlmplanner.evaluation.metrics``), and the
names and scales lmms-eval and VLMEvalKit give it. Prompts and metrics follow lmms-eval's task
definitions, so a score measured here is comparable with one lmms-eval printed; ``differences``
says where they are not the same. Plain data: no work at import, nothing heavy imported.

The harness tables are facts from the harnesses' own code (lmms-eval task YAML and utils,
VLMEvalKit's dataset classes); see docs/evaluation.md for the sources.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from vlmplanner._registry import Registry
from vlmplanner.errors import UnknownBenchmarkError, ValidationError, VlmPlannerWarning

__all__ = ["BENCHMARKS", "ENTRY_POINT_GROUP", "REGISTRY", "BenchmarkDefinition", "HarnessMetric", "Prompt",
           "definition", "definitions", "lmms_eval_task", "vlmevalkit_dataset"]


@dataclass(frozen=True)
class Prompt:
    """How a dataset row becomes the text of a request, as lmms-eval's ``doc_to_text`` builds it:
    ``pre`` + the hint (``hint_format``, when the row has one) + the question (``remove`` cut out,
    first letter capitalised when ``capitalize``) + the options (``options_header`` then one
    ``A. text`` line each, after ``options_separator``) + ``post``. ``version`` changes whenever the
    wording does; every measured result stores it."""

    post: str
    pre: str = ""
    version: str = "1"
    hint_format: str = ""
    options_header: str = ""
    options_separator: str = "\n"
    remove: str = ""
    capitalize: bool = False

    def render(self, question: str, options: Sequence[str] = (), hint: str | None = None) -> str:
        """The request text for one row."""
        text = question.replace(self.remove, "") if self.remove else question
        text = text.strip()
        if self.capitalize:
            text = text.capitalize()
        if hint and self.hint_format:
            text = self.hint_format.format(hint=hint.strip()) + text
        if options:
            lines = "\n".join(f"{chr(ord('A') + i)}. {option}" for i, option in enumerate(options))
            text += self.options_separator + (f"{self.options_header}\n" if self.options_header else "") + lines
        return f"{self.pre}{text}{self.post}"


@dataclass(frozen=True)
class HarnessMetric:
    """One number a harness writes, and how it maps onto the catalog benchmark.

    ``key``: lmms-eval's ``"<metric>,<filter>"`` key or VLMEvalKit's column; ``benchmark``: the
    catalog benchmark it is a score of; ``factor``: multiply the harness's number by it to get the
    catalog's scale (lmms-eval writes most accuracies as 0-1, the catalog keeps them as %).
    ``aliases``: other keys that mean the same (lmms-eval's ``mme_percetion_score`` typo)."""

    key: str
    benchmark: str
    factor: float = 1.0
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class BenchmarkDefinition:
    """A benchmark vlmplanner can evaluate or import."""

    name: str
    task_family: str
    metric: str
    prompt: Prompt
    question_field: str = "question"
    answer_field: str = "answer"
    #: the row's options: one column per letter (MMBench's A..E), or one list column (ScienceQA)
    options_fields: tuple[str, ...] = ()
    hint_field: str | None = None
    image_field: str = "image"
    #: lmms-eval task names (variants included) -> the metrics their results block holds
    lmms_eval: Mapping[str, tuple[HarnessMetric, ...]] = field(default_factory=dict)
    #: VLMEvalKit dataset names -> the score file's suffix and the metrics in it
    vlmevalkit: Mapping[str, tuple[str, tuple[HarnessMetric, ...]]] = field(default_factory=dict)
    #: the catalog benchmarks a run of this benchmark stores (the first is the headline)
    stores: tuple[str, ...] = ()
    max_new_tokens: int = 16
    differences: str = ""


_SHORT = "\nAnswer the question using a single word or phrase."
_LETTER = "\nAnswer with the option's letter from the given choices directly."


def _pct(key: str, benchmark: str, *aliases: str) -> HarnessMetric:
    """A 0-1 harness number stored in percent."""
    return HarnessMetric(key, benchmark, 100.0, aliases)


def _same(key: str, benchmark: str, *aliases: str) -> HarnessMetric:
    """A harness number already on the catalog's scale."""
    return HarnessMetric(key, benchmark, 1.0, aliases)


_POPE = (_pct("pope_accuracy,none", "POPE"), _pct("pope_f1_score,none", "POPE(F1)"))
_MME = (_same("mme_perception_score,none", "MME(P)", "mme_percetion_score,none"),
        _same("mme_cognition_score,none", "MME-Cognition"))

#: The built-in definitions (third-party ones plug in through ``ENTRY_POINT_GROUP``; see ``REGISTRY``).
BENCHMARKS: Mapping[str, BenchmarkDefinition] = MappingProxyType({d.name: d for d in (
    BenchmarkDefinition(
        name="GQA", task_family="visual-reasoning", metric="exact_match", prompt=Prompt(_SHORT),
        differences="exact match ignoring case and punctuation, as lmms-eval's GQA metric does",
        lmms_eval={"gqa": (_pct("exact_match,none", "GQA"),), "gqa_lite": (_pct("exact_match,none", "GQA"),)},
        vlmevalkit={"GQA_TestDev_Balanced": ("_acc.csv", (_same("Overall", "GQA"),))},
        stores=("GQA",),
    ),
    BenchmarkDefinition(
        name="TextVQA", task_family="ocr-text", metric="vqa_accuracy", prompt=Prompt(_SHORT, capitalize=True),
        answer_field="answers",
        lmms_eval={"textvqa_val": (_pct("exact_match,none", "TextVQA"),),
                   "textvqa_val_lite": (_pct("exact_match,none", "TextVQA"),)},
        vlmevalkit={"TextVQA_VAL": ("_acc.csv", (_same("Overall", "TextVQA"),))},
        stores=("TextVQA",),
        differences="no OCR tokens in the prompt (lmms-eval's default, ocr: false); at most 16 new"
                    " tokens, where lmms-eval leaves the length to the model wrapper",
    ),
    BenchmarkDefinition(
        name="VQAv2", task_family="visual-reasoning", metric="vqa_accuracy", prompt=Prompt(_SHORT),
        answer_field="answers",
        lmms_eval={"vqav2_val": (_pct("exact_match,none", "VQAv2"),),
                   "vqav2_val_lite": (_pct("exact_match,none", "VQAv2"),)},
        stores=("VQAv2",),
        differences="the catalog's VQAv2 rows are test-dev (the evaluation server); a local run scores"
                    " the split it is given, usually val",
    ),
    BenchmarkDefinition(
        name="POPE", task_family="visual-reasoning", metric="pope", prompt=Prompt(_SHORT),
        lmms_eval=dict.fromkeys(("pope", "pope_pop", "pope_adv", "pope_random", "pope_full"), _POPE),
        vlmevalkit={"POPE": ("_score.csv", (_same("Overall", "POPE(F1)"), _same("acc", "POPE")))},
        stores=("POPE", "POPE(F1)"), max_new_tokens=128,
        differences="stored as accuracy under POPE and F1 under POPE(F1) (VLMEvalKit's 'Overall' is F1);"
                    " an answer is read as yes/no from its start, where lmms-eval compares the whole"
                    " lower-cased answer with the label",
    ),
    BenchmarkDefinition(
        name="MME", task_family="visual-reasoning", metric="mme",
        prompt=Prompt(_SHORT, remove=" Please answer yes or no."),
        lmms_eval={"mme": _MME},
        vlmevalkit={"MME": ("_score.csv", (_same("perception", "MME(P)"), _same("reasoning", "MME-Cognition")))},
        stores=("MME(P)", "MME-Cognition", "MME(P+C)"),
        differences="a sum, not a percentage: perception out of 2000, cognition out of 800 (VLMEvalKit"
                    " calls it reasoning); the total MME(P+C) is their sum",
    ),
    BenchmarkDefinition(
        name="MMBench", task_family="visual-reasoning", metric="multiple_choice",
        prompt=Prompt("\n" + _LETTER, hint_format="{hint} ", options_header="There are several options:",
                      options_separator=" "),
        options_fields=("A", "B", "C", "D", "E"), hint_field="hint", max_new_tokens=1024,
        lmms_eval={"mmbench_en_dev": (_same("gpt_eval_score,none", "MMBench"),),
                   "mmbench_en_dev_lite": (_same("gpt_eval_score,none", "MMBench"),)},
        vlmevalkit={"MMBench_DEV_EN": ("_acc.csv", (_pct("Overall", "MMBench"),))},
        stores=("MMBench",),
        differences="vlmplanner reads the option letter (or the one option's text) from the answer, as"
                    " lmms-eval does first; it never calls lmms-eval's GPT judge for the answers it cannot"
                    " read (they count as wrong), and scores each row on its own, without grouping the"
                    " circular copies of a question",
    ),
    BenchmarkDefinition(
        name="ScienceQA-IMG", task_family="visual-reasoning", metric="multiple_choice",
        prompt=Prompt(_LETTER, hint_format="Context: {hint}\n"),
        options_fields=("choices",), hint_field="hint",
        lmms_eval={"scienceqa_img": (_pct("exact_match,none", "SQA-IMG"),)},
        vlmevalkit={"ScienceQA_TEST": ("_acc.csv", (_pct("Overall", "SQA-IMG"),))},
        stores=("SQA-IMG",),
        differences="the option letter is read as for MMBench, where lmms-eval accepts only 'B' or 'B. …'",
    ),
    BenchmarkDefinition(
        name="MMStar", task_family="visual-reasoning", metric="multiple_choice",
        prompt=Prompt("\nAnswer with the option's letter from the given choices directly"),  # no period, as lmms-eval
        lmms_eval={"mmstar": (_pct("average,none", "MMStar"),)},
        vlmevalkit={"MMStar": ("_acc.csv", (_pct("Overall", "MMStar"),))},
        stores=("MMStar",),
        differences="the options are part of MMStar's question text, as lmms-eval asks them; its score is"
                    " the mean over the six categories' means, vlmplanner's the mean over questions",
    ),
    BenchmarkDefinition(
        name="DocVQA", task_family="ocr-text", metric="anls", prompt=Prompt(_SHORT), answer_field="answers",
        lmms_eval={"docvqa_val": (_pct("anls,none", "DocVQA"),)},
        vlmevalkit={"DocVQA_VAL": ("_acc.csv", (_same("Overall", "DocVQA"),))},
        stores=("DocVQA",), max_new_tokens=32,
    ),
    BenchmarkDefinition(
        name="ChartQA", task_family="ocr-text", metric="relaxed_accuracy",
        prompt=Prompt("\nAnswer the question with a single word."), answer_field="answer",
        lmms_eval={"chartqa": (_pct("relaxed_overall,none", "ChartQA"),),
                   "chartqa_lite": (_pct("relaxed_overall,none", "ChartQA"),)},
        vlmevalkit={"ChartQA_TEST": ("_acc.csv", (_same("Overall", "ChartQA"),))},
        stores=("ChartQA",),
        differences="a trailing % is dropped before comparing numbers (\"12%\" matches 12), where lmms-eval"
                    " reads it as 0.12; trailing punctuation is ignored",
    ),
    BenchmarkDefinition(
        name="OCRBench", task_family="ocr-text", metric="ocrbench", prompt=Prompt(""), answer_field="answer",
        lmms_eval={"ocrbench": (HarnessMetric("ocrbench_accuracy,none", "OCRBench", 1000.0),)},
        vlmevalkit={"OCRBench": ("_score.json", (_same("Final Score", "OCRBench"),))},
        stores=("OCRBench",), max_new_tokens=128,
        differences="stored as the Final Score out of 1000 (lmms-eval writes it divided by 1000); the"
                    " row's 'dataset' column picks the HME100k rule",
    ),
)})


#: The entry-point group third-party packages declare benchmark definitions in (name = the
#: benchmark's name, value = ``"module:DEFINITION"``, a :class:`BenchmarkDefinition`).
ENTRY_POINT_GROUP = "vlmplanner.benchmarks"


def _check(name: str, value: object, origin: str) -> BenchmarkDefinition:
    if not isinstance(value, BenchmarkDefinition):
        raise ValidationError(f"benchmark {name!r} ({origin}) is not a BenchmarkDefinition: {value!r:.80}",
                              field="benchmark", value=name)
    if value.name != name:
        raise ValidationError(f"benchmark definition {value.name!r} ({origin}) is registered as {name!r}",
                              field="benchmark", value=name)
    return value


#: name -> definition: the built-ins, entry points, and ``REGISTRY.register(name, definition)``.
#: A definition also answers to the catalog benchmarks it stores (``POPE(F1)`` finds POPE).
REGISTRY: Registry[BenchmarkDefinition] = Registry(
    kind="benchmark", group=ENTRY_POINT_GROUP, builtins=BENCHMARKS, field="benchmark", check=_check,
    unknown=lambda name, known: UnknownBenchmarkError(name, known),
    aliases=lambda entry: entry.target.stores if isinstance(entry.target, BenchmarkDefinition) else (),
)


def definitions() -> list[BenchmarkDefinition]:
    """Every definition: built-ins and plug-ins (a broken plug-in is skipped with a warning)."""
    found = []
    for name in REGISTRY.names():
        try:
            found.append(REGISTRY.load(name))
        except ValidationError as exc:
            warnings.warn(f"benchmark {name!r} skipped: {exc}", VlmPlannerWarning, stacklevel=2)
    return found


def definition(name: str) -> BenchmarkDefinition:
    """The definition of ``name`` (any case, or a catalog benchmark it stores), or
    UnknownBenchmarkError with the closest known names."""
    return REGISTRY.load(name.strip() if isinstance(name, str) else name)


def lmms_eval_task(task: str) -> BenchmarkDefinition | None:
    """The benchmark an lmms-eval task name (``textvqa_val``, ``pope_adv``...) is a run of, or None."""
    return next((d for d in definitions() if task in d.lmms_eval), None)


def vlmevalkit_dataset(dataset: str) -> BenchmarkDefinition | None:
    """The benchmark a VLMEvalKit dataset name (``MMBench_DEV_EN``...) is a run of, or None."""
    return next((d for d in definitions() if dataset in d.vlmevalkit), None)
