"""vlmplanner.evaluation.metrics: worked examples whose expected values are computed by hand (the
arithmetic is in the comments), the lmms-eval behaviours each metric promises, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from vlmplanner.errors import ValidationError
from vlmplanner.evaluation.metrics import (
    MME_COGNITION,
    MME_PERCEPTION,
    anls,
    exact_match,
    extract_choice,
    mean_and_stderr,
    mme_scores,
    multiple_choice_accuracy,
    normalize_vqa_answer,
    ocrbench_correct,
    pope_scores,
    relaxed_accuracy,
    vqa_accuracy,
    yes_no,
)

OPTIONS = ["red", "blue", "green", "yellow"]  # A, B, C, D


# --------------------------------------------------------------------------------------------------
# VQA normalisation and accuracy


@pytest.mark.parametrize(("text", "expected"), [
    ("Two dogs.", "2 dogs"),  # number word -> digit, the final period goes
    ("the cat", "cat"),  # article dropped
    ("dont", "don't"),  # the official contraction table
    ("1,000", "1000"),  # the comma inside a number goes; no space is left
    ("3.5", "3.5"),  # a period before a digit is a decimal point and stays
    ("left-hand side", "left hand side"),  # a mark inside a word splits it
    ("Yes!\n", "yes"),
    ("A\tred\ncar", "red car"),  # tab and newline are spaces; "a" is an article
    ("None", "0"),  # the official number table has "none" -> 0
    ("Ten", "10"),
    ("man's hat", "man 's hat"),  # EvalAI splits off 's
    ("a.m.", "am"),  # periods not before a digit go
])
def test_normalize_vqa_answer(text: str, expected: str) -> None:
    assert normalize_vqa_answer(text) == expected


def test_vqa_accuracy_two_of_ten_answers_match() -> None:
    answers = ["2", "two"] + ["3"] * 8  # "two" normalises to "2": 2 matches
    # leaving out one of the 8 non-matching answers: min(1, 2/3) = 2/3; leaving out one of the
    # 2 matching ones: 1/3; (8·2/3 + 2·1/3) / 10 = (16/3 + 2/3) / 10 = 6/10 = 0.6
    assert vqa_accuracy("Two.", answers) == pytest.approx(0.6)


@pytest.mark.parametrize(("matches", "expected"), [
    (0, 0.0),
    (1, 0.3),  # out: the match -> 0/3; out: a non-match (9 times) -> 1/3; 9·(1/3)/10 = 0.3
    (3, 0.9),  # out: a match (3 times) -> 2/3; out: a non-match (7 times) -> min(1, 3/3) = 1;
               # (3·2/3 + 7·1)/10 = (2 + 7)/10 = 0.9
    (4, 1.0),  # out: a match -> 3/3 = 1; out: a non-match -> min(1, 4/3) = 1
    (10, 1.0),
])
def test_vqa_accuracy_leave_one_out(matches: int, expected: float) -> None:
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    assert vqa_accuracy("cat", answers) == pytest.approx(expected)


def test_vqa_accuracy_normalises_prediction_and_answers() -> None:
    # "The Cat." and "a cat" both normalise to "cat": 3 matches of 10 -> 0.9 (as above)
    answers = ["a cat", "cat", "Cat"] + ["dog"] * 7
    assert vqa_accuracy("The Cat.", answers) == pytest.approx(0.9)


def test_vqa_accuracy_with_one_answer_is_an_exact_match() -> None:
    assert vqa_accuracy("Two", ["2"]) == 1.0
    assert vqa_accuracy("3", ["2"]) == 0.0


# --------------------------------------------------------------------------------------------------
# exact match


def test_exact_match_ignores_case_punctuation_and_spacing() -> None:
    assert exact_match("Yes.", "yes") == 1.0
    assert exact_match("  Red   car ", "red car") == 1.0
    assert exact_match("Cat!", ["dog", "cat"]) == 1.0  # any target
    assert exact_match("cat", ("dog", "bird")) == 0.0


def test_exact_match_keeps_articles_as_lmms_eval_gqa_does() -> None:
    assert exact_match("the cat", "cat") == 0.0
    assert exact_match("two", "2") == 0.0


# --------------------------------------------------------------------------------------------------
# multiple choice


@pytest.mark.parametrize(("prediction", "expected"), [
    ("B", "B"),
    ("(B)", "B"),
    ("B.", "B"),
    ("b", "B"),
    ("**C**", "C"),
    ("The answer is B", "B"),
    ("Answer: c", "C"),
    ("The correct answer is (D).", "D"),
    ("B. blue", "B"),
    ("(c) green", "C"),
    ("blue", "B"),  # the full text of exactly one option
    ("Green.", "C"),
    ("I think B is right", "B"),  # "I" before a lower-case word is the pronoun
    ("Option D", "D"),
    ("A is correct", "A"),
    ("The answer is A, not B.", "A"),  # the answer phrase decides
])
def test_extract_choice_reads_the_letter(prediction: str, expected: str) -> None:
    assert extract_choice(prediction, OPTIONS) == expected


@pytest.mark.parametrize("prediction", [
    "A or B",  # two letters
    "The answer is A. Actually, the answer is C.",  # two answer phrases disagree
    "E",  # not among the four options
    "The answer is E",
    "A dog is sitting on the mat",  # "A" the article
    "the answer is a cat",  # a lower-case "a" followed by a word is not a letter
    "Answer: A cat",  # nor is the capital article
    "I don't know",
    "purple",
    "",
    "   ",
])
def test_extract_choice_gives_none_for_no_or_several_options(prediction: str) -> None:
    assert extract_choice(prediction, OPTIONS) is None


def test_extract_choice_with_a_mapping_and_duplicate_texts() -> None:
    assert extract_choice("Blue.", {"a": "red", "b": "blue"}) == "B"  # keys upper-cased
    assert extract_choice("red", ["red", "Red", "blue"]) is None  # the text matches two options


def test_multiple_choice_accuracy() -> None:
    assert multiple_choice_accuracy("The answer is (C).", "C", OPTIONS) == 1.0
    assert multiple_choice_accuracy("B", "(c)", OPTIONS) == 0.0
    assert multiple_choice_accuracy("C", "green", OPTIONS) == 1.0  # the answer given as its text
    assert multiple_choice_accuracy("A or C", "C", OPTIONS) == 0.0  # ambiguous is wrong


# --------------------------------------------------------------------------------------------------
# ANLS


def test_anls_one_edit_on_ten_characters() -> None:
    # one substitution, both 10 characters: NL = 1/10, score 1 - 0.1 = 0.9
    assert anls("abcdefghix", ["abcdefghij"]) == pytest.approx(0.9)


def test_anls_far_answer_scores_zero() -> None:
    assert anls("xyz", ["abc"]) == 0.0  # 3 edits / 3 characters: NL = 1
    # 3 edits / 5 characters: NL = 0.6, similarity 0.4 < 0.5 -> 0
    assert anls("abxyz", ["abcde"]) == 0.0
    assert anls("abxyz", ["abcde"], threshold=0.0) == pytest.approx(0.4)


def test_anls_best_answer_case_spacing_and_the_boundary() -> None:
    assert anls("abcdefghix", ["zzz", "abcdefghij"]) == pytest.approx(0.9)  # max over answers
    assert anls("  ABCDEFGHIJ ", ["abcdefghij"]) == 1.0  # lower-cased, stripped
    assert anls("New  York", ["new york"]) == 1.0  # inner whitespace collapsed
    # 2 edits / 4 characters: NL = 0.5, similarity 0.5 is not below the threshold: kept
    assert anls("abxy", ["abcd"]) == pytest.approx(0.5)
    assert anls("", [""]) == 1.0


# --------------------------------------------------------------------------------------------------
# relaxed accuracy


@pytest.mark.parametrize(("prediction", "target", "expected"), [
    ("104", "100", 1.0),  # |104 - 100| / 100 = 0.04 <= 0.05
    ("106", "100", 0.0),  # 0.06 > 0.05
    ("95", "100", 1.0),  # 0.05, the limit itself
    ("12%", "12", 1.0),  # % ignored
    ("12", "12%", 1.0),
    ("12.", "12", 1.0),  # trailing punctuation ignored
    ("0", "0", 1.0),  # a target of 0 must be met exactly
    ("0.01", "0", 0.0),
    ("Yes", "yes", 1.0),  # not numbers: case-insensitive exact match
    ("Yes, it is", "yes", 0.0),
])
def test_relaxed_accuracy(prediction: str, target: str, expected: float) -> None:
    assert relaxed_accuracy(prediction, target) == expected


def test_relaxed_accuracy_tolerance() -> None:
    assert relaxed_accuracy("106", "100", tolerance=0.1) == 1.0  # 0.06 <= 0.1
    assert relaxed_accuracy("100.5", "100", tolerance=0) == 0.0


# --------------------------------------------------------------------------------------------------
# POPE and MME


@pytest.mark.parametrize(("text", "expected"), [
    ("Yes", "yes"),
    ("yes.", "yes"),
    ("Yes, there is a dog.", "yes"),
    ("No, there is not.", "no"),
    ("Y", "yes"),
    ("n", "no"),
    ("Not sure", "no"),  # "no" within the first four characters, as MME's parser
    ("There is no dog.", None),
    ("maybe", None),
    ("", None),
])
def test_yes_no(text: str, expected: str | None) -> None:
    assert yes_no(text) == expected


def test_pope_scores_by_hand() -> None:
    predictions = ["yes", "Yes, there is.", "no", "yes", "yes", "maybe"]
    labels = ["yes", "yes", "yes", "no", "no", "no"]
    # read: yes, yes, no, yes, yes, no ("maybe" counts as no)
    # TP = 2 (rows 1, 2), FN = 1 (row 3), FP = 2 (rows 4, 5), TN = 1 (row 6)
    scores = pope_scores(predictions, labels)
    assert scores["accuracy"] == pytest.approx(0.5)  # (TP + TN) / 6 = 3/6
    assert scores["precision"] == pytest.approx(0.5)  # TP / (TP + FP) = 2/4
    assert scores["recall"] == pytest.approx(2 / 3)  # TP / (TP + FN) = 2/3
    assert scores["f1"] == pytest.approx(4 / 7)  # 2·(1/2)·(2/3) / (1/2 + 2/3) = (2/3) / (7/6) = 4/7
    assert scores["yes_ratio"] == pytest.approx(2 / 3)  # 4 predicted yes of 6
    assert set(scores) == {"accuracy", "precision", "recall", "f1", "yes_ratio"}


def test_pope_neither_counts_as_no_and_empty_ratios_are_zero() -> None:
    scores = pope_scores(["I cannot tell"], ["No"])
    assert scores == {"accuracy": 1.0, "precision": 0.0, "recall": 0.0, "f1": 0.0, "yes_ratio": 0.0}


def _pair(subtask: str, image: str, first: tuple[str, str], second: tuple[str, str]) -> list[tuple[str, str, str, str]]:
    """Two (prediction, answer) questions of one image."""
    return [(subtask, image, *first), (subtask, image, *second)]


def test_mme_scores_by_hand() -> None:
    right_yes, right_no = ("Yes", "Yes"), ("No.", "No")
    wrong_yes, wrong_no = ("no", "Yes"), ("yes", "No")
    records = [
        # existence: e1 both right, e2 one right: acc 3/4 = 75, acc+ 1/2 = 50 -> 125
        *_pair("existence", "e1.jpg", right_yes, right_no),
        *_pair("existence", "e2.jpg", right_yes, wrong_no),
        # count: c1 both wrong, c2 both right: acc 2/4 = 50, acc+ 1/2 = 50 -> 100
        *_pair("count", "c1.jpg", wrong_yes, wrong_no),
        *_pair("count", "c2.jpg", right_yes, right_no),
        # OCR: o2's "maybe" is neither, so wrong: acc 3/4 = 75, acc+ 1/2 = 50 -> 125
        *_pair("OCR", "o1.jpg", right_yes, right_no),
        *_pair("OCR", "o2.jpg", right_yes, ("maybe", "No")),
        # code_reasoning: all right: 100 + 100 = 200
        *_pair("code_reasoning", "k1.png", right_yes, right_no),
        *_pair("code_reasoning", "k2.png", right_no, right_yes),
        # text_translation: all wrong: 0 + 0 = 0
        *_pair("text_translation", "t1.png", wrong_yes, wrong_no),
        *_pair("text_translation", "t2.png", wrong_no, wrong_yes),
    ]
    scores = mme_scores(iter(records))  # any iterable
    assert scores["subtasks"] == pytest.approx(
        {"existence": 125.0, "count": 100.0, "OCR": 125.0, "code_reasoning": 200.0, "text_translation": 0.0})
    assert scores["perception"] == pytest.approx(350.0)  # 125 + 100 + 125
    assert scores["cognition"] == pytest.approx(200.0)  # 200 + 0
    assert scores["total"] == pytest.approx(550.0)


def test_mme_subtask_names_are_mmes() -> None:
    assert len(MME_PERCEPTION) == 10 and len(MME_COGNITION) == 4
    assert "OCR" in MME_PERCEPTION and "numerical_calculation" in MME_COGNITION
    scores = mme_scores(_pair("ocr", "o.jpg", ("yes", "yes"), ("no", "no")))  # any case
    assert scores["subtasks"] == {"OCR": 200.0}
    assert scores["cognition"] == 0.0


# --------------------------------------------------------------------------------------------------
# OCRBench


def test_ocrbench_substring_lower_cased() -> None:
    category = "Regular Text Recognition"
    assert ocrbench_correct("The text says: HELLO World", ["hello world"], category) == 1.0
    assert ocrbench_correct("Hello\nWorld", ["hello world"], category) == 1.0  # newline is a space
    assert ocrbench_correct("Goodbye", ["hello", "bye"], category) == 1.0  # any answer
    assert ocrbench_correct("Goodbye", ["hello"], category) == 0.0
    assert ocrbench_correct("ＡＢＣ１２３", ["abc123"], category) == 1.0  # fullwidth folded


def test_ocrbench_handwritten_math_rule() -> None:
    hme = "Handwritten Mathematical Expression Recognition"
    assert ocrbench_correct("\\frac { a } { b }", ["\\frac{a}{b}"], hme) == 1.0  # spaces removed
    assert ocrbench_correct("x\n+ y", ["x + y"], hme) == 1.0  # newlines too
    assert ocrbench_correct("X^2", ["x^2"], hme) == 0.0  # case counts
    assert ocrbench_correct("X^2", ["x^2"], "Scene Text-centric VQA") == 1.0
    assert ocrbench_correct("X^2", ["x^2"], "HME100k") == 0.0  # the dataset name works too


# --------------------------------------------------------------------------------------------------
# aggregation


def test_mean_and_stderr() -> None:
    # mean 3/4; squared deviations 1/16·3 + 9/16 = 12/16; /(n-1) = 1/4, std 1/2; /sqrt(4) = 1/4
    assert mean_and_stderr([1, 0, 1, 1]) == pytest.approx((0.75, 0.25))
    assert mean_and_stderr([0.5]) == (0.5, 0.0)
    # mean 1/2; (1/4 + 1/4)/1 = 1/2; sqrt((1/2)/2) = 1/2
    assert mean_and_stderr([True, False]) == pytest.approx((0.5, 0.5))


# --------------------------------------------------------------------------------------------------
# bad input: a ValidationError naming the argument, never a raw TypeError or KeyError

_NAN = float("nan")
_BAD: list[tuple[Any, tuple[Any, ...], dict[str, Any], str]] = [
    (normalize_vqa_answer, (3,), {}, "text"),
    (vqa_accuracy, (None, ["a"]), {}, "prediction"),
    (vqa_accuracy, ("a", []), {}, "answers"),
    (vqa_accuracy, ("a", "abc"), {}, "answers"),
    (vqa_accuracy, ("a", ["a", 2]), {}, "answers"),
    (exact_match, (1, "a"), {}, "prediction"),
    (exact_match, ("a", []), {}, "target"),
    (exact_match, ("a", None), {}, "target"),
    (extract_choice, (5, OPTIONS), {}, "prediction"),
    (extract_choice, ("A", []), {}, "options"),
    (extract_choice, ("A", "ABCD"), {}, "options"),
    (extract_choice, ("A", {"AB": "x"}), {}, "options"),
    (extract_choice, ("A", {"a": "x", "A": "y"}), {}, "options"),
    (extract_choice, ("A", ["x"] * 27), {}, "options"),
    (extract_choice, ("A", ["x", 1]), {}, "options"),
    (multiple_choice_accuracy, ("A", "E", OPTIONS), {}, "answer"),
    (multiple_choice_accuracy, ("A", 0, OPTIONS), {}, "answer"),
    (anls, ("a", []), {}, "answers"),
    (anls, ("a", ["a"]), {"threshold": 1.5}, "threshold"),
    (anls, ("a", ["a"]), {"threshold": _NAN}, "threshold"),
    (relaxed_accuracy, ("1", 1), {}, "target"),
    (relaxed_accuracy, ("1", "1"), {"tolerance": float("inf")}, "tolerance"),
    (relaxed_accuracy, ("1", "1"), {"tolerance": _NAN}, "tolerance"),
    (relaxed_accuracy, ("1", "1"), {"tolerance": -0.1}, "tolerance"),
    (relaxed_accuracy, ("1", "1"), {"tolerance": "0.05"}, "tolerance"),
    (relaxed_accuracy, ("1", "1"), {"tolerance": True}, "tolerance"),
    (yes_no, (None,), {}, "text"),
    (pope_scores, (["yes"], ["yes", "no"]), {}, "labels"),
    (pope_scores, ([], []), {}, "predictions"),
    (pope_scores, (["yes"], ["maybe"]), {}, "labels"),
    (mme_scores, (5,), {}, "records"),
    (mme_scores, ([],), {}, "records"),
    (mme_scores, ([("existence", "i", "yes")],), {}, "records"),
    (mme_scores, (_pair("existance", "i", ("yes", "yes"), ("no", "no")),), {}, "records"),
    (mme_scores, (_pair("count", "i", ("yes", "maybe"), ("no", "no")),), {}, "records"),
    (mme_scores, ([("count", "i", "yes", "yes")],), {}, "records"),  # one question, not a pair
    (ocrbench_correct, ("x", "x", "c"), {}, "answers"),
    (ocrbench_correct, ("x", [" "], "c"), {}, "answers"),
    (ocrbench_correct, ("x", ["x"], None), {}, "category"),
    (mean_and_stderr, ([],), {}, "values"),
    (mean_and_stderr, ([1.0, _NAN],), {}, "values"),
    (mean_and_stderr, (["1"],), {}, "values"),
    (mean_and_stderr, ("10",), {}, "values"),
]


@pytest.mark.parametrize(("function", "args", "kwargs", "field"), _BAD,
                         ids=[f"{case[0].__name__}-{i}" for i, case in enumerate(_BAD)])
def test_bad_input_is_a_validation_error_naming_the_argument(
        function: Any, args: tuple[Any, ...], kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        function(*args, **kwargs)
    assert caught.value.field == field
    assert not isinstance(caught.value, (TypeError, KeyError))


def test_bad_input_carries_the_value_and_suggests_mme_names() -> None:
    with pytest.raises(ValidationError, match="existence") as caught:
        mme_scores(_pair("existance", "i", ("yes", "yes"), ("no", "no")))
    assert caught.value.value == "existance"
    with pytest.raises(ValidationError) as tolerance:
        relaxed_accuracy("1", "1", tolerance=-0.1)
    assert tolerance.value.value == -0.1


def test_import_is_standard_library_only() -> None:
    script = ("import sys, json\nimport vlmplanner.errors\nbefore = set(sys.modules)\n"
              "import vlmplanner.evaluation.metrics\nprint(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    new = json.loads(out.strip().splitlines()[-1])
    foreign = [m for m in new if not m.startswith("vlmplanner") and m.split(".")[0].lstrip("_")
               not in sys.stdlib_module_names]
    assert foreign == []
